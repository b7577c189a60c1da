package flash

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// From <sys/disk.h>: _IOR('d', 24, uint32_t), _IOR('d', 25, uint64_t) and
// _IO('d', 22).
const (
	dkiocGetBlockSize     = 0x40046418
	dkiocGetBlockCount    = 0x40086419
	dkiocSynchronizeCache = 0x20006416
)

// darwinTarget is the raw device (/dev/rdiskN): unbuffered, sector-aligned
// I/O, with F_NOCACHE so nothing is kept in the unified buffer cache.
// Opening it for writing fails with EBUSY while a volume of the disk is
// mounted.
type darwinTarget struct{ *os.File }

func openTarget(dev *Device) (target, error) {
	f, err := os.OpenFile(dev.RawPath, os.O_RDWR|syscall.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, syscall.EBUSY):
		return nil, fmt.Errorf("%s: device busy (a volume is mounted, or it is open in another program): run diskutil unmountDisk %s first", dev.Path, dev.Path)
	case err != nil:
		return nil, fmt.Errorf("opening %s for writing: %w", dev.RawPath, err)
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_NOCACHE, 1); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: turning off caching (F_NOCACHE): %w", dev.RawPath, err)
	}
	return darwinTarget{f}, nil
}

func (t darwinTarget) Size() (int64, error) {
	fd := int(t.Fd())
	size, err := unix.IoctlGetInt(fd, dkiocGetBlockSize)
	if err != nil {
		return 0, fmt.Errorf("DKIOCGETBLOCKSIZE: %w", err)
	}
	count, err := unix.IoctlGetInt(fd, dkiocGetBlockCount)
	if err != nil {
		return 0, fmt.Errorf("DKIOCGETBLOCKCOUNT: %w", err)
	}
	return int64(size) * int64(count), nil
}

// Sync asks the disk to flush its write cache. A raw device has no
// buffers of its own, so fsync (which Go makes F_FULLFSYNC) is tried first
// and the ioctl when the device does not take it.
func (t darwinTarget) Sync() error {
	if err := t.File.Sync(); err == nil {
		return nil
	}
	if err := unix.IoctlSetInt(int(t.Fd()), dkiocSynchronizeCache, 0); err != nil {
		return fmt.Errorf("DKIOCSYNCHRONIZECACHE: %w", err)
	}
	return nil
}

// DropCache has nothing to do: F_NOCACHE reads come from the device.
func (darwinTarget) DropCache() error { return nil }

// Reread has nothing to do: Disk Arbitration probes the disk again when
// the raw device is closed.
func (darwinTarget) Reread() error { return nil }
