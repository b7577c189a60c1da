package ext4

import (
	"fmt"
	"slices"
)

// Extent tree layout (ifork.rst): a 12-byte header, then 12-byte entries,
// in i_block (up to 4) or in tree blocks with a 4-byte checksum tail.
const (
	extentMagic     = 0xF30A
	extentHeaderLen = 12
	extentEntryLen  = 12
	maxExtentDepth  = 5
	maxExtentLen    = 32768 // longest initialised extent
	rootExtents     = (iBlockSize - extentHeaderLen) / extentEntryLen
)

// extent maps length file blocks from logical onwards to physical blocks.
type extent struct {
	logical   uint32
	physical  uint64
	length    uint32
	unwritten bool // allocated but reads as zeros
}

// blockMap is where a file's data lives: its extents sorted by logical
// block, and the tree or indirect blocks that describe them.
type blockMap struct {
	extents []extent
	meta    []uint64
}

// lookup finds the extent holding logical block lb, or the index where one
// would go.
func (m *blockMap) lookup(lb uint32) (int, bool) {
	i, _ := slices.BinarySearchFunc(m.extents, lb, func(e extent, lb uint32) int {
		switch {
		case e.logical+e.length <= lb:
			return -1
		case e.logical > lb:
			return 1
		}
		return 0
	})
	return i, i < len(m.extents) && m.extents[i].logical <= lb && lb < m.extents[i].logical+m.extents[i].length
}

// blockMap reads where inode ino keeps its data: an extent tree or, for old
// ext2/ext3-style files, direct and indirect block pointers.
func (f *FS) blockMap(ino uint32, in *inode) (*blockMap, error) {
	m := &blockMap{}
	if in.flags()&flagInlineData != 0 {
		return nil, fmt.Errorf("%w: inode %d keeps its data inline (inline_data)", ErrUnsupported, ino)
	}
	if in.hasExtents() {
		w := &extentWalk{f: f, ino: ino, in: in, m: m, seen: map[uint64]bool{}}
		if err := w.node(in.iBlock(), -1, 0); err != nil {
			return nil, err
		}
		return m, nil
	}
	if in.isSymlink() && f.fastSymlink(in) {
		return m, nil
	}
	if in.fileType() == modeChar || in.fileType() == modeBlock || in.fileType() == modeFIFO || in.fileType() == modeSocket {
		return m, nil // i_block holds a device number, if anything
	}
	w := &indirectWalk{f: f, ino: ino, m: m, seen: map[uint64]bool{}}
	nblocks := min((in.size()+f.bs-1)/f.bs, 1<<32)
	return m, w.walk(in.iBlock(), nblocks)
}

type extentWalk struct {
	f    *FS
	ino  uint32
	in   *inode
	m    *blockMap
	seen map[uint64]bool
}

// parseExtentHeader checks a node header: buf is the node (i_block or a
// tree block). It returns the entry count and depth.
func parseExtentHeader(buf []byte) (entries, max, depth int, err error) {
	if len(buf) < extentHeaderLen {
		return 0, 0, 0, fmt.Errorf("extent node of %d bytes", len(buf))
	}
	if m := le.Uint16(buf); m != extentMagic {
		return 0, 0, 0, fmt.Errorf("extent header magic 0x%04x", m)
	}
	entries, max, depth = int(le.Uint16(buf[2:])), int(le.Uint16(buf[4:])), int(le.Uint16(buf[6:]))
	switch {
	case max == 0 || extentHeaderLen+max*extentEntryLen > len(buf):
		return 0, 0, 0, fmt.Errorf("extent header: room for %d entries in %d bytes", max, len(buf))
	case entries > max:
		return 0, 0, 0, fmt.Errorf("extent header: %d entries, room for %d", entries, max)
	case depth > maxExtentDepth:
		return 0, 0, 0, fmt.Errorf("extent header: depth %d", depth)
	}
	return entries, max, depth, nil
}

