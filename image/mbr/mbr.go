// Package mbr reads the partition table of a disk image: the MBR disk
// identifier (byte 440, the "<id>" of PARTUUID=<id>-02) and the four primary
// partitions with their byte offsets, sizes and types, and picks out the
// Raspberry Pi OS layout (a FAT32 boot partition and a Linux root after it).
//
// The table is parsed by go-diskfs's partition/mbr; this package adds the
// checks and errors a user needs: a file that is no disk image (no 0x55AA
// boot signature, or a bare filesystem), a GPT disk, partitions that run past
// the end of the file or overlap, and a layout pibake does not understand.
//
// Limits: it only reads. Extended and logical partitions are listed as the
// primary entry that holds them, never followed. GPT is refused (not yet
// supported). Sectors are 512 bytes, as on every Raspberry Pi OS image.
package mbr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	diskfsmbr "github.com/diskfs/go-diskfs/partition/mbr"
)

// SectorSize is the size of the sectors partition entries count in.
const SectorSize = 512

// Partition types pibake cares about.
const (
	TypeFAT32CHS    byte = 0x0b
	TypeFAT32LBA    byte = 0x0c
	TypeLinux       byte = 0x83
	TypeGPTProtects byte = 0xee
)

// Errors to branch on; the errors returned wrap them and name the file.
var (
	ErrNotDiskImage = errors.New("not a disk image")
	ErrGPT          = errors.New("GPT partition tables are not supported yet")
	ErrBeyondEnd    = errors.New("partition extends beyond the end of the file")
	ErrLayout       = errors.New("partition layout not understood")
)

// Partition is one used slot of the table.
type Partition struct {
	Number   int   // 1 to 4: the slot, as in /dev/mmcblk0p2 and PARTUUID=<id>-02
	Type     byte  // 0x0c FAT32 (LBA), 0x83 Linux, ...
	Bootable bool  // the active flag (0x80)
	Offset   int64 // bytes from the start of the image
	Size     int64 // bytes
}

// End is the byte offset just past the partition.
func (p Partition) End() int64 { return p.Offset + p.Size }

// IsFAT32 reports whether the partition type says FAT32.
func (p Partition) IsFAT32() bool { return p.Type == TypeFAT32LBA || p.Type == TypeFAT32CHS }

// IsLinux reports whether the partition type says Linux.
func (p Partition) IsLinux() bool { return p.Type == TypeLinux }

// Table is a disk image's MBR partition table.
type Table struct {
	Name       string      // the image, for messages
	DiskID     uint32      // the disk identifier at byte 440
	Partitions []Partition // used slots (type not 0), in slot order
}

// PartUUID is the PARTUUID Linux gives partition number n of this disk, as
// written in Raspberry Pi OS's cmdline.txt and fstab: "1a2b3c4d-02".
func (t *Table) PartUUID(n int) string { return fmt.Sprintf("%08x-%02x", t.DiskID, n) }

// ReadFile reads the partition table of the disk image at path.
func ReadFile(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return Read(path, f, st.Size())
}

