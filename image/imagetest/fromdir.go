//go:build linux

package imagetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// MakeFromDir builds at path, which must not exist, an image laid out as
// spec says (the same MBR, FAT32 and ext4 as Make) whose root filesystem
// holds a copy of the tree rootDir and whose boot filesystem holds a copy
// of the tree bootDir, and checks it with e2fsck and fsck.vfat. Nothing is
// added or rewritten: rootDir's /etc/fstab must already name the
// partitions by the spec's disk identifier (Layout(spec) says what it is).
//
// mkfs.ext4 -d keeps the owners, modes, device nodes and extended
// attributes of rootDir, so a real root (from debootstrap, say) must be
// read as root; it needs root like Make (ErrNeedRoot). Directories are
// htree-indexed afterwards (e2fsck -fyD), as on an image made by pi-gen.
// The root partition must be big enough for the tree: mkfs.ext4 fails
// otherwise.
func MakeFromDir(ctx context.Context, path string, spec Spec, rootDir, bootDir string) (*Image, error) {
	img, err := Layout(spec)
	if err != nil {
		return nil, err
	}
	img.Path = path
	if os.Geteuid() != 0 {
		return nil, ErrNeedRoot
	}
	for _, tool := range []string{"sfdisk", "mkfs.ext4", "e2fsck", "dumpe2fs", "mkfs.vfat", "fsck.vfat", "mcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("building an image: %s is not installed (make deps installs it)", tool)
		}
	}
	for _, dir := range []string{rootDir, bootDir} {
		if info, err := os.Stat(dir); err != nil {
			return nil, err
		} else if !info.IsDir() {
			return nil, fmt.Errorf("building image %s: %s is not a directory", path, dir)
		}
	}
	err = pack(ctx, img, rootDir, bootDir)
	if err == nil {
		err = verifyFromDir(ctx, img)
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("building image %s from %s and %s: %w", path, rootDir, bootDir, err)
	}
	return img, nil
}

// verifyFromDir checks what MakeFromDir promises: the profile's features
// and both filesystem checks. (A tree of any shape may go in, so unlike
// verify it does not look for indexed directories.)
func verifyFromDir(ctx context.Context, img *Image) error {
	sb, err := dumpe2fs(ctx, img)
	if err != nil {
		return err
	}
	if err := checkFeatures(img.Spec.Profile, features(sb)); err != nil {
		return err
	}
	if err := CheckRoot(ctx, img); err != nil {
		return err
	}
	return CheckBoot(ctx, img)
}