// node walks one tree node. wantDepth is -1 for the root; lo is the first
// logical block the parent says this node covers.
func (w *extentWalk) node(buf []byte, wantDepth int, lo uint32) error {
	entries, _, depth, err := parseExtentHeader(buf)
	if err != nil {
		return corruptf("inode %d: %v", w.ino, err)
	}
	if wantDepth >= 0 && depth != wantDepth {
		return corruptf("inode %d: extent node at depth %d, parent says %d", w.ino, depth, wantDepth)
	}
	for i := range entries {
		e := buf[extentHeaderLen+i*extentEntryLen:]
		logical := le.Uint32(e)
		if logical < lo {
			return corruptf("inode %d: extent for block %d below its parent's start %d", w.ino, logical, lo)
		}
		if depth == 0 {
			length := uint32(le.Uint16(e[4:]))
			unwritten := false
			if length > maxExtentLen {
				length -= maxExtentLen
				unwritten = true
			}
			phys := uint64(le.Uint16(e[6:]))<<32 | uint64(le.Uint32(e[8:]))
			if length == 0 || !w.f.checkBlock(phys, uint64(length)) || uint64(logical)+uint64(length) > 1<<32 {
				return corruptf("inode %d: extent of %d blocks at %d for file block %d", w.ino, length, phys, logical)
			}
			if n := len(w.m.extents); n > 0 {
				last := w.m.extents[n-1]
				if last.logical+last.length > logical {
					return corruptf("inode %d: extents overlap at file block %d", w.ino, logical)
				}
			}
			w.m.extents = append(w.m.extents, extent{logical, phys, length, unwritten})
			continue
		}
		child := uint64(le.Uint16(e[8:]))<<32 | uint64(le.Uint32(e[4:]))
		if !w.f.checkBlock(child, 1) || w.seen[child] {
			return corruptf("inode %d: extent index points at block %d", w.ino, child)
		}
		w.seen[child] = true
		w.m.meta = append(w.m.meta, child)
		blk, err := w.f.meta(child)
		if err != nil {
			return fmt.Errorf("inode %d: %w", w.ino, err)
		}
		if err := w.f.verifyExtentBlock(w.ino, w.in, child, blk); err != nil {
			return err
		}
		if err := w.node(blk, depth-1, logical); err != nil {
			return err
		}
	}
	return nil
}

// extentTailOffset is where a tree block's checksum sits: right after the
// room for eh_max entries.
func extentTailOffset(blk []byte) int {
	return extentHeaderLen + int(le.Uint16(blk[4:]))*extentEntryLen
}

func (f *FS) verifyExtentBlock(ino uint32, in *inode, b uint64, blk []byte) error {
	if !f.sb.hasMetadataCsum() {
		return nil
	}
	if _, _, _, err := parseExtentHeader(blk); err != nil {
		return corruptf("inode %d: extent block %d: %v", ino, b, err)
	}
	t := extentTailOffset(blk)
	if t+4 > len(blk) {
		return corruptf("inode %d: extent block %d has no room for its checksum", ino, b)
	}
	if got, want := le.Uint32(blk[t:]), crc32c(in.csumSeed(ino, f.seed), blk[:t]); got != want {
		return corruptf("inode %d: extent block %d: checksum 0x%08x, computed 0x%08x", ino, b, got, want)
	}
	return nil
}

type indirectWalk struct {
	f    *FS
	ino  uint32
	m    *blockMap
	seen map[uint64]bool
	next uint64 // next logical block
}

// walk maps the 12 direct pointers and the single, double and triple
// indirect trees of an old-style inode, up to nblocks file blocks.
func (w *indirectWalk) walk(iblock []byte, nblocks uint64) error {
	for i := range 15 {
		if w.next >= nblocks {
			break
		}
		p := uint64(le.Uint32(iblock[4*i:]))
		level := max(i-11, 0)
		if err := w.pointer(p, level, nblocks); err != nil {
			return err
		}
	}
	return nil
}

// pointer handles one block pointer of the given indirection level,
// covering the next span of logical blocks.
func (w *indirectWalk) pointer(p uint64, level int, nblocks uint64) error {
	per := w.f.bs / 4
	span := uint64(1)
	for range level {
		span *= per
	}
	if p == 0 {
		w.next += span // a hole
		return nil
	}
	if !w.f.checkBlock(p, 1) {
		return corruptf("inode %d: block pointer %d for file block %d", w.ino, p, w.next)
	}
	if level == 0 {
		w.add(p)
		return nil
	}
	if w.seen[p] {
		return corruptf("inode %d: indirect block %d used twice", w.ino, p)
	}
	w.seen[p] = true
	w.m.meta = append(w.m.meta, p)
	blk, err := w.f.meta(p)
	if err != nil {
		return fmt.Errorf("inode %d: %w", w.ino, err)
	}
	blk = slices.Clone(blk) // the cache may be trimmed while we recurse
	for i := uint64(0); i < per && w.next < nblocks; i++ {
		if err := w.pointer(uint64(le.Uint32(blk[4*i:])), level-1, nblocks); err != nil {
			return err
		}
	}
	return nil
}

func (w *indirectWalk) add(p uint64) {
	lb := uint32(w.next)
	w.next++
	if n := len(w.m.extents); n > 0 {
		last := &w.m.extents[n-1]
		if last.logical+last.length == lb && last.physical+uint64(last.length) == p && last.length < maxExtentLen {
			last.length++
			return
		}
	}
	w.m.extents = append(w.m.extents, extent{logical: lb, physical: p, length: 1})
}