// Read reads the partition table of the size-byte disk image r; name is
// the image's name for messages.
func Read(name string, r io.ReaderAt, size int64) (*Table, error) {
	if size < SectorSize {
		return nil, fmt.Errorf("%s: %w: the file is only %d bytes", name, ErrNotDiskImage, size)
	}
	head := make([]byte, 2048)
	n, err := r.ReadAt(head, 0)
	if err != nil && !(errors.Is(err, io.EOF) && n >= SectorSize) {
		return nil, fmt.Errorf("%s: reading the partition table: %w", name, err)
	}
	head = head[:n]
	if what := bareFilesystem(head); what != "" {
		return nil, fmt.Errorf("%s: %w: it holds a bare %s filesystem, not a partitioned disk", name, ErrNotDiskImage, what)
	}
	if head[510] != 0x55 || head[511] != 0xaa {
		return nil, fmt.Errorf("%s: %w: no MBR boot signature (0x55AA) at byte 510", name, ErrNotDiskImage)
	}
	raw, err := diskfsmbr.Read(sectorFile{io.NewSectionReader(r, 0, SectorSize)}, SectorSize, SectorSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: unreadable MBR partition table: %v", name, ErrNotDiskImage, err)
	}
	t := &Table{Name: name, DiskID: binary.LittleEndian.Uint32(head[440:444])}
	for _, p := range raw.Partitions {
		if p.Type == diskfsmbr.Empty {
			continue
		}
		if byte(p.Type) == TypeGPTProtects {
			return nil, fmt.Errorf("%s: %w (the MBR is GPT's protective one)", name, ErrGPT)
		}
		t.Partitions = append(t.Partitions, Partition{
			Number:   p.Index,
			Type:     byte(p.Type),
			Bootable: p.Bootable,
			Offset:   p.GetStart(),
			Size:     p.GetSize(),
		})
	}
	if len(t.Partitions) == 0 {
		return nil, fmt.Errorf("%s: %w: the MBR partition table is empty", name, ErrLayout)
	}
	for i, p := range t.Partitions {
		if p.Offset == 0 || p.Size == 0 {
			return nil, fmt.Errorf("%s: %w: partition %d starts at sector %d and has %d sectors",
				name, ErrLayout, p.Number, p.Offset/SectorSize, p.Size/SectorSize)
		}
		if p.End() > size {
			return nil, fmt.Errorf("%s: %w: partition %d ends at byte %d but the file has %d bytes (is the image truncated?)",
				name, ErrBeyondEnd, p.Number, p.End(), size)
		}
		for _, q := range t.Partitions[:i] {
			if p.Offset < q.End() && q.Offset < p.End() {
				return nil, fmt.Errorf("%s: %w: partitions %d and %d overlap", name, ErrLayout, q.Number, p.Number)
			}
		}
	}
	return t, nil
}

// Layout is the partition layout of a Raspberry Pi OS image.
type Layout struct {
	Boot Partition // FAT32, mounted at /boot/firmware
	Root Partition // Linux (ext4), mounted at /
}

// RaspberryPi finds the Raspberry Pi OS layout in t: the first FAT32
// partition, and the first Linux partition after it.
func (t *Table) RaspberryPi() (*Layout, error) {
	var l Layout
	for _, p := range t.Partitions {
		switch {
		case l.Boot.Number == 0 && p.IsFAT32():
			l.Boot = p
		case l.Boot.Number != 0 && l.Root.Number == 0 && p.IsLinux() && p.Offset > l.Boot.Offset:
			l.Root = p
		}
	}
	switch {
	case l.Boot.Number == 0:
		return nil, fmt.Errorf("%s: %w: no FAT32 boot partition (type 0x0c) in the MBR; found %s",
			t.Name, ErrLayout, t.describe())
	case l.Root.Number == 0:
		return nil, fmt.Errorf("%s: %w: no Linux root partition (type 0x83) after the FAT32 boot partition; found %s",
			t.Name, ErrLayout, t.describe())
	}
	return &l, nil
}

func (t *Table) describe() string {
	s := ""
	for i, p := range t.Partitions {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("partition %d type 0x%02x", p.Number, p.Type)
	}
	return s
}

// bareFilesystem names the filesystem that head (the first bytes of a file)
// starts with, or returns "" when it is not a known one.
func bareFilesystem(head []byte) string {
	if len(head) >= 1024+58 && binary.LittleEndian.Uint16(head[1024+56:]) == 0xef53 {
		return "ext2/3/4"
	}
	if len(head) < SectorSize || (head[0] != 0xeb && head[0] != 0xe9) {
		return ""
	}
	switch {
	case string(head[82:90]) == "FAT32   ":
		return "FAT32"
	case string(head[54:59]) == "FAT12" || string(head[54:59]) == "FAT16":
		return string(head[54:59])
	}
	return ""
}

// sectorFile gives go-diskfs the file interface it reads tables through;
// only ReadAt is used.
type sectorFile struct{ *io.SectionReader }

func (sectorFile) Close() error                 { return nil }
func (f sectorFile) Stat() (fs.FileInfo, error) { return sectorInfo{f.Size()}, nil }

type sectorInfo struct{ size int64 }

func (i sectorInfo) Name() string       { return "mbr" }
func (i sectorInfo) Size() int64        { return i.size }
func (i sectorInfo) Mode() fs.FileMode  { return 0o444 }
func (i sectorInfo) ModTime() time.Time { return time.Time{} }
func (i sectorInfo) IsDir() bool        { return false }
func (i sectorInfo) Sys() any           { return nil }
