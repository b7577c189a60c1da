package flash

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"

	"golang.org/x/sys/windows"
)

// On Windows a device is \\.\PhysicalDriveN, described with DeviceIoControl
// (winioctl.h). This code is compiled, not run, by the tests.
//
// Windows mounts every volume it can read, a card's FAT boot partition
// included, so volumes do not count as Mounts here: Write locks and
// dismounts them (and fails when a program has files open on one). They
// are listed as Partitions, with their drive letters as Mountpoints.

// Control codes, CTL_CODE(device type, function, method, access).
const (
	ioctlDiskGetDriveGeometry       = 0x00070000 // (FILE_DEVICE_DISK, 0, METHOD_BUFFERED, FILE_ANY_ACCESS)
	ioctlDiskIsWritable             = 0x00070024 // (FILE_DEVICE_DISK, 9, METHOD_BUFFERED, FILE_ANY_ACCESS)
	ioctlDiskGetLengthInfo          = 0x0007405C // (FILE_DEVICE_DISK, 0x17, METHOD_BUFFERED, FILE_READ_ACCESS)
	ioctlDiskUpdateProperties       = 0x00070140 // (FILE_DEVICE_DISK, 0x50, METHOD_BUFFERED, FILE_ANY_ACCESS)
	ioctlStorageQueryProperty       = 0x002D1400 // (FILE_DEVICE_MASS_STORAGE, 0x500, METHOD_BUFFERED, FILE_ANY_ACCESS)
	ioctlVolumeGetVolumeDiskExtents = 0x00560000 // ('V', 0, METHOD_BUFFERED, FILE_ANY_ACCESS)
	fsctlLockVolume                 = 0x00090018 // (FILE_DEVICE_FILE_SYSTEM, 6, METHOD_BUFFERED, FILE_ANY_ACCESS)
	fsctlDismountVolume             = 0x00090020 // (FILE_DEVICE_FILE_SYSTEM, 8, METHOD_BUFFERED, FILE_ANY_ACCESS)
)

// STORAGE_BUS_TYPE values of removable buses.
const (
	busTypeUSB = 0x7
	busTypeSD  = 0xC
	busTypeMMC = 0xD
)

var (
	physicalDrive = regexp.MustCompile(`(?i)^\\\\\.\\PhysicalDrive([0-9]+)$`)
	driveLetter   = regexp.MustCompile(`(?i)^(\\\\\.\\)?[a-z]:\\?$`)
)

