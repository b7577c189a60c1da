//go:build linux

package vm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pibake/pibake/image/imagetest"
)

// imageVersion names the cached images; bump it when CachedImage builds
// them differently. (A new root, testdata's firmware files and the
// e2fsprogs version are noticed without a bump.)
const imageVersion = "v1"

// DefaultRootSize is the root partition's size unless ImageOptions say
// otherwise: room for the tests' packages. The image file is sparse.
const DefaultRootSize = 2 << 30

// ImageOptions say which machine image to build. The zero value is the
// default.
type ImageOptions struct {
	// RootSize is the ext4 root partition's size in bytes, a whole number
	// of MiB; 0 means DefaultRootSize. The boot partition is 512 MiB, as
	// on Raspberry Pi OS.
	RootSize int64
}

func (o ImageOptions) spec() imagetest.Spec {
	size := o.RootSize
	if size == 0 {
		size = DefaultRootSize
	}
	return imagetest.Spec{Profile: imagetest.PiGen, DiskID: DiskID, RootSize: size}
}

// Build returns a private copy, in t's temporary directory, of the image
// opts describe. The root and the image are built once and cached (see
// CachedImage); a copy takes about a second. It skips t as Skip does.
func Build(t testing.TB, opts ImageOptions) *imagetest.Image {
	t.Helper()
	Skip(t)
	img, err := MakeImage(t.Context(), filepath.Join(t.TempDir(), "raspberrypi.img"), opts, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// MakeImage writes a private copy of the image opts describe to a new
// file at path, building and caching it first if needed.
func MakeImage(ctx context.Context, path string, opts ImageOptions, logf func(string, ...any)) (*imagetest.Image, error) {
	master, err := CachedImage(ctx, opts, logf)
	if err != nil {
		return nil, err
	}
	return master.CopyTo(path)
}

// CachedImage returns the cached image opts describe, building the root
// (minutes) and the image (seconds) first if needed. Concurrent callers,
// in this process or others, wait for one build. The cached file must not
// be changed: copy it (CopyTo, MakeImage) first.
//
// The image is laid out as Raspberry Pi OS is (see imagetest): an MBR with
// disk identifier DiskID; partition 1, FAT32 labelled bootfs at 8 MiB,
// 512 MiB, holding FirmwareFiles; partition 2, ext4 labelled rootfs (made
// as pi-gen makes it), the root.
func CachedImage(ctx context.Context, opts ImageOptions, logf func(string, ...any)) (*imagetest.Image, error) {
	spec := opts.spec()
	img, err := imagetest.Layout(spec)
	if err != nil {
		return nil, err
	}
	unlock, err := lockCache(rootVersion)
	if err != nil {
		return nil, err
	}
	defer unlock()
	root, err := ensureRootLocked(ctx, logf)
	if err != nil {
		return nil, err
	}
	inputs, err := imageInputs(ctx)
	if err != nil {
		return nil, err
	}
	img.Path = filepath.Join(root.images, fmt.Sprintf("%s-%s-%s.img", imageVersion, img.Name(), inputs))
	if _, err := os.Stat(img.Path); err == nil {
		return img, nil
	}

	logf("building machine image %s (once)", img.Path)
	start := time.Now()
	boot, err := os.MkdirTemp(root.images, ".boot-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(boot)
	files, err := FirmwareFiles()
	if err != nil {
		return nil, err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(boot, name), data, 0o644); err != nil {
			return nil, err
		}
	}
	tmp := img.Path + ".tmp"
	os.Remove(tmp)
	if _, err := imagetest.MakeFromDir(ctx, tmp, spec, root.Dir, boot); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, img.Path); err != nil {
		return nil, err
	}
	logf("built machine image %s in %s", img.Name(), time.Since(start).Round(time.Millisecond))
	return img, nil
}

// imageInputs names what an image is made of besides the root and this
// code: the firmware files and the e2fsprogs version.
func imageInputs(ctx context.Context) (string, error) {
	h := sha256.New()
	files, err := FirmwareFiles()
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(h, "%q %d\n", name, len(files[name]))
		h.Write(files[name])
	}
	// mke2fs -V prints its version on stderr and exits 0.
	out, err := exec.CommandContext(ctx, "mke2fs", "-V").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("mke2fs -V: %w (is e2fsprogs installed?)", err)
	}
	h.Write(out)
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}
