package fat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Device is what a filesystem lives on: a disk image file, or a card.
type Device interface {
	io.ReaderAt
	io.WriterAt
}

// Errors to branch on; returned errors wrap them.
var (
	ErrNotFAT32    = errors.New("not a FAT32 filesystem")
	ErrCorrupt     = errors.New("corrupt FAT32 filesystem")
	ErrNoSpace     = errors.New("no space left on the FAT32 filesystem")
	ErrNotDir      = errors.New("not a directory")
	ErrIsDir       = errors.New("is a directory")
	ErrNotEmpty    = errors.New("directory not empty")
	ErrInvalidName = errors.New("invalid FAT file name")
)

// Options adjust Open; the zero value (or nil) is the default.
type Options struct {
	// Now gives the time written into directory entries; time.Now if nil.
	Now func() time.Time
}

// FS is an open FAT32 filesystem.
type FS struct {
	dev    Device
	offset int64 // of the filesystem on dev
	size   int64 // of the region the filesystem may use
	now    func() time.Time

	sectorSize   int64
	clusterSize  int64
	fatStart     int64  // byte offset of the first FAT, from offset
	fatSize      int64  // bytes per FAT copy (BPB_FATSz32 sectors)
	fatCopies    int    // BPB_NumFATs
	dataStart    int64  // byte offset of cluster 2
	clusters     uint32 // data clusters: numbers 2 to clusters+1
	rootCluster  uint32
	fsInfoSector int64 // 0: none
	backupSector int64 // of the boot sector; 0: none

	// fat holds the used part of the first FAT (entries 0 to clusters+1,
	// whole sectors); dirty marks the sectors of it not yet written.
	fat      []byte
	dirty    map[int64]bool
	free     uint32 // free clusters
	lowFree  uint32 // no cluster below this is free
	fsInfoOK bool   // the FSInfo sector had valid signatures
}

const (
	fatEntryMask = 0x0fffffff
	fatBad       = 0x0ffffff7
	fatEOC       = 0x0fffffff // written at the end of a chain
	fatEOCMin    = 0x0ffffff8 // and anything from here on ends one
	fsInfoLead   = 0x41615252
	fsInfoStruct = 0x61417272
	fsInfoTrail  = 0xaa550000
	noHint       = 0xffffffff
)

// Open opens the FAT32 filesystem that starts at byte offset of dev and may
// use size bytes from there (the partition).
func Open(dev Device, offset, size int64, opts *Options) (*FS, error) {
	fsys := &FS{dev: dev, offset: offset, size: size, now: time.Now, dirty: map[int64]bool{}}
	if opts != nil && opts.Now != nil {
		fsys.now = opts.Now
	}
	if err := fsys.readBootSector(); err != nil {
		return nil, err
	}
	if err := fsys.readFAT(); err != nil {
		return nil, err
	}
	if err := fsys.readFSInfo(); err != nil {
		return nil, err
	}
	return fsys, nil
}

func (fsys *FS) readAt(b []byte, off int64) error {
	if off < 0 || off+int64(len(b)) > fsys.size {
		return fmt.Errorf("%w: read of %d bytes at %d is outside the %d-byte filesystem", ErrCorrupt, len(b), off, fsys.size)
	}
	_, err := fsys.dev.ReadAt(b, fsys.offset+off)
	return err
}

func (fsys *FS) writeAt(b []byte, off int64) error {
	if off < 0 || off+int64(len(b)) > fsys.size {
		return fmt.Errorf("%w: write of %d bytes at %d is outside the %d-byte filesystem", ErrCorrupt, len(b), off, fsys.size)
	}
	_, err := fsys.dev.WriteAt(b, fsys.offset+off)
	return err
}

