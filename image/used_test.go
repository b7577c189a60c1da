//go:build linux

package image_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/image/ext4"
	"github.com/pibake/pibake/image/fat"
	"github.com/pibake/pibake/image/imagetest"
)

// TestUsedRanges writes only an image's used ranges onto a file full of
// random bytes, as a flasher writes a card that held something else: both
// filesystems must check clean there and hold the same files, data outside
// the partitions must come along, and deleted files (stale bytes in free
// space) must not.
func TestUsedRanges(t *testing.T) {
	img := imagetest.Build(t, imagetest.Spec{Small: true})
	rng := rand.NewChaCha8([32]byte{7})

	// Stale data in free space: files written, then removed.
	rootJunk, bootJunk := make([]byte, 8<<20), make([]byte, 2<<20)
	rng.Read(rootJunk)
	rng.Read(bootJunk)
	im, err := image.Open(img.Path, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Root().WriteFile("/var/junk", bytes.NewReader(rootJunk), ext4.Attr{Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := im.Boot().WriteFile("/junk.bin", bootJunk, fat.FileMode); err != nil {
		t.Fatal(err)
	}
	if err := im.Root().Remove("/var/junk"); err != nil {
		t.Fatal(err)
	}
	if err := im.Boot().Remove("/junk.bin"); err != nil {
		t.Fatal(err)
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	// Data outside the partitions, where a bootloader might sit.
	loader := make([]byte, 10000)
	rng.Read(loader)
	const loaderAt = 1<<20 + 100
	writeAt(t, img.Path, loader, loaderAt)

	im, err = image.Open(img.Path, image.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	if im.Size() != img.Size() {
		t.Fatalf("Size() = %d, want %d", im.Size(), img.Size())
	}
	ranges, err := im.UsedRanges()
	if err != nil {
		t.Fatal(err)
	}
	var used int64
	for i, r := range ranges {
		if r.Off%4096 != 0 || r.Len <= 0 || r.Len%4096 != 0 || r.Off+r.Len > im.Size() ||
			i > 0 && r.Off <= ranges[i-1].Off+ranges[i-1].Len {
			t.Fatalf("UsedRanges()[%d] = %+v after %+v: want sorted, apart, 4 KiB-aligned, inside %d bytes",
				i, r, ranges[max(i-1, 0)], im.Size())
		}
		used += r.Len
	}
	if ranges[0].Off != 0 {
		t.Errorf("UsedRanges() starts at byte %d, want the partition table at 0", ranges[0].Off)
	}
	ratio := float64(used) / float64(im.Size())
	t.Logf("%d ranges, %d of %d bytes (%.1f%%)", len(ranges), used, im.Size(), 100*ratio)
	if ratio > 0.1 {
		t.Errorf("UsedRanges() covers %.1f%% of the image, want under 10%%", 100*ratio)
	}

	// The junk is still in the image, and (but for the widening to 4 KiB
	// of a range next to it) not in the ranges.
	for _, junk := range []struct {
		name  string
		bytes []byte
	}{{"the deleted root file", rootJunk}, {"the deleted boot file", bootJunk}} {
		found := findSectors(t, img.Path, junk.bytes)
		var inRanges int64
		for _, off := range found {
			if covered(ranges, off) {
				inRanges += 512
			}
		}
		if want := int64(len(junk.bytes) / 512); int64(len(found)) != want {
			t.Fatalf("%d of %d sectors of %s are in the image: the test proves nothing", len(found), want, junk.name)
		}
		if inRanges > 8192 {
			t.Errorf("%d bytes of %s are in the used ranges, want at most 8192 (the widening)", inRanges, junk.name)
		}
	}

	copied := *img
	copied.Path = filepath.Join(t.TempDir(), "copy.img")
	imagetest.CopyRanges(t, copied.Path, im, ranges, rng)
	imagetest.CheckCopy(t, img, &copied)
	got := make([]byte, len(loader))
	f, err := os.Open(copied.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(got, loaderAt); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, loader) {
		t.Errorf("the bytes at %d, outside the partitions, were not copied", loaderAt)
	}
}

func writeAt(t *testing.T, path string, b []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// findSectors returns where in the file at path each 512-byte sector of
// data (random, so each is unique) is, if it is on a sector boundary, as
// filesystem blocks are.
func findSectors(t *testing.T, path string, data []byte) []int64 {
	t.Helper()
	want := map[uint64][]byte{}
	for i := 0; i+512 <= len(data); i += 512 {
		want[binary.LittleEndian.Uint64(data[i:])] = data[i : i+512]
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var found []int64
	buf := make([]byte, 4<<20)
	for off := int64(0); ; {
		n, err := io.ReadFull(f, buf)
		for i := 0; i+512 <= n; i += 512 {
			if s, ok := want[binary.LittleEndian.Uint64(buf[i:])]; ok && bytes.Equal(s, buf[i:i+512]) {
				found = append(found, off+int64(i))
			}
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return found
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func covered(ranges []image.Range, off int64) bool {
	for _, r := range ranges {
		if r.Off <= off && off < r.Off+r.Len {
			return true
		}
	}
	return false
}

// TestOverlayImage edits an image through an Overlay, as bake --device
// does, and copies the used ranges of the result onto random bytes, as
// flash does: the copy must equal the same edits made to a plain copy of
// the base, and the base file must not change.
func TestOverlayImage(t *testing.T) {
	img := imagetest.Build(t, imagetest.Spec{Small: true})
	baseSum := imagetest.SHA256(t, img.Path)
	rng := rand.NewChaCha8([32]byte{9})
	data, loader := make([]byte, 3<<20+123), make([]byte, 5000)
	rng.Read(data)
	rng.Read(loader)
	const loaderAt = 1<<20 + 100
	edit := func(im *image.Image) {
		t.Helper()
		if err := im.Root().MkdirAll("/opt/robot/models", ext4.Attr{Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
		if err := im.Root().WriteFile("/opt/robot/models/net.bin", bytes.NewReader(data), ext4.Attr{Mode: 0o640, UID: 1000}); err != nil {
			t.Fatal(err)
		}
		if err := im.Root().Remove("/etc/hostname"); err != nil {
			t.Fatal(err)
		}
		if err := im.Boot().WriteFile("/robot.txt", data[:70000], fat.FileMode); err != nil {
			t.Fatal(err)
		}
		if err := im.Close(); err != nil {
			t.Fatal(err)
		}
	}

	want, err := img.CopyTo(filepath.Join(t.TempDir(), "want.img"))
	if err != nil {
		t.Fatal(err)
	}
	writeAt(t, want.Path, loader, loaderAt)
	im, err := image.Open(want.Path, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	edit(im)

	base, err := os.Open(img.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	ov := image.NewOverlay(base, img.Size())
	if _, err := ov.WriteAt(loader, loaderAt); err != nil {
		t.Fatal(err)
	}
	im, err = image.OpenDisk(img.Path, ov, img.Size(), image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	edit(im)
	ov.Freeze()
	t.Logf("the overlay holds %d bytes", ov.Held())
	if ov.Held() < int64(len(data)) || ov.Held() > 2*int64(len(data)) {
		t.Errorf("the overlay holds %d bytes for %d bytes of files: want about as many", ov.Held(), len(data)+70000)
	}
	im, err = image.OpenDisk(img.Path, ov, img.Size(), image.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	ranges, err := im.UsedRanges()
	if err != nil {
		t.Fatal(err)
	}
	got := *img
	got.Path = filepath.Join(t.TempDir(), "got.img")
	imagetest.CopyRanges(t, got.Path, im, ranges, rng)
	imagetest.CheckCopy(t, want, &got)
	if b := imagetest.ReadFile(t, &got, "/opt/robot/models/net.bin"); !bytes.Equal(b, data) {
		t.Error("/opt/robot/models/net.bin differs from what was written")
	}
	buf := make([]byte, len(loader))
	f, err := os.Open(got.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(buf, loaderAt); err != nil || !bytes.Equal(buf, loader) {
		t.Errorf("the bytes written at %d, outside the partitions, were not copied (%v)", loaderAt, err)
	}
	if sum := imagetest.SHA256(t, img.Path); sum != baseSum {
		t.Errorf("the base %s changed", img.Path)
	}
}
