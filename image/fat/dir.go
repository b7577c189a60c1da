package fat

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
)

var zeroSlot [slotSize]byte

// maxDirSlots is the most entries a FAT directory may hold.
const maxDirSlots = 65536

// dir is a directory read into memory: its cluster chain and content.
type dir struct {
	cluster uint32 // first cluster; the root's is BPB_RootClus
	chain   []uint32
	data    []byte
	dirty   map[int]bool // indexes into chain of clusters to write back
	entries []*dirent
	end     int // first slot of the free tail (the first 0x00 slot)
}

// dirent is one file or directory (or "." / ".." / the volume label) of a
// directory.
type dirent struct {
	long  string // the long name, "" if none (or one that did not check)
	short shortName
	first int // slot where the entry starts (its first long-name slot)
	slot  int // slot of the short entry
}

func (d *dir) raw(e *dirent) []byte { return d.data[e.slot*slotSize:][:slotSize] }

func (d *dir) attr(e *dirent) byte   { return d.raw(e)[11] }
func (d *dir) isDir(e *dirent) bool  { return d.attr(e)&attrDir != 0 }
func (d *dir) ntCase(e *dirent) byte { return d.raw(e)[12] }
func (d *dir) size(e *dirent) uint32 { return binary.LittleEndian.Uint32(d.raw(e)[28:]) }
func (d *dir) modTime(e *dirent) time.Time {
	r := d.raw(e)
	return decodeTime(binary.LittleEndian.Uint16(r[24:]), binary.LittleEndian.Uint16(r[22:]))
}
func (d *dir) firstCluster(e *dirent) uint32 {
	r := d.raw(e)
	return uint32(binary.LittleEndian.Uint16(r[20:]))<<16 | uint32(binary.LittleEndian.Uint16(r[26:]))
}

// name is the entry's name as listed: the long name, else the short one.
func (d *dir) name(e *dirent) string {
	if e.long != "" {
		return e.long
	}
	return e.short.display(d.ntCase(e))
}

// matches reports whether name names e, as the vfat driver looks names up:
// by long or short name, ignoring case.
func (d *dir) matches(e *dirent, name string) bool {
	return e.long != "" && strings.EqualFold(e.long, name) || strings.EqualFold(e.short.display(0), name)
}

// listed reports whether e is a file or directory (not ".", ".." or the
// volume label).
func (d *dir) listed(e *dirent) bool {
	return d.attr(e)&attrVolume == 0 && e.short != dotName && e.short != dotDotName
}

var (
	dotName    = shortName{'.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '}
	dotDotName = shortName{'.', '.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '}
)

// readDir reads the directory whose chain starts at cluster.
func (fsys *FS) readDir(cluster uint32) (*dir, error) {
	chain, err := fsys.chain(cluster)
	if err != nil {
		return nil, err
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: directory without clusters", ErrCorrupt)
	}
	d := &dir{cluster: cluster, chain: chain, data: make([]byte, int64(len(chain))*fsys.clusterSize), dirty: map[int]bool{}}
	if len(d.data)/slotSize > maxDirSlots {
		return nil, fmt.Errorf("%w: directory at cluster %d is larger than FAT allows", ErrCorrupt, cluster)
	}
	for i, c := range chain {
		if err := fsys.readAt(d.data[int64(i)*fsys.clusterSize:][:fsys.clusterSize], fsys.clusterOffset(c)); err != nil {
			return nil, fmt.Errorf("reading directory cluster %d: %w", c, err)
		}
	}
	d.parse()
	return d, nil
}

