package flash

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Device describes a block device as found on this system.
type Device struct {
	Path         string `json:"path,omitempty"`          // as given: /dev/sdb, /dev/mmcblk0, /dev/loop3; /dev/disk4 on macOS; \\.\PhysicalDrive2 on Windows
	RawPath      string `json:"raw_path,omitempty"`      // what Write opens: /dev/rdiskN on macOS, else Path
	Model        string `json:"model,omitempty"`         // vendor and model as the system reports them; a loop device's backing file; "" if unknown
	Size         int64  `json:"size,omitempty"`          // bytes
	LogicalBlock int    `json:"logical_block,omitempty"` // logical sector size in bytes
	// Removable is true for removable media and for disks on a USB, SD or
	// MMC bus. Loop devices are not removable.
	Removable bool `json:"removable,omitempty"`
	// ReadOnly is true when the system will not write the device: an SD
	// card with its lock switch set (in a reader that reports it), a
	// read-only loop device.
	ReadOnly   bool        `json:"read_only,omitempty"`
	Partitions []Partition `json:"partitions,omitempty"`
	// Mounts lists what uses the disk or one of its partitions, each as
	// "PATH on MOUNTPOINT": mounted filesystems, active swap ("on [SWAP]")
	// and holders such as device-mapper, LVM or md ("on dm-0").
	Mounts []string `json:"mounts,omitempty"`
	// System is a non-empty reason when the disk holds the running system
	// (/, /boot, /usr or an active swap), e.g. "holds / (the running system)".
	System string `json:"system,omitempty"`
}

// Partition is one partition of a Device.
type Partition struct {
	Path        string   `json:"path,omitempty"`
	Size        int64    `json:"size,omitempty"`
	Label       string   `json:"label,omitempty"`  // filesystem label, "" if unknown
	FSType      string   `json:"fstype,omitempty"` // "ext4", "vfat", "swap"...; "" if unknown
	Mountpoints []string `json:"mountpoints,omitempty"`
}

// Check refuses a device Write must not write imageSize bytes onto, with an
// error that names the device and says what to do. A mounted device and
// one that holds the running system are refused even with force; force only
// allows a device that is not removable media.
func (d *Device) Check(imageSize int64, force bool) error {
	if d.System != "" {
		return fmt.Errorf("%s %s: refusing to write to it", d.Path, d.System)
	}
	if len(d.Mounts) > 0 {
		what, todo := d.Mounts[0], "unmount it first"
		if dev, on, ok := strings.Cut(what, " on "); ok && strings.HasPrefix(on, "/") {
			what = dev + " is mounted on " + on
		} else if ok {
			what = dev + " is in use, on " + on
			todo = "stop using it first"
			if on == "[SWAP]" {
				todo = "swapoff it first"
			} else if strings.HasPrefix(on, "dm-") {
				todo = "release it first (dmsetup remove, vgchange -an)"
			} else if strings.HasPrefix(on, "md") {
				todo = "release it first (mdadm --stop)"
			}
		}
		if n := len(d.Mounts) - 1; n > 0 {
			what += fmt.Sprintf(" (and %d more)", n)
		}
		return fmt.Errorf("%s: %s: %s", d.Path, what, todo)
	}
	if d.ReadOnly {
		return fmt.Errorf("%s (%s) is read-only: is the SD card's lock switch set?", d.Path, d.describeModel())
	}
	if d.Size < imageSize {
		return fmt.Errorf("%s (%s) is smaller than the image (%s)", d.Path, HumanSize(d.Size), HumanSize(imageSize))
	}
	if !d.Removable && !force {
		return fmt.Errorf("%s (%s) is not removable media (a fixed disk?): pass --force if you are sure", d.Path, d.describeModel())
	}
	return nil
}

func (d *Device) describeModel() string {
	if d.Model == "" {
		return HumanSize(d.Size)
	}
	return d.Model + ", " + HumanSize(d.Size)
}

// Describe returns what a confirmation prompt shows, several lines: the
// path, model and size, then each partition with its size, label, type and
// mountpoints.
func (d *Device) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", d.Path, d.describeModel())
	if d.Removable {
		b.WriteString(", removable")
	}
	if d.ReadOnly {
		b.WriteString(", read-only")
	}
	b.WriteString("\n")
	for _, p := range d.Partitions {
		fmt.Fprintf(&b, "  %s  %s", p.Path, HumanSize(p.Size))
		if p.FSType != "" {
			fmt.Fprintf(&b, "  %s", p.FSType)
		}
		if p.Label != "" {
			fmt.Fprintf(&b, "  %q", p.Label)
		}
		if len(p.Mountpoints) > 0 {
			fmt.Fprintf(&b, "  mounted on %s", strings.Join(p.Mountpoints, ", "))
		}
		b.WriteString("\n")
	}
	if len(d.Partitions) == 0 {
		b.WriteString("  (no partitions)\n")
	}
	for _, m := range d.Mounts {
		fmt.Fprintf(&b, "  in use: %s\n", m)
	}
	if d.System != "" {
		fmt.Fprintf(&b, "  %s\n", d.System)
	}
	return b.String()
}

// HumanSize formats a byte count in binary units: "64.0 MiB", "512 B".
func HumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// statBlockDevice stats node (what the user gave as path, or its block
// device twin) and refuses what is not a block device, naming path.
func statBlockDevice(path, node string) (fs.FileInfo, error) {
	fi, err := os.Stat(node)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: not found", path)
	}
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", path, err)
	}
	if fi.Mode()&fs.ModeDevice == 0 || fi.Mode()&fs.ModeCharDevice != 0 {
		return nil, fmt.Errorf("%s: not a block device", path)
	}
	return fi, nil
}
