package flash

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// linuxTarget is a block device opened with O_EXCL, which fails with EBUSY
// while anything has it (or a partition of it) mounted, and with O_DIRECT
// where the device allows it, so that reads come from the device and not
// from the page cache.
type linuxTarget struct {
	*os.File
	direct bool
}

// directIO says to try O_DIRECT; tests clear it to run the buffered path
// on devices that would allow O_DIRECT.
var directIO = true

func openTarget(dev *Device) (target, error) {
	flags := os.O_RDWR | syscall.O_EXCL | syscall.O_CLOEXEC
	var (
		f   *os.File
		err error = syscall.EINVAL
	)
	if directIO {
		f, err = os.OpenFile(dev.RawPath, flags|syscall.O_DIRECT, 0)
	}
	direct := true
	if errors.Is(err, syscall.EINVAL) {
		// No O_DIRECT here: buffered writes, fsync and dropped caches
		// do the same job, more slowly.
		f, err = os.OpenFile(dev.RawPath, flags, 0)
		direct = false
	}
	switch {
	case errors.Is(err, syscall.EBUSY):
		return nil, fmt.Errorf("%s: device busy (mounted, or open in another program): unmount it first", dev.Path)
	case err != nil:
		return nil, fmt.Errorf("opening %s for writing: %w", dev.Path, err)
	}
	return &linuxTarget{File: f, direct: direct}, nil
}

func (t *linuxTarget) Size() (int64, error) {
	var size uint64
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, t.Fd(), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size)))
	if errno != 0 {
		return 0, fmt.Errorf("BLKGETSIZE64: %w", errno)
	}
	return int64(size), nil
}

// DropCache flushes and drops the device's buffer cache (BLKFLSBUF) and its
// cached pages. With O_DIRECT the read-back bypasses the cache anyway.
func (t *linuxTarget) DropCache() error {
	fd := int(t.Fd())
	if err := unix.IoctlSetInt(fd, unix.BLKFLSBUF, 0); err != nil && !t.direct {
		return fmt.Errorf("BLKFLSBUF: %w", err)
	}
	if err := unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED); err != nil && !t.direct {
		return fmt.Errorf("fadvise: %w", err)
	}
	return nil
}

// Reread asks the kernel to read the new partition table (BLKRRPART).
// A device without partition support (a loop device set up without -P)
// answers EINVAL, which is fine.
func (t *linuxTarget) Reread() error {
	err := unix.IoctlSetInt(int(t.Fd()), unix.BLKRRPART, 0)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTTY) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("BLKRRPART: %w", err)
	}
	return nil
}
