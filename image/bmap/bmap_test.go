//go:build linux

package bmap_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/image/bmap"
	"github.com/pibake/pibake/image/imagetest"
)

// bmaptool finds bmaptool (Debian's bmap-tools). As root, which CI is,
// make deps has installed it and its absence fails the test; otherwise the
// test is skipped, since it also needs a loop device.
func bmaptool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("bmaptool")
	if err == nil {
		return p
	}
	if os.Geteuid() == 0 {
		t.Fatal("bmaptool is not installed (Debian package bmap-tools; make deps installs it)")
	}
	t.Skip("bmaptool (bmap-tools) is not installed, and without root make deps cannot install it")
	return ""
}

// TestBmaptoolCopy writes the block map of a Pi image and has the real
// bmaptool copy the image with it onto a device full of random bytes (a
// loop device, as root): bmaptool checks every range's checksum and the
// map's own, and the card it writes must check clean and hold the image's
// files. A byte changed in a mapped block of the image, or in the map,
// must make bmaptool refuse.
func TestBmaptoolCopy(t *testing.T) {
	tool := bmaptool(t)
	img := imagetest.Build(t, imagetest.Spec{Small: true})
	im, err := image.Open(img.Path, image.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	ranges, err := im.UsedRanges()
	if err != nil {
		t.Fatal(err)
	}
	var m bytes.Buffer
	if err := bmap.Write(&m, im, im.Size(), ranges, img.Path); err != nil {
		t.Fatal(err)
	}
	bmapPath := filepath.Join(t.TempDir(), "pi.bmap")
	if err := os.WriteFile(bmapPath, m.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	card := *img
	card.Path = filepath.Join(t.TempDir(), "card.img")
	f, err := os.Create(card.Path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.NewChaCha8([32]byte{3}), im.Size()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	dest := card.Path // bmaptool truncates a regular file: zeros, not garbage
	if os.Geteuid() == 0 {
		dest = loopDevice(t, card.Path)
	} else {
		t.Log("not root: no loop device, so bmaptool writes onto a truncated (zeroed) file, not onto random bytes")
	}
	if out, err := exec.Command(tool, "copy", "--bmap", bmapPath, img.Path, dest).CombinedOutput(); err != nil {
		t.Fatalf("bmaptool copy --bmap %s %s %s: %v\n%s", bmapPath, img.Path, dest, err, out)
	}
	if dest != card.Path {
		detach(t, dest)
		// The blocks between two ranges are still the random bytes.
		gap := make([]byte, 4096)
		f, err := os.Open(card.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.ReadAt(gap, ranges[0].Off+ranges[0].Len); err != nil {
			t.Fatal(err)
		}
		if bytes.Count(gap, []byte{0}) > 100 {
			t.Fatalf("the card is zero at byte %d, outside the map: the test did not write onto random bytes", ranges[0].Off+ranges[0].Len)
		}
	}
	imagetest.CheckCopy(t, img, &card)

	t.Run("changed image", func(t *testing.T) {
		bad := img.Clone(t)
		r := ranges[len(ranges)/2]
		flip(t, bad.Path, r.Off+r.Len/2)
		out, err := exec.Command(tool, "copy", "--bmap", bmapPath, bad.Path, filepath.Join(t.TempDir(), "card.img")).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "checksum mismatch") {
			t.Errorf("bmaptool copy of an image changed at byte %d: %v, want a checksum mismatch\n%s", r.Off+r.Len/2, err, out)
		}
	})
	t.Run("changed map", func(t *testing.T) {
		changed := bytes.Replace(m.Bytes(), []byte("<BlocksCount> "), []byte("<BlocksCount>  "), 1)
		badMap := filepath.Join(t.TempDir(), "bad.bmap")
		if err := os.WriteFile(badMap, changed, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(tool, "copy", "--bmap", badMap, img.Path, filepath.Join(t.TempDir(), "card.img")).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "checksum mismatch for bmap file") {
			t.Errorf("bmaptool copy with a changed bmap file: %v, want a checksum mismatch\n%s", err, out)
		}
	})
}

// loopDevice attaches path to a free loop device and returns it.
func loopDevice(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("losetup", "--find", "--show", path).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup --find --show %s: %v\n%s", path, err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev
}

func detach(t *testing.T, dev string) {
	t.Helper()
	if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
		t.Fatalf("losetup -d %s: %v\n%s", dev, err, out)
	}
}

// flip inverts the byte at off of the file at path.
func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestBmaptoolPartialBlock has bmaptool check a map whose last mapped
// block is cut short by the end of the image, and a single-block range.
func TestBmaptoolPartialBlock(t *testing.T) {
	tool := bmaptool(t)
	dir := t.TempDir()
	src := make([]byte, 10000)
	rand.NewChaCha8([32]byte{5}).Read(src)
	imgPath, bmapPath, dest := filepath.Join(dir, "odd.img"), filepath.Join(dir, "odd.bmap"), filepath.Join(dir, "dest.img")
	if err := os.WriteFile(imgPath, src, 0o644); err != nil {
		t.Fatal(err)
	}
	var m bytes.Buffer
	if err := bmap.Write(&m, bytes.NewReader(src), int64(len(src)), []image.Range{{Off: 0, Len: 100}, {Off: 8192, Len: 1808}}, imgPath); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bmapPath, m.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool, "copy", "--bmap", bmapPath, imgPath, dest).CombinedOutput(); err != nil {
		t.Fatalf("bmaptool copy --bmap %s %s %s: %v\n%s\n%s", bmapPath, imgPath, dest, err, out, m.Bytes())
	}
	got, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(src)
	clear(want[4096:8192]) // not mapped: a hole in the new file
	if !bytes.Equal(got, want) {
		t.Errorf("bmaptool wrote %d bytes that differ from the mapped image's %d", len(got), len(want))
	}
}
