package flash

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// systemMounts are the mountpoints whose disk holds the running system.
var systemMounts = []string{"/", "/usr", "/boot", "/boot/firmware", "/boot/efi"}

// Inspect describes the whole disk at path, from /sys/block,
// /proc/self/mountinfo and /proc/swaps. It refuses a partition.
func Inspect(path string) (*Device, error) {
	fi, err := statBlockDevice(path, path)
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("inspecting %s: no device number", path)
	}
	dir, err := sysDir(devNumber(uint64(st.Rdev)))
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", path, err)
	}
	if isPartition(dir) {
		return nil, fmt.Errorf("%s is a partition of /dev/%s: give the whole disk", path, filepath.Base(filepath.Dir(dir)))
	}
	return inspectSys(path, dir)
}

// List describes the whole disks of this system with a size: not RAM
// disks, zram, floppies, CD/DVD drives, or loop devices without a backing
// file.
func List() ([]*Device, error) {
	entries, err := os.ReadDir("/sys/block")
	if err != nil {
		return nil, fmt.Errorf("listing disks: %w", err)
	}
	var out []*Device
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") || strings.HasPrefix(name, "fd") {
			continue
		}
		dir, err := filepath.EvalSymlinks(filepath.Join("/sys/block", name))
		if err != nil {
			return nil, fmt.Errorf("listing disks: %w", err)
		}
		if readString(filepath.Join(dir, "device/type")) == scsiTypeROM {
			continue // a CD or DVD drive
		}
		if strings.HasPrefix(name, "loop") && readString(filepath.Join(dir, "loop/backing_file")) == "" {
			continue
		}
		d, err := inspectSys("/dev/"+name, dir)
		if err != nil {
			return nil, err
		}
		if d.Size > 0 {
			out = append(out, d)
		}
	}
	return out, nil
}

// scsiTypeROM is the SCSI peripheral type of CD and DVD drives.
const scsiTypeROM = "5"

// modelOf reads the vendor and model of the disk at dir: SCSI/USB's
// vendor and model, an SD card's name. A vendor given as a PCI id
// (virtio's "0x1af4") says nothing to a person and is left out.
func modelOf(dir string) string {
	var words []string
	for _, f := range []string{"device/vendor", "device/model", "device/name"} {
		v := readString(filepath.Join(dir, f))
		if strings.HasPrefix(v, "0x") {
			continue
		}
		words = append(words, strings.Fields(v)...)
	}
	return strings.Join(words, " ")
}

func devNumber(rdev uint64) string {
	return fmt.Sprintf("%d:%d", unix.Major(rdev), unix.Minor(rdev))
}

// sysDir is the /sys/devices directory of the block device majMin.
func sysDir(majMin string) (string, error) {
	return filepath.EvalSymlinks("/sys/dev/block/" + majMin)
}

func isPartition(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "partition"))
	return err == nil
}

