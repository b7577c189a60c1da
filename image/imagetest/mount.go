//go:build linux

package imagetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
)

// LoopMountRoot mounts img's ext4 root read-only through a read-only loop
// device and returns where; both go away when t ends. It needs root.
func LoopMountRoot(t testing.TB, img *Image) string {
	t.Helper()
	skipUnlessRoot(t, "mounting a partition through a loop device")
	return loopMount(t, img, img.Root, "ext4")
}

// LoopMountBoot mounts img's FAT boot partition read-only, as LoopMountRoot
// does. It skips t when the kernel has no vfat; ExtractBoot reads the
// partition without the kernel.
func LoopMountBoot(t testing.TB, img *Image) string {
	t.Helper()
	skipUnlessRoot(t, "mounting a partition through a loop device")
	return loopMount(t, img, img.Boot, "vfat")
}

// LoopMount mounts both partitions of img (see LoopMountRoot and
// LoopMountBoot): bootDir as the Pi mounts it at /boot/firmware, rootDir
// at /.
func LoopMount(t testing.TB, img *Image) (bootDir, rootDir string) {
	t.Helper()
	bootDir = LoopMountBoot(t, img)
	return bootDir, LoopMountRoot(t, img)
}

func skipUnlessRoot(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root: %s", what)
	}
}

// loopMount attaches part as its own loop device (an offset and a size
// limit) rather than the whole disk with losetup -P: partition devices
// need udev or a devtmpfs that makes them, and containers often have
// neither.
func loopMount(t testing.TB, img *Image, part Partition, fstype string) string {
	t.Helper()
	out, err := run(t.Context(), "losetup", "--find", "--show", "--read-only",
		"--offset", fmt.Sprint(part.Offset), "--sizelimit", fmt.Sprint(part.Size), img.Path)
	if err != nil {
		t.Fatalf("attaching partition %d of %s to a loop device: %v", part.Number, img.Path, err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if _, err := run(context.Background(), "losetup", "--detach", dev); err != nil {
			t.Errorf("detaching %s: %v", dev, err)
		}
	})
	dir := t.TempDir()
	if err := syscall.Mount(dev, dir, fstype, syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV, ""); err != nil {
		if errors.Is(err, syscall.ENODEV) {
			t.Skipf("the kernel cannot mount %s (no %s filesystem: not built in, and no module loaded): %v", fstype, fstype, err)
		}
		t.Fatalf("mounting partition %d of %s (%s) read-only: %v", part.Number, img.Path, fstype, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}
