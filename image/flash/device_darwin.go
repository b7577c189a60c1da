package flash

import (
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
)

// On macOS a device is described by `diskutil info -plist` and
// `diskutil list -plist`. This code is compiled, not run, by the tests.

// Inspect describes the whole disk at path (/dev/diskN, or /dev/rdiskN). It
// refuses a partition (/dev/diskNsM).
func Inspect(path string) (*Device, error) {
	node := strings.Replace(path, "/dev/rdisk", "/dev/disk", 1)
	if _, err := statBlockDevice(path, node); err != nil {
		return nil, err
	}
	info, err := diskutil("info", "-plist", node)
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", path, err)
	}
	if !info.flag("WholeDisk") {
		return nil, fmt.Errorf("%s is a partition of /dev/%s: give the whole disk", path, info.str("ParentWholeDisk"))
	}
	return inspectDiskutil(path, info)
}

// List describes the whole disks diskutil knows of, except disk images
// and APFS containers (which live on another disk).
func List() ([]*Device, error) {
	all, err := diskutil("list", "-plist")
	if err != nil {
		return nil, fmt.Errorf("listing disks: %w", err)
	}
	var out []*Device
	for _, disk := range all.dicts("AllDisksAndPartitions") {
		if disk.has("APFSPhysicalStores") {
			continue
		}
		path := "/dev/" + disk.str("DeviceIdentifier")
		info, err := diskutil("info", "-plist", path)
		if err != nil {
			return nil, fmt.Errorf("listing disks: %s: %w", path, err)
		}
		if info.str("MediaName") == "Disk Image" || info.str("VirtualOrPhysical") == "Virtual" {
			continue
		}
		d, err := inspectDiskutil(path, info)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func inspectDiskutil(path string, info plistDict) (*Device, error) {
	id := info.str("DeviceIdentifier")
	d := &Device{
		Path:         path,
		RawPath:      "/dev/r" + id,
		Model:        strings.TrimSpace(info.str("MediaName")),
		Size:         max(info.num("TotalSize"), info.num("Size")),
		LogicalBlock: int(info.num("DeviceBlockSize")),
	}
	if d.LogicalBlock == 0 {
		d.LogicalBlock = 512
	}
	bus := info.str("BusProtocol")
	d.Removable = info.flag("RemovableMedia") || info.flag("Removable") ||
		(info.has("Internal") && !info.flag("Internal")) ||
		bus == "USB" || bus == "Secure Digital"
	d.ReadOnly = info.has("WritableMedia") && !info.flag("WritableMedia")

	list, err := diskutil("list", "-plist", "/dev/"+id)
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", path, err)
	}
	for _, disk := range list.dicts("AllDisksAndPartitions") {
		if disk.str("DeviceIdentifier") != id {
			continue
		}
		if mp := disk.str("MountPoint"); mp != "" {
			d.Mounts = append(d.Mounts, path+" on "+mp)
		}
		for _, p := range disk.dicts("Partitions") {
			part := Partition{
				Path:   "/dev/" + p.str("DeviceIdentifier"),
				Size:   p.num("Size"),
				Label:  p.str("VolumeName"),
				FSType: p.str("Content"),
			}
			if mp := p.str("MountPoint"); mp != "" {
				part.Mountpoints = []string{mp}
				d.Mounts = append(d.Mounts, part.Path+" on "+mp)
			}
			d.Partitions = append(d.Partitions, part)
		}
	}

	system, err := systemDisks()
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", path, err)
	}
	if system[id] {
		d.System = "holds / (the running system)"
	}
	return d, nil
}

var wholeDisk = regexp.MustCompile(`^disk[0-9]+`)

// systemDisks returns the whole disks holding /: the disk of its volume
// and, for APFS, the disks of the container's physical stores.
func systemDisks() (map[string]bool, error) {
	root, err := diskutil("info", "-plist", "/")
	if err != nil {
		return nil, fmt.Errorf("finding the disk of /: %w", err)
	}
	parent := root.str("ParentWholeDisk")
	disks := map[string]bool{parent: true}
	all, err := diskutil("list", "-plist")
	if err != nil {
		return nil, fmt.Errorf("finding the disk of /: %w", err)
	}
	for _, disk := range all.dicts("AllDisksAndPartitions") {
		if disk.str("DeviceIdentifier") != parent {
			continue
		}
		for _, store := range disk.dicts("APFSPhysicalStores") {
			disks[wholeDisk.FindString(store.str("DeviceIdentifier"))] = true
		}
	}
	return disks, nil
}

func diskutil(args ...string) (plistDict, error) {
	out, err := exec.Command("diskutil", args...).Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && len(exit.Stderr) > 0 {
			return nil, fmt.Errorf("diskutil %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(exit.Stderr)))
		}
		return nil, fmt.Errorf("diskutil %s: %w", strings.Join(args, " "), err)
	}
	v, err := parsePlist(out)
	if err != nil {
		return nil, fmt.Errorf("diskutil %s: %w", strings.Join(args, " "), err)
	}
	return asDict(v)
}
