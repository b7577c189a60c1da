//go:build linux

package imagetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/image/ext4"
	"github.com/pibake/pibake/reconcile/testhost"
)

// benchImageVersion names the cached benchmark image; bump it when
// BenchXZ changes what it builds.
const benchImageVersion = "bench-xz-v1"

// BenchXZ returns a cached benchmark image, .img.xz, and its decompressed
// size: 1.5 GiB laid out like Raspberry Pi OS, its root 60% full of text,
// code and incompressible data, compressed by xz -T2 -6 (multi-block, as
// Raspberry Pi OS is published). The first call builds it (minutes: xz -6
// is slow on 600 MiB).
func BenchXZ(b testing.TB) (string, int64) {
	b.Helper()
	cache, err := testhost.CacheDir()
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(cache, "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	spec := Spec{RootSize: 1 << 30}
	layout, err := Layout(spec)
	if err != nil {
		b.Fatal(err)
	}
	inputs, err := inputsDigest(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, benchImageVersion+"-"+inputs+".img.xz")
	if _, err := os.Stat(path); err == nil {
		return path, layout.Size()
	}
	if os.Geteuid() != 0 {
		b.Skipf("%v, and the benchmark image is not cached yet", ErrNeedRoot)
	}
	b.Logf("building benchmark image %s (once, minutes)", path)
	raw := path + ".raw.tmp"
	os.Remove(raw)
	defer os.Remove(raw)
	if _, err := Make(context.Background(), raw, spec); err != nil {
		b.Fatal(err)
	}
	if err := fillRoot(raw, layout.Root.Size*6/10); err != nil {
		b.Fatal(err)
	}
	copied := *layout
	copied.Path = raw
	E2fsck(b, &copied)
	tmp := path + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(tmp)
	cmd := exec.Command("xz", "-T2", "-6", "-c", raw)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("xz -T2 -6: %v\n%s", err, stderr.Bytes())
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path, layout.Size()
}

// fillRoot writes files into the image's root until about want bytes of
// it are used: like a Raspberry Pi OS root, mostly text and code that
// compress three to four times, and a quarter of incompressible data
// (compressed archives, firmware, media).
func fillRoot(path string, want int64) error {
	im, err := image.Open(path, image.Options{})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(11, 12))
	words := make([][]byte, 5000)
	for i := range words {
		w := make([]byte, 2+rng.IntN(10))
		for j := range w {
			w[j] = "etaoinshrdlcumwfgypbvkjxqz_/.-=0123456789"[rng.IntN(41)]
		}
		words[i] = w
	}
	zipf := rand.NewZipf(rng, 1.2, 4, uint64(len(words)-1))
	if err := im.Root().MkdirAll("/usr/share/filler", ext4.Attr{Mode: 0o755}); err != nil {
		return err
	}
	buf := make([]byte, 0, 5<<20)
	for i := 0; ; i++ {
		st := im.Root().Statfs()
		if int64(st.Blocks-st.FreeBlocks)*st.BlockSize >= want {
			break
		}
		size := 64<<10 + rng.IntN(4<<20)
		buf = buf[:0]
		switch i % 8 {
		case 0, 1: // incompressible
			for len(buf) < size {
				buf = binary.LittleEndian.AppendUint64(buf, rng.Uint64())
			}
		case 2, 3, 4: // code: records of a few recurring shapes
			for len(buf) < size {
				op := byte(rng.IntN(16))
				buf = append(buf, 0x48, 0x89, op, byte(rng.IntN(4)), 0xe8)
				buf = binary.LittleEndian.AppendUint32(buf, uint32(rng.IntN(1<<12)))
			}
		default: // text
			for len(buf) < size {
				buf = append(buf, words[zipf.Uint64()]...)
				if rng.IntN(10) == 0 {
					buf = append(buf, '\n')
				} else {
					buf = append(buf, ' ')
				}
			}
		}
		name := fmt.Sprintf("/usr/share/filler/%05d", i)
		if err := im.Root().WriteFile(name, bytes.NewReader(buf), ext4.Attr{Mode: 0o644}); err != nil {
			im.Close()
			return err
		}
	}
	return im.Close()
}