// Inspect describes the whole disk at path (\\.\PhysicalDriveN). It refuses
// a volume (E: or \\.\E:).
func Inspect(path string) (*Device, error) {
	if m := physicalDrive.FindStringSubmatch(path); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			return nil, fmt.Errorf("inspecting %s: %w", path, err)
		}
		return inspectDrive(path, uint32(n))
	}
	if driveLetter.MatchString(path) {
		letter := strings.TrimPrefix(path, `\\.\`)[:2]
		if extents, err := volumeExtents(`\\.\` + letter); err == nil && len(extents) > 0 {
			return nil, fmt.Errorf(`%s is a partition of \\.\PhysicalDrive%d: give the whole disk`, path, extents[0].disk)
		}
		return nil, fmt.Errorf(`%s: not a block device (give the whole disk, \\.\PhysicalDriveN)`, path)
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: not found", path)
	}
	return nil, fmt.Errorf(`%s: not a block device (give the whole disk, \\.\PhysicalDriveN)`, path)
}

// List describes \\.\PhysicalDrive0 to \\.\PhysicalDrive31, those that
// exist.
func List() ([]*Device, error) {
	var out []*Device
	for n := range uint32(32) {
		d, err := inspectDrive(fmt.Sprintf(`\\.\PhysicalDrive%d`, n), n)
		if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) || errors.Is(err, windows.ERROR_PATH_NOT_FOUND) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func inspectDrive(path string, number uint32) (*Device, error) {
	h, err := openHandle(path, windows.GENERIC_READ, 0)
	if err != nil {
		if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) || errors.Is(err, windows.ERROR_PATH_NOT_FOUND) {
			return nil, fmt.Errorf("%s: not found: %w", path, err)
		}
		return nil, fmt.Errorf("inspecting %s (as administrator?): %w", path, err)
	}
	defer windows.CloseHandle(h)
	d := &Device{Path: path, RawPath: path, LogicalBlock: 512}
	if d.Size, err = diskLength(h); err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", path, err)
	}
	// DISK_GEOMETRY: Cylinders (8), MediaType (4), TracksPerCylinder (4),
	// SectorsPerTrack (4), BytesPerSector (4).
	geometry := make([]byte, 24)
	if _, err := ioctl(h, ioctlDiskGetDriveGeometry, nil, geometry); err == nil {
		if n := binary.LittleEndian.Uint32(geometry[20:]); n > 0 {
			d.LogicalBlock = int(n)
		}
	}
	// A write-protected disk (an SD card's lock switch) answers
	// ERROR_WRITE_PROTECT.
	if _, err := ioctl(h, ioctlDiskIsWritable, nil, nil); errors.Is(err, windows.ERROR_WRITE_PROTECT) {
		d.ReadOnly = true
	}
	// STORAGE_PROPERTY_QUERY{StorageDeviceProperty, PropertyStandardQuery}
	// in; STORAGE_DEVICE_DESCRIPTOR out: RemovableMedia at 10, the vendor
	// and product string offsets at 12 and 16, BusType at 28.
	desc := make([]byte, 1024)
	if n, err := ioctl(h, ioctlStorageQueryProperty, make([]byte, 12), desc); err == nil && n >= 32 {
		desc = desc[:n]
		bus := binary.LittleEndian.Uint32(desc[28:])
		d.Removable = desc[10] != 0 || bus == busTypeUSB || bus == busTypeSD || bus == busTypeMMC
		d.Model = strings.Join(strings.Fields(descriptorString(desc, 12)+" "+descriptorString(desc, 16)), " ")
	}

	volumes, err := volumesOn(number)
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", path, err)
	}
	systemVolume := ""
	if dir, err := windows.GetWindowsDirectory(); err == nil && len(dir) >= 3 {
		buf := make([]uint16, windows.MAX_PATH)
		if windows.GetVolumeNameForVolumeMountPoint(windows.StringToUTF16Ptr(dir[:3]), &buf[0], uint32(len(buf))) == nil {
			systemVolume = windows.UTF16ToString(buf)
		}
	}
	for _, v := range volumes {
		p := Partition{Path: v.name, Size: v.size, Mountpoints: v.paths}
		if len(v.paths) > 0 {
			p.Path = v.paths[0]
		}
		p.Label, p.FSType = volumeInformation(v.name)
		d.Partitions = append(d.Partitions, p)
		if v.name == systemVolume {
			d.System = fmt.Sprintf("holds %s (the running system)", p.Path)
		}
	}
	return d, nil
}

// descriptorString is the NUL-terminated string at the offset stored at
// at, in a STORAGE_DEVICE_DESCRIPTOR; "" for offset 0.
func descriptorString(desc []byte, at int) string {
	off := int(binary.LittleEndian.Uint32(desc[at:]))
	if off == 0 || off >= len(desc) {
		return ""
	}
	return cString(desc[off:])
}

type volume struct {
	name  string // \\?\Volume{GUID}\
	paths []string
	size  int64 // of its extents on the disk
}

type extent struct {
	disk        uint32
	start, size int64
}

// volumesOn lists the volumes with an extent on disk number.
func volumesOn(number uint32) ([]volume, error) {
	buf := make([]uint16, windows.MAX_PATH+1)
	find, err := windows.FindFirstVolume(&buf[0], uint32(len(buf)))
	if err != nil {
		return nil, fmt.Errorf("listing volumes: %w", err)
	}
	defer windows.FindVolumeClose(find)
	var out []volume
	for {
		name := windows.UTF16ToString(buf)
		// Volumes without extents (CD drives, network) answer with
		// an error: they are on no disk.
		extents, _ := volumeExtents(strings.TrimSuffix(name, `\`))
		v := volume{name: name}
		for _, e := range extents {
			if e.disk == number {
				v.size += e.size
			}
		}
		if v.size > 0 {
			v.paths = mountPaths(name)
			out = append(out, v)
		}
		err := windows.FindNextVolume(find, &buf[0], uint32(len(buf)))
		if errors.Is(err, windows.ERROR_NO_MORE_FILES) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing volumes: %w", err)
		}
	}
}

// volumeExtents reads VOLUME_DISK_EXTENTS: NumberOfDiskExtents, then from
// offset 8 DISK_EXTENTs of 24 bytes: DiskNumber, StartingOffset at 8,
// ExtentLength at 16.
func volumeExtents(volumePath string) ([]extent, error) {
	h, err := openHandle(volumePath, 0, 0)
	if err != nil {
		return nil, err
	}
	defer windows.CloseHandle(h)
	buf := make([]byte, 8+24*32)
	n, err := ioctl(h, ioctlVolumeGetVolumeDiskExtents, nil, buf)
	if err != nil {
		return nil, err
	}
	count := int(binary.LittleEndian.Uint32(buf))
	var out []extent
	for i := 0; i < count && 8+24*(i+1) <= n; i++ {
		e := buf[8+24*i:]
		out = append(out, extent{
			disk:  binary.LittleEndian.Uint32(e),
			start: int64(binary.LittleEndian.Uint64(e[8:])),
			size:  int64(binary.LittleEndian.Uint64(e[16:])),
		})
	}
	return out, nil
}

// mountPaths are the drive letters and folders a volume is mounted on.
func mountPaths(name string) []string {
	buf := make([]uint16, 1024)
	var n uint32
	if windows.GetVolumePathNamesForVolumeName(windows.StringToUTF16Ptr(name), &buf[0], uint32(len(buf)), &n) != nil {
		return nil
	}
	var out []string
	// A list of strings, each ended by a NUL: decode it whole, since
	// UTF16ToString stops at the first NUL.
	for _, s := range strings.Split(string(utf16.Decode(buf[:min(int(n), len(buf))])), "\x00") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func volumeInformation(name string) (label, fsType string) {
	labelBuf := make([]uint16, windows.MAX_PATH+1)
	fsBuf := make([]uint16, windows.MAX_PATH+1)
	if windows.GetVolumeInformation(windows.StringToUTF16Ptr(name), &labelBuf[0], uint32(len(labelBuf)),
		nil, nil, nil, &fsBuf[0], uint32(len(fsBuf))) != nil {
		return "", ""
	}
	return windows.UTF16ToString(labelBuf), windows.UTF16ToString(fsBuf)
}

func openHandle(path string, access, flags uint32) (windows.Handle, error) {
	return windows.CreateFile(windows.StringToUTF16Ptr(path), access,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, flags, 0)
}

func ioctl(h windows.Handle, code uint32, in, out []byte) (int, error) {
	var inPtr, outPtr *byte
	if len(in) > 0 {
		inPtr = &in[0]
	}
	if len(out) > 0 {
		outPtr = &out[0]
	}
	var n uint32
	err := windows.DeviceIoControl(h, code, inPtr, uint32(len(in)), outPtr, uint32(len(out)), &n, nil)
	return int(n), err
}

func diskLength(h windows.Handle) (int64, error) {
	buf := make([]byte, 8)
	if _, err := ioctl(h, ioctlDiskGetLengthInfo, nil, buf); err != nil {
		return 0, fmt.Errorf("IOCTL_DISK_GET_LENGTH_INFO: %w", err)
	}
	return int64(binary.LittleEndian.Uint64(buf)), nil
}
