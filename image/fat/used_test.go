package fat_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/pibake/pibake/image/fat"
)

// TestUsedRanges copies only the used ranges of a filesystem onto a file
// full of random bytes: fsck.vfat and mtools must find the same filesystem
// there, and a deleted file's clusters, free but not zero, must be left out.
func TestUsedRanges(t *testing.T) {
	mmd, mcopy, mdel := tool(t, "mmd", "mtools"), tool(t, "mcopy", "mtools"), tool(t, "mdel", "mtools")
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			img := l.make(t)
			rng := rand.NewChaCha8([32]byte{1})
			src := t.TempDir()
			files := map[string]int{"config.txt": 300, "kernel8.img": 700 << 10, "gone.bin": 300 << 10, "overlays/a.dtbo": 5000}
			content := map[string][]byte{}
			run(t, mmd, "-i", img.mtoolsPath(), "::/overlays")
			for _, name := range []string{"config.txt", "gone.bin", "overlays/a.dtbo", "kernel8.img"} {
				b := make([]byte, files[name])
				rng.Read(b)
				content[name] = b
				p := filepath.Join(src, filepath.Base(name))
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
				run(t, mcopy, "-i", img.mtoolsPath(), p, "::/"+name)
			}
			run(t, mdel, "-i", img.mtoolsPath(), "::/gone.bin")
			want := mtoolsTree(t, img)

			fsys := open(t, img)
			ranges, err := fsys.UsedRanges()
			if err != nil {
				t.Fatal(err)
			}
			var used int64
			for i, r := range ranges {
				if r.Len <= 0 || r.Off < 0 || r.Off+r.Len > img.size || i > 0 && r.Off <= ranges[i-1].Off+ranges[i-1].Len {
					t.Fatalf("UsedRanges()[%d] = %+v after %+v: want sorted, apart, non-empty, inside %d bytes", i, r, ranges[max(i-1, 0)], img.size)
				}
				used += r.Len
			}
			if ranges[0].Off != 0 {
				t.Errorf("UsedRanges() starts at %d, want the boot sector at 0", ranges[0].Off)
			}
			t.Logf("%d ranges, %d of %d bytes", len(ranges), used, img.size)

			whole, err := os.ReadFile(img.path)
			if err != nil {
				t.Fatal(err)
			}
			gone, cluster := content["gone.bin"], fsys.ClusterSize()
			for o := int64(0); o+cluster <= int64(len(gone)); o += cluster {
				at := int64(bytes.Index(whole, gone[o:o+cluster]))
				if at < 0 {
					t.Fatalf("the deleted file's bytes %d-%d are not in the image: the test proves nothing", o, o+cluster)
				}
				if r, ok := covering(ranges, at-img.offset, cluster); ok {
					t.Fatalf("the deleted file's cluster at byte %d is in the used range %+v", at-img.offset, r)
				}
			}

			copied := image{path: filepath.Join(t.TempDir(), "copy.img"), offset: img.offset, size: img.size}
			garbage := make([]byte, len(whole))
			rng.Read(garbage)
			for _, r := range ranges {
				at := img.offset + r.Off
				copy(garbage[at:at+r.Len], whole[at:at+r.Len])
			}
			if err := os.WriteFile(copied.path, garbage, 0o644); err != nil {
				t.Fatal(err)
			}
			check(t, copied, want)
		})
	}
}

// covering returns a range of ranges that shares a byte with [off, off+n).
func covering(ranges []fat.Range, off, n int64) (fat.Range, bool) {
	for _, r := range ranges {
		if r.Off < off+n && off < r.Off+r.Len {
			return r, true
		}
	}
	return fat.Range{}, false
}