// parse lists the entries of d.data. Long-name entries count only when
// their sequence is whole and their checksum matches the short entry that
// follows, as in the Linux driver; otherwise the short name stands alone.
func (d *dir) parse() {
	d.entries = nil
	d.end = len(d.data) / slotSize
	var (
		units    []uint16 // long name so far, as parts arrive last first
		want     int      // sequence number of the next part
		pending  bool     // a long name has begun and not broken
		sum      byte
		runStart int
	)
	for i := 0; i < len(d.data)/slotSize; i++ {
		s := d.data[i*slotSize:][:slotSize]
		switch {
		case s[0] == 0:
			d.end = i
			return
		case s[0] == slotDeleted:
			pending = false
			continue
		case s[11]&0x3f == attrLongName:
			seq := int(s[0] & 0x1f)
			switch {
			case s[0]&0x40 != 0 && seq > 0:
				units, want, sum, runStart, pending = longNamePart(s), seq-1, s[13], i, true
			case pending && want > 0 && seq == want && s[13] == sum:
				units = append(longNamePart(s), units...)
				want--
			default:
				pending = false
			}
			continue
		}
		e := &dirent{first: i, slot: i}
		copy(e.short[:], s[:11])
		if pending && want == 0 && e.short.checksum() == sum {
			e.long, e.first = string(utf16.Decode(units)), runStart
		}
		pending = false
		d.entries = append(d.entries, e)
	}
}

// lookup finds the entry name names in d.
func (d *dir) lookup(name string) *dirent {
	for _, e := range d.entries {
		if d.attr(e)&attrVolume == 0 && d.matches(e, name) {
			return e
		}
	}
	return nil
}

// shortTaken reports whether a short name is in use in d (the volume
// label's included, so that no file shares it).
func (d *dir) shortTaken(s shortName) bool {
	for _, e := range d.entries {
		if e.short == s {
			return true
		}
	}
	return false
}

func (d *dir) markDirty(fsys *FS, fromSlot, toSlot int) {
	per := int(fsys.clusterSize) / slotSize
	for c := fromSlot / per; c <= (toSlot-1)/per; c++ {
		d.dirty[c] = true
	}
}

// writeDir writes d's changed clusters.
func (fsys *FS) writeDir(d *dir) error {
	for i := range d.dirty {
		if err := fsys.writeAt(d.data[int64(i)*fsys.clusterSize:][:fsys.clusterSize], fsys.clusterOffset(d.chain[i])); err != nil {
			return fmt.Errorf("writing directory cluster %d: %w", d.chain[i], err)
		}
		delete(d.dirty, i)
	}
	return nil
}

// entryFields are the fields of a new short entry.
type entryFields struct {
	attr    byte
	cluster uint32
	size    uint32
	created time.Time // zero: same as modified
	mod     time.Time
	// copyOf, when set, supplies everything but the name (for Rename).
	copyOf []byte
}

// insert adds an entry named name to d (in memory; writeDir writes it),
// growing the directory by clusters if no run of free slots is long enough.
func (fsys *FS) insert(d *dir, name string, f entryFields) (*dirent, error) {
	short, ntCase, plain := plainShortName(name)
	if plain && d.shortTaken(short) {
		plain = false
	}
	var slots []byte
	if !plain {
		var err error
		if short, err = generateShortName(name, d.shortTaken); err != nil {
			return nil, err
		}
		ntCase = 0
		slots = longNameSlots(name, short.checksum())
	}
	n := len(slots)/slotSize + 1
	at, err := fsys.freeSlots(d, n)
	if err != nil {
		return nil, err
	}
	copy(d.data[at*slotSize:], slots)
	s := d.data[(at+n-1)*slotSize:][:slotSize]
	if f.copyOf != nil {
		copy(s, f.copyOf)
	} else {
		for i := range s {
			s[i] = 0
		}
		s[11] = f.attr
		mod := f.mod
		created := f.created
		if created.IsZero() {
			created = mod
		}
		cd, ct, cc := encodeTime(created)
		md, mt, _ := encodeTime(mod)
		s[13] = cc
		binary.LittleEndian.PutUint16(s[14:], ct)
		binary.LittleEndian.PutUint16(s[16:], cd)
		binary.LittleEndian.PutUint16(s[18:], md) // access date
		binary.LittleEndian.PutUint16(s[22:], mt)
		binary.LittleEndian.PutUint16(s[24:], md)
		setFirstCluster(s, f.cluster)
		binary.LittleEndian.PutUint32(s[28:], f.size)
	}
	copy(s[:11], short[:])
	s[12] = s[12]&^(ntLowerBase|ntLowerExt) | ntCase
	d.markDirty(fsys, at, at+n)
	d.parse()
	return d.lookupSlot(at + n - 1), nil
}