func (fsys *FS) readBootSector() error {
	if fsys.size < 512 {
		return fmt.Errorf("%w: only %d bytes", ErrNotFAT32, fsys.size)
	}
	b := make([]byte, 512)
	if err := fsys.readAt(b, 0); err != nil {
		return fmt.Errorf("reading the boot sector: %w", err)
	}
	le16 := func(o int) int64 { return int64(binary.LittleEndian.Uint16(b[o:])) }
	le32 := func(o int) int64 { return int64(binary.LittleEndian.Uint32(b[o:])) }
	sectorSize, perCluster := le16(11), int64(b[13])
	reserved, copies, rootEntries := le16(14), int(b[16]), le16(17)
	total := le16(19)
	if total == 0 {
		total = le32(32)
	}
	fat16Size, fat32Size := le16(22), le32(36)
	switch {
	case b[510] != 0x55 || b[511] != 0xaa || (b[0] != 0xeb && b[0] != 0xe9):
		return fmt.Errorf("%w: no FAT boot sector (jump instruction and 0x55AA signature)", ErrNotFAT32)
	case sectorSize != 512 && sectorSize != 1024 && sectorSize != 2048 && sectorSize != 4096:
		return fmt.Errorf("%w: no FAT boot sector (sector size %d)", ErrNotFAT32, sectorSize)
	case perCluster == 0 || perCluster&(perCluster-1) != 0:
		return fmt.Errorf("%w: no FAT boot sector (%d sectors per cluster)", ErrNotFAT32, perCluster)
	case fat16Size != 0 || rootEntries != 0:
		// Linux and fsck.vfat tell FAT32 apart by this, not by cluster count.
		return fmt.Errorf("%w: a FAT12 or FAT16 filesystem (only FAT32 is supported)", ErrNotFAT32)
	case fat32Size == 0 || reserved == 0 || copies == 0:
		return fmt.Errorf("%w: %d reserved sectors, %d FATs of %d sectors", ErrCorrupt, reserved, copies, fat32Size)
	case binary.LittleEndian.Uint16(b[42:]) != 0:
		return fmt.Errorf("%w: FAT32 version %#04x (only 0 exists)", ErrNotFAT32, binary.LittleEndian.Uint16(b[42:]))
	case b[40]&0x80 != 0:
		return fmt.Errorf("%w: FAT mirroring is disabled (BPB_ExtFlags %#04x)", ErrCorrupt, binary.LittleEndian.Uint16(b[40:]))
	}
	fsys.sectorSize = sectorSize
	fsys.clusterSize = sectorSize * perCluster
	fsys.fatStart = reserved * sectorSize
	fsys.fatSize = fat32Size * sectorSize
	fsys.fatCopies = copies
	fsys.dataStart = (reserved + int64(copies)*fat32Size) * sectorSize
	if total*sectorSize > fsys.size {
		return fmt.Errorf("%w: the boot sector says %d bytes but the partition has %d", ErrCorrupt, total*sectorSize, fsys.size)
	}
	if fsys.dataStart >= total*sectorSize {
		return fmt.Errorf("%w: no data area after the FATs", ErrCorrupt)
	}
	clusters := (total*sectorSize - fsys.dataStart) / fsys.clusterSize
	if clusters < 1 || clusters > 0x0ffffff5 || (clusters+2)*4 > fsys.fatSize {
		return fmt.Errorf("%w: %d clusters do not fit a FAT of %d bytes", ErrCorrupt, clusters, fsys.fatSize)
	}
	fsys.clusters = uint32(clusters)
	fsys.rootCluster = uint32(le32(44))
	if !fsys.valid(fsys.rootCluster) {
		return fmt.Errorf("%w: root directory cluster %d", ErrCorrupt, fsys.rootCluster)
	}
	if s := le16(48); s > 0 && s < reserved {
		fsys.fsInfoSector = s
	}
	if s := le16(50); s > 0 && s+fsys.fsInfoSector < reserved {
		fsys.backupSector = s
	}
	return nil
}

// valid reports whether c is a data cluster number.
func (fsys *FS) valid(c uint32) bool { return c >= 2 && c-2 < fsys.clusters }