// inspectSys describes the disk whose /sys/devices directory is dir.
func inspectSys(path, dir string) (*Device, error) {
	name := filepath.Base(dir)
	d := &Device{Path: path, RawPath: path, LogicalBlock: 512}
	sectors, err := strconv.ParseInt(readString(filepath.Join(dir, "size")), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: reading its size from %s: %w", path, dir, err)
	}
	d.Size = sectors * 512 // /sys counts 512-byte sectors whatever the device's
	if n, err := strconv.Atoi(readString(filepath.Join(dir, "queue/logical_block_size"))); err == nil {
		d.LogicalBlock = n
	}
	d.ReadOnly = readString(filepath.Join(dir, "ro")) == "1"
	if strings.HasPrefix(name, "loop") {
		d.Model = filepath.Base(readString(filepath.Join(dir, "loop/backing_file")))
		if d.Model == "." {
			d.Model = ""
		}
	} else {
		d.Model = modelOf(dir)
		d.Removable = readString(filepath.Join(dir, "removable")) == "1" ||
			strings.Contains(dir, "/usb") || strings.HasPrefix(name, "mmcblk")
	}

	// The disk and its partitions, by device number, for matching mounts.
	nodes := map[string]string{readString(filepath.Join(dir, "dev")): path}
	partIndex := map[string]int{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", path, err)
	}
	for _, e := range entries {
		pdir := filepath.Join(dir, e.Name())
		if !isPartition(pdir) {
			continue
		}
		p := Partition{Path: "/dev/" + e.Name()}
		if n, err := strconv.ParseInt(readString(filepath.Join(pdir, "size")), 10, 64); err == nil {
			p.Size = n * 512
		}
		if f, err := os.Open(p.Path); err == nil {
			p.FSType, p.Label = probeFilesystem(f)
			f.Close()
		}
		majMin := readString(filepath.Join(pdir, "dev"))
		nodes[majMin] = p.Path
		partIndex[majMin] = len(d.Partitions)
		d.Partitions = append(d.Partitions, p)
	}

	mounts, err := readMountinfo()
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", path, err)
	}
	for _, m := range mounts {
		node, ok := nodes[m.majMin]
		if !ok {
			continue
		}
		d.Mounts = append(d.Mounts, node+" on "+m.mountpoint)
		if i, ok := partIndex[m.majMin]; ok {
			d.Partitions[i].Mountpoints = append(d.Partitions[i].Mountpoints, m.mountpoint)
		}
	}
	// Holders (device-mapper, LVM, md, dm-crypt) use a disk without
	// mounting it.
	for majMin, node := range nodes {
		ndir, err := sysDir(majMin)
		if err != nil {
			continue
		}
		holders, _ := os.ReadDir(filepath.Join(ndir, "holders"))
		for _, h := range holders {
			d.Mounts = append(d.Mounts, node+" on "+h.Name()+" (a device-mapper, LVM or md holder)")
		}
	}
	swaps, err := readSwaps()
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", path, err)
	}
	for _, s := range swaps {
		if node, ok := nodes[s.majMin]; ok && s.partition {
			d.Mounts = append(d.Mounts, node+" on [SWAP]")
		}
	}

	// The running system, also through device-mapper and md.
	for _, mp := range systemMounts {
		for _, m := range mounts {
			if m.mountpoint == mp && underlyingDisks(m.majMin)[name] {
				d.System = fmt.Sprintf("holds %s (the running system)", mp)
				return d, nil
			}
		}
	}
	for _, s := range swaps {
		if underlyingDisks(s.majMin)[name] {
			d.System = fmt.Sprintf("holds the active swap %s", s.name)
			return d, nil
		}
	}
	return d, nil
}

// underlyingDisks returns the names of the whole disks under the block
// device majMin: itself or its parent disk, and those under the devices it
// is made of (its slaves, for device-mapper and md).
func underlyingDisks(majMin string) map[string]bool {
	disks := map[string]bool{}
	dir, err := sysDir(majMin)
	if err != nil {
		return disks
	}
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		if depth > 8 {
			return
		}
		if isPartition(dir) {
			dir = filepath.Dir(dir)
		}
		disks[filepath.Base(dir)] = true
		slaves, _ := os.ReadDir(filepath.Join(dir, "slaves"))
		for _, s := range slaves {
			if sdir, err := filepath.EvalSymlinks(filepath.Join(dir, "slaves", s.Name())); err == nil {
				walk(sdir, depth+1)
			}
		}
	}
	walk(dir, 0)
	return disks
}

type mount struct{ majMin, mountpoint string }

// readMountinfo parses /proc/self/mountinfo. Filesystems whose device
// number is not their block device's (btrfs) are matched by their source.
func readMountinfo() ([]mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	var out []mount
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		m := mount{majMin: fields[2], mountpoint: unescapeMountinfo(fields[4])}
		if strings.HasPrefix(m.majMin, "0:") {
			for i, f := range fields {
				if f == "-" && i+2 < len(fields) {
					var st syscall.Stat_t
					if syscall.Stat(fields[i+2], &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFBLK {
						m.majMin = devNumber(uint64(st.Rdev))
					}
					break
				}
			}
		}
		out = append(out, m)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	return out, nil
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

type swap struct {
	name      string
	majMin    string // the partition, or the device holding the swap file
	partition bool
}

func readSwaps() ([]swap, error) {
	data, err := os.ReadFile("/proc/swaps")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading swaps: %w", err)
	}
	var out []swap
	for _, line := range strings.Split(string(data), "\n")[1:] {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		s := swap{name: unescapeMountinfo(fields[0]), partition: fields[1] == "partition"}
		var st syscall.Stat_t
		if err := syscall.Stat(s.name, &st); err != nil {
			continue
		}
		if s.partition {
			s.majMin = devNumber(uint64(st.Rdev))
		} else {
			s.majMin = devNumber(uint64(st.Dev))
		}
		out = append(out, s)
	}
	return out, nil
}

func readString(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