func (d *dir) lookupSlot(slot int) *dirent {
	for _, e := range d.entries {
		if e.slot == slot {
			return e
		}
	}
	return nil
}

func setFirstCluster(s []byte, c uint32) {
	binary.LittleEndian.PutUint16(s[20:], uint16(c>>16))
	binary.LittleEndian.PutUint16(s[26:], uint16(c))
}

// freeSlots finds n consecutive free slots in d, growing it if needed, and
// returns the first.
func (fsys *FS) freeSlots(d *dir, n int) (int, error) {
	total := len(d.data) / slotSize
	run := 0
	for i := 0; i < total; i++ {
		if i < d.end && d.data[i*slotSize] != slotDeleted {
			run = 0
			continue
		}
		if run++; run == n {
			d.clearTail(fsys)
			return i + 1 - n, nil
		}
	}
	per := int(fsys.clusterSize) / slotSize
	grow := (n - run + per - 1) / per
	if total+grow*per > maxDirSlots {
		return 0, fmt.Errorf("%w: the directory has the most entries FAT allows", ErrNoSpace)
	}
	added, err := fsys.allocate(grow, d.chain[len(d.chain)-1])
	if err != nil {
		return 0, err
	}
	zero := make([]byte, fsys.clusterSize)
	for _, c := range added {
		if err := fsys.writeAt(zero, fsys.clusterOffset(c)); err != nil {
			return 0, fmt.Errorf("clearing directory cluster %d: %w", c, err)
		}
	}
	d.chain = append(d.chain, added...)
	d.data = append(d.data, make([]byte, int64(grow)*fsys.clusterSize)...)
	d.clearTail(fsys)
	return total - run, nil
}

// clearTail zeroes the slots after the end marker: they are free by the
// specification, and a new entry there must not be followed by leftovers
// that would then count as entries.
func (d *dir) clearTail(fsys *FS) {
	for i := d.end; i < len(d.data)/slotSize; i++ {
		if s := d.data[i*slotSize:][:slotSize]; !bytes.Equal(s, zeroSlot[:]) {
			clear(s)
			d.markDirty(fsys, i, i+1)
		}
	}
}

// remove deletes e's slots from d (in memory; writeDir writes it).
func (fsys *FS) remove(d *dir, e *dirent) {
	for i := e.first; i <= e.slot; i++ {
		d.data[i*slotSize] = slotDeleted
	}
	d.markDirty(fsys, e.first, e.slot+1)
	d.parse()
}

// newDirCluster is the first cluster of a new directory: "." and "..".
func newDirCluster(size int64, self, parent uint32, t time.Time) []byte {
	b := make([]byte, size)
	for i, c := range []uint32{self, parent} {
		s := b[i*slotSize:][:slotSize]
		copy(s, []byte(dotName[:]))
		if i == 1 {
			copy(s, []byte(dotDotName[:]))
		}
		s[11] = attrDir
		date, clock, centis := encodeTime(t)
		s[13] = centis
		binary.LittleEndian.PutUint16(s[14:], clock)
		binary.LittleEndian.PutUint16(s[16:], date)
		binary.LittleEndian.PutUint16(s[18:], date)
		binary.LittleEndian.PutUint16(s[22:], clock)
		binary.LittleEndian.PutUint16(s[24:], date)
		setFirstCluster(s, c)
	}
	return b
}