func (fsys *FS) readFAT() error {
	used := (int64(fsys.clusters) + 2) * 4
	used = (used + fsys.sectorSize - 1) / fsys.sectorSize * fsys.sectorSize
	fsys.fat = make([]byte, used)
	if err := fsys.readAt(fsys.fat, fsys.fatStart); err != nil {
		return fmt.Errorf("reading the FAT: %w", err)
	}
	other := make([]byte, used)
	entries := (int64(fsys.clusters) + 2) * 4
	for i := 1; i < fsys.fatCopies; i++ {
		if err := fsys.readAt(other, fsys.fatStart+int64(i)*fsys.fatSize); err != nil {
			return fmt.Errorf("reading FAT copy %d: %w", i+1, err)
		}
		if !bytes.Equal(fsys.fat[:entries], other[:entries]) {
			return fmt.Errorf("%w: FAT copy %d differs from the first (fsck.vfat can repair that)", ErrCorrupt, i+1)
		}
	}
	fsys.count()
	return nil
}

// count counts the free clusters in the FAT.
func (fsys *FS) count() {
	fsys.free, fsys.lowFree = 0, 0
	for c := uint32(2); c-2 < fsys.clusters; c++ {
		if fsys.entry(c) == 0 {
			fsys.free++
			if fsys.lowFree == 0 {
				fsys.lowFree = c
			}
		}
	}
	if fsys.lowFree == 0 {
		fsys.lowFree = fsys.clusters + 2
	}
}

// discard forgets the FAT changes not yet flushed, after a failed change.
func (fsys *FS) discard() {
	for s := range fsys.dirty {
		sector := fsys.fat[s*fsys.sectorSize : (s+1)*fsys.sectorSize]
		if err := fsys.readAt(sector, fsys.fatStart+s*fsys.sectorSize); err != nil {
			// Keep it dirty: the next flush writes what memory holds.
			continue
		}
		delete(fsys.dirty, s)
	}
	fsys.count()
}

func (fsys *FS) readFSInfo() error {
	if fsys.fsInfoSector == 0 {
		return nil
	}
	b := make([]byte, 512)
	if err := fsys.readAt(b, fsys.fsInfoSector*fsys.sectorSize); err != nil {
		return fmt.Errorf("reading the FSInfo sector: %w", err)
	}
	fsys.fsInfoOK = validFSInfo(b)
	return nil
}

func validFSInfo(b []byte) bool {
	return binary.LittleEndian.Uint32(b[0:]) == fsInfoLead &&
		binary.LittleEndian.Uint32(b[484:]) == fsInfoStruct &&
		binary.LittleEndian.Uint32(b[508:]) == fsInfoTrail
}

// entry is the FAT entry of cluster c, without the reserved top 4 bits.
func (fsys *FS) entry(c uint32) uint32 {
	return binary.LittleEndian.Uint32(fsys.fat[c*4:]) & fatEntryMask
}

// setEntry sets the FAT entry of cluster c, keeping its reserved top bits
// as the specification asks, and keeps the free count.
func (fsys *FS) setEntry(c, v uint32) {
	old := binary.LittleEndian.Uint32(fsys.fat[c*4:])
	switch {
	case old&fatEntryMask == 0 && v != 0:
		fsys.free--
	case old&fatEntryMask != 0 && v == 0:
		fsys.free++
		if c < fsys.lowFree {
			fsys.lowFree = c
		}
	}
	binary.LittleEndian.PutUint32(fsys.fat[c*4:], old&^fatEntryMask|v)
	fsys.dirty[int64(c)*4/fsys.sectorSize] = true
}

// chain follows the cluster chain that starts at first; a file or
// directory with first cluster 0 has none.
func (fsys *FS) chain(first uint32) ([]uint32, error) {
	var cs []uint32
	for c := first; c != 0; {
		if !fsys.valid(c) {
			return nil, fmt.Errorf("%w: cluster chain from %d reaches cluster %d", ErrCorrupt, first, c)
		}
		if uint32(len(cs)) >= fsys.clusters {
			return nil, fmt.Errorf("%w: cluster chain from %d loops", ErrCorrupt, first)
		}
		cs = append(cs, c)
		switch next := fsys.entry(c); {
		case next >= fatEOCMin:
			c = 0
		case next == 0 || next == fatBad:
			return nil, fmt.Errorf("%w: cluster chain from %d reaches a free or bad cluster after %d", ErrCorrupt, first, c)
		default:
			c = next
		}
	}
	return cs, nil
}

