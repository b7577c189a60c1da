//go:build linux

package image_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/image/ext4"
	"github.com/pibake/pibake/image/imagetest"
	"github.com/pibake/pibake/image/xzio"
)

// copyBase runs CopyBase into a new file and returns its path, checking
// the progress reports on the way.
func copyBase(t *testing.T, src string) (string, error) {
	t.Helper()
	dst, err := os.Create(filepath.Join(t.TempDir(), "copy.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var calls int
	var lastDone, lastTotal int64
	_, err = image.CopyBase(t.Context(), dst, src, func(done, total int64) {
		if done < lastDone {
			t.Errorf("progress went back from %d to %d", lastDone, done)
		}
		calls++
		lastDone, lastTotal = done, total
	})
	if err == nil {
		if info, _ := os.Stat(src); lastDone != info.Size() || lastTotal != info.Size() {
			t.Errorf("last progress (%d, %d), want (%d, %[3]d)", lastDone, lastTotal, info.Size())
		}
		if calls == 0 {
			t.Error("progress was never called")
		}
	}
	return dst.Name(), err
}

// allocated is how much of path's file is really on disk.
func allocated(t *testing.T, path string) int64 {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// TestCopyBase copies the same image raw, compressed by xz-utils and by
// CompressXZ: each copy must be the image, byte for byte, and sparse, and
// open and check clean.
func TestCopyBase(t *testing.T) {
	spec := imagetest.Spec{Small: true}
	raw := imagetest.Build(t, spec)
	ours := filepath.Join(t.TempDir(), "ours.img.xz")
	compressFile(t, raw.Path, ours)
	sources := map[string]string{
		"raw":              raw.Path,
		"xz -T0":           imagetest.BuildXZ(t, spec),
		"CompressXZ":       ours,
		"xz name, raw":     copyAs(t, raw.Path, "misnamed.img.xz"),
		"img name, xz -T0": copyAs(t, imagetest.BuildXZ(t, spec), "misnamed.img"),
	}
	want := imagetest.SHA256(t, raw.Path)
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			dst, err := copyBase(t, src)
			if err != nil {
				t.Fatal(err)
			}
			if imagetest.SHA256(t, dst) != want {
				t.Fatalf("CopyBase(%s) is not the image", name)
			}
			if a, s := allocated(t, dst), raw.Size(); a > s/4 {
				t.Errorf("copy takes %d bytes on disk of its %d: not sparse", a, s)
			}
			im, err := image.Open(dst, image.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := im.Close(); err != nil {
				t.Fatal(err)
			}
			copied := *raw
			copied.Path = dst
			imagetest.E2fsck(t, &copied)
		})
	}
}

func copyAs(t *testing.T, src, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("cp", "--sparse=always", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return dst
}

func compressFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := image.CompressXZ(t.Context(), out, in, info.Size(), nil); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCompressXZ judges CompressXZ's output with xz-utils itself.
func TestCompressXZ(t *testing.T) {
	raw := imagetest.Build(t, imagetest.Spec{Small: true})
	xzFile := filepath.Join(t.TempDir(), "out.img.xz")
	compressFile(t, raw.Path, xzFile)
	if out, err := exec.Command("xz", "-t", xzFile).CombinedOutput(); err != nil {
		t.Fatalf("xz -t: %v\n%s", err, out)
	}
	script := "xz -dc " + xzFile + " | cmp - " + raw.Path
	if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	list, err := exec.Command("xz", "--robot", "--list", xzFile).Output()
	if err != nil {
		t.Fatalf("xz --list: %v", err)
	}
	for _, line := range strings.Split(string(list), "\n") {
		if f := strings.Split(line, "\t"); f[0] == "file" && (f[1] != "1" || f[2] == "1") {
			t.Errorf("xz --list: %q: want one stream of several blocks", line)
		}
	}
}

func TestCopyBaseErrors(t *testing.T) {
	dir := t.TempDir()
	good := imagetest.BuildXZ(t, imagetest.Spec{Small: true})
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flipped := bytes.Clone(b)
	flipped[len(b)/3] ^= 0x20
	tests := []struct {
		name, src string
		is        error
		says      []string
	}{
		{"missing", filepath.Join(dir, "nothere.img.xz"), fs.ErrNotExist, []string{"nothere.img.xz", "does not exist"}},
		{"empty", write("empty.img", nil), nil, []string{"empty.img", "empty"}},
		{"truncated", write("cut.img.xz", b[:len(b)/2]), xzio.ErrTruncated, []string{"cut.img.xz", "xz data ends early (truncated download?)"}},
		{"corrupt", write("flipped.img.xz", flipped), xzio.ErrCorrupt, []string{"flipped.img.xz", "corrupt xz data", "at byte"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := copyBase(t, tt.src)
			if err == nil {
				t.Fatal("CopyBase succeeded")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("CopyBase = %v, want %v", err, tt.is)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("CopyBase = %q, want it to say %q", err, s)
				}
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		dst, err := os.Create(filepath.Join(t.TempDir(), "copy.img"))
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		if _, err := image.CopyBase(ctx, dst, good, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("CopyBase = %v, want context.Canceled", err)
		}
	})
}

// TestOpenXZ opens an .xz image read-only through a temporary copy,
// which Close removes, and refuses to open it for writing.
func TestOpenXZ(t *testing.T) {
	xzPath := imagetest.BuildXZ(t, imagetest.Spec{Small: true})
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	im, err := image.Open(xzPath, image.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if im.Path() != xzPath {
		t.Errorf("Path() = %q, want %q", im.Path(), xzPath)
	}
	if _, err := im.Root().ReadFile("/etc/fstab"); err != nil {
		t.Error(err)
	}
	if im.BootMount() != "/boot/firmware" {
		t.Errorf("BootMount() = %q, want /boot/firmware", im.BootMount())
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("Close left %v in TMPDIR", left)
	}

	_, err = image.Open(xzPath, image.Options{})
	for _, s := range []string{xzPath, "cannot be edited in place", "pibake bake", "--from " + xzPath, "xz -dk"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("Open for writing = %v, want it to say %q", err, s)
		}
	}

	// A broken .xz fails to open and leaves nothing behind.
	b, err := os.ReadFile(xzPath)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.img.xz")
	if err := os.WriteFile(cut, b[:len(b)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := image.Open(cut, image.Options{ReadOnly: true}); !errors.Is(err, xzio.ErrTruncated) {
		t.Errorf("Open(truncated) = %v, want ErrTruncated", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("a failed Open left %v in TMPDIR", left)
	}
}

// TestOpenFile opens an image on an open file with no name, as a bake
// does, and Close closes that file.
func TestOpenFile(t *testing.T) {
	raw := imagetest.Build(t, imagetest.Spec{Small: true})
	f, err := os.OpenFile(filepath.Dir(raw.Path), os.O_RDWR|0x410000 /* O_TMPFILE */, 0o600)
	if err != nil {
		t.Skipf("no O_TMPFILE here: %v", err)
	}
	src, err := os.Open(raw.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := io.Copy(f, src); err != nil {
		t.Fatal(err)
	}
	im, err := image.OpenFile("baked.img", f, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if im.Path() != "baked.img" {
		t.Errorf("Path() = %q, want baked.img", im.Path())
	}
	if err := im.Root().WriteFile("/etc/hostname", strings.NewReader("baked\n"), ext4.Attr{Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("after Close, f.Stat() = %v, want os.ErrClosed", err)
	}

	if _, err := image.OpenFile("garbage.img", mustTemp(t, []byte("not an image")), image.Options{}); err == nil || !strings.Contains(err.Error(), "garbage.img") {
		t.Errorf("OpenFile(garbage) = %v, want an error naming garbage.img", err)
	}
}

func mustTemp(t *testing.T, data []byte) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	return f
}
