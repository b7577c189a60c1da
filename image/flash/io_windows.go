package flash

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/windows"
)

// windowsTarget is the physical drive opened with FILE_FLAG_NO_BUFFERING
// and FILE_FLAG_WRITE_THROUGH (sector-aligned I/O, nothing cached), with
// the disk's volumes locked and dismounted for as long as it is open: the
// lock is what makes the write exclusive, and Windows refuses writes to
// the sectors of a mounted volume anyway.
type windowsTarget struct {
	*os.File
	volumes []windows.Handle
}

func openTarget(dev *Device) (target, error) {
	m := physicalDrive.FindStringSubmatch(dev.RawPath)
	if m == nil {
		return nil, fmt.Errorf(`%s: not a physical drive (\\.\PhysicalDriveN)`, dev.RawPath)
	}
	number, err := strconv.ParseUint(m[1], 10, 32)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dev.RawPath, err)
	}
	volumes, err := volumesOn(uint32(number))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dev.Path, err)
	}
	t := &windowsTarget{}
	for _, v := range volumes {
		name := v.name
		if len(v.paths) > 0 {
			name = v.paths[0]
		}
		h, err := openHandle(strings.TrimSuffix(v.name, `\`), windows.GENERIC_READ|windows.GENERIC_WRITE, 0)
		if err != nil {
			t.closeVolumes()
			return nil, fmt.Errorf("%s: opening its volume %s: %w", dev.Path, name, err)
		}
		t.volumes = append(t.volumes, h)
		if _, err := ioctl(h, fsctlLockVolume, nil, nil); err != nil {
			t.closeVolumes()
			return nil, fmt.Errorf("%s: device busy: its volume %s is in use (open files or windows?): close what uses it: %w", dev.Path, name, err)
		}
		if _, err := ioctl(h, fsctlDismountVolume, nil, nil); err != nil {
			t.closeVolumes()
			return nil, fmt.Errorf("%s: dismounting its volume %s: %w", dev.Path, name, err)
		}
	}
	h, err := openHandle(dev.RawPath, windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_FLAG_NO_BUFFERING|windows.FILE_FLAG_WRITE_THROUGH)
	if err != nil {
		t.closeVolumes()
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			return nil, fmt.Errorf("opening %s for writing: %w (run as administrator)", dev.Path, err)
		}
		if errors.Is(err, windows.ERROR_SHARING_VIOLATION) {
			return nil, fmt.Errorf("%s: device busy (open in another program): %w", dev.Path, err)
		}
		return nil, fmt.Errorf("opening %s for writing: %w", dev.Path, err)
	}
	t.File = os.NewFile(uintptr(h), dev.RawPath)
	return t, nil
}

func (t *windowsTarget) Size() (int64, error) {
	return diskLength(windows.Handle(t.Fd()))
}

// DropCache has nothing to do: FILE_FLAG_NO_BUFFERING reads come from the
// device.
func (t *windowsTarget) DropCache() error { return nil }

// Reread makes Windows read the new partition table
// (IOCTL_DISK_UPDATE_PROPERTIES).
func (t *windowsTarget) Reread() error {
	if _, err := ioctl(windows.Handle(t.Fd()), ioctlDiskUpdateProperties, nil, nil); err != nil {
		return fmt.Errorf("IOCTL_DISK_UPDATE_PROPERTIES: %w", err)
	}
	return nil
}

// Close closes the drive, then the volumes, which unlocks them: Windows
// then mounts what it finds on the new partitions.
func (t *windowsTarget) Close() error {
	err := t.File.Close()
	t.closeVolumes()
	return err
}

func (t *windowsTarget) closeVolumes() {
	for _, h := range t.volumes {
		windows.CloseHandle(h)
	}
	t.volumes = nil
}