// allocate takes n free clusters, a contiguous run if there is one, and
// links them into a chain after prev (0: a new chain).
func (fsys *FS) allocate(n int, prev uint32) ([]uint32, error) {
	if n == 0 {
		return nil, nil
	}
	if uint32(n) > fsys.free {
		return nil, fmt.Errorf("%w: %d clusters of %d bytes needed, %d free", ErrNoSpace, n, fsys.clusterSize, fsys.free)
	}
	end := fsys.clusters + 2
	var got []uint32
	// First fit of a contiguous run; else the free clusters in order.
	run := 0
	for c := fsys.lowFree; c < end && got == nil; c++ {
		if fsys.entry(c) != 0 {
			run = 0
			continue
		}
		if run++; run == n {
			for i := c + 1 - uint32(n); i <= c; i++ {
				got = append(got, i)
			}
		}
	}
	for c := fsys.lowFree; c < end && len(got) < n; c++ {
		if fsys.entry(c) == 0 {
			got = append(got, c)
		}
	}
	for i, c := range got {
		next := uint32(fatEOC)
		if i+1 < len(got) {
			next = got[i+1]
		}
		fsys.setEntry(c, next)
	}
	if prev != 0 {
		fsys.setEntry(prev, got[0])
	}
	for fsys.lowFree < end && fsys.entry(fsys.lowFree) != 0 {
		fsys.lowFree++
	}
	return got, nil
}

// release frees clusters.
func (fsys *FS) release(cs []uint32) {
	for _, c := range cs {
		fsys.setEntry(c, 0)
	}
}

// flush writes the changed FAT sectors to every FAT copy, then the FSInfo
// free count and next-free hint.
func (fsys *FS) flush() error {
	for s := range fsys.dirty {
		sector := fsys.fat[s*fsys.sectorSize : (s+1)*fsys.sectorSize]
		for i := 0; i < fsys.fatCopies; i++ {
			if err := fsys.writeAt(sector, fsys.fatStart+int64(i)*fsys.fatSize+s*fsys.sectorSize); err != nil {
				return fmt.Errorf("writing FAT copy %d: %w", i+1, err)
			}
		}
		delete(fsys.dirty, s)
	}
	if !fsys.fsInfoOK {
		return nil
	}
	hint := uint32(noHint)
	if fsys.free > 0 {
		hint = fsys.lowFree
	}
	sectors := []int64{fsys.fsInfoSector}
	if fsys.backupSector != 0 {
		sectors = append(sectors, fsys.backupSector+fsys.fsInfoSector)
	}
	for _, s := range sectors {
		b := make([]byte, 512)
		if err := fsys.readAt(b, s*fsys.sectorSize); err != nil {
			return fmt.Errorf("reading the FSInfo sector: %w", err)
		}
		if s != fsys.fsInfoSector && !validFSInfo(b) {
			continue // no backup FSInfo to keep equal
		}
		binary.LittleEndian.PutUint32(b[488:], fsys.free)
		binary.LittleEndian.PutUint32(b[492:], hint)
		if err := fsys.writeAt(b, s*fsys.sectorSize); err != nil {
			return fmt.Errorf("writing the FSInfo sector: %w", err)
		}
	}
	return nil
}

// clusterOffset is the byte offset of cluster c.
func (fsys *FS) clusterOffset(c uint32) int64 {
	return fsys.dataStart + int64(c-2)*fsys.clusterSize
}

// FreeBytes is the space left for file data.
func (fsys *FS) FreeBytes() int64 { return int64(fsys.free) * fsys.clusterSize }

// ClusterSize is the allocation unit in bytes.
func (fsys *FS) ClusterSize() int64 { return fsys.clusterSize }
