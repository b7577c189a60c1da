package ext4

import (
	"bytes"
	"fmt"
	"iter"
)

// Directory entry layout (directory.rst): inode u32, rec_len u16, name_len
// u8, file_type u8 (name_len u16 without the filetype feature), name.
const (
	direntHeaderLen = 8
	dirTailLen      = 12 // the fake entry holding a leaf block's checksum
	dirTailType     = 0xDE
	maxNameLen      = 255
)

// dirent is one directory entry in a block; name aliases the block.
type dirent struct {
	off    int
	recLen int
	ino    uint32
	ftype  uint8
	name   []byte
}

// direntLen is the space an entry with a name of n bytes needs.
func direntLen(n int) int { return (direntHeaderLen + n + 3) &^ 3 }

func (f *FS) decodeRecLen(v uint16) int {
	if f.bs < 65536 {
		return int(v)
	}
	if v == 65535 || v == 0 {
		return 65536
	}
	return int(v&65532) | int(v&3)<<16
}

func (f *FS) encodeRecLen(n int) uint16 {
	if n < 65536 {
		return uint16(n)
	}
	if n == 65536 {
		if f.bs == 65536 {
			return 65535
		}
		return 0
	}
	return uint16(n&65532) | uint16(n>>16)&3
}

// hasDirTail tells whether a leaf block ends in the checksum entry.
func hasDirTail(buf []byte) bool {
	t := buf[len(buf)-dirTailLen:]
	return le.Uint32(t) == 0 && le.Uint16(t[4:]) == dirTailLen && t[6] == 0 && t[7] == dirTailType
}

// leafEntries returns the part of a leaf block holding entries (all of it,
// or all but the checksum tail) after verifying the checksum.
func (f *FS) leafEntries(dirIno uint32, dir *inode, lblk uint32, buf []byte) ([]byte, error) {
	end := len(buf)
	if f.sb.hasMetadataCsum() && hasDirTail(buf) {
		end -= dirTailLen
		got, want := le.Uint32(buf[end+8:]), crc32c(dir.csumSeed(dirIno, f.seed), buf[:end])
		if got != want {
			return nil, corruptf("directory inode %d block %d: checksum 0x%08x, computed 0x%08x", dirIno, lblk, got, want)
		}
	}
	return buf[:end], nil
}

// parseDirents splits a directory leaf block into entries (empty ones
// included, the checksum tail excluded) and verifies its checksum.
func (f *FS) parseDirents(dirIno uint32, dir *inode, lblk uint32, buf []byte) ([]dirent, error) {
	area, err := f.leafEntries(dirIno, dir, lblk, buf)
	if err != nil {
		return nil, err
	}
	return f.splitDirents(dirIno, lblk, area)
}

func (f *FS) splitDirents(dirIno uint32, lblk uint32, buf []byte) ([]dirent, error) {
	ents := make([]dirent, 0, 16)
	err := f.walkDirents(dirIno, lblk, buf, func(e *dirent) bool {
		ents = append(ents, *e)
		return true
	})
	return ents, err
}

// walkDirents calls fn for each entry of buf until it returns false,
// checking each entry's shape.
func (f *FS) walkDirents(dirIno uint32, lblk uint32, buf []byte, fn func(e *dirent) bool) error {
	var e dirent
	for off := 0; off < len(buf); {
		if off+direntHeaderLen > len(buf) {
			return corruptf("directory inode %d block %d: entry at %d runs past the block", dirIno, lblk, off)
		}
		e = dirent{off: off, ino: le.Uint32(buf[off:]), recLen: f.decodeRecLen(le.Uint16(buf[off+4:]))}
		nameLen := int(buf[off+6])
		if f.sb.hasFiletype() {
			e.ftype = buf[off+7]
		} else {
			nameLen |= int(buf[off+7]) << 8
		}
		if e.recLen < direntHeaderLen || e.recLen%4 != 0 || off+e.recLen > len(buf) || direntHeaderLen+nameLen > e.recLen {
			return corruptf("directory inode %d block %d: entry at %d has record length %d, name length %d",
				dirIno, lblk, off, e.recLen, nameLen)
		}
		if e.ino != 0 {
			if e.ino > f.sb.inodesCount || nameLen == 0 {
				return corruptf("directory inode %d block %d: entry at %d for inode %d, name length %d",
					dirIno, lblk, off, e.ino, nameLen)
			}
			e.name = buf[off+direntHeaderLen : off+direntHeaderLen+nameLen]
		}
		if !fn(&e) {
			return nil
		}
		off += e.recLen
	}
	return nil
}

// dirBlocks is how many blocks directory dir spans.
func (f *FS) dirBlocks(dirIno uint32, dir *inode) (uint32, error) {
	size := dir.size()
	if size%f.bs != 0 || size/f.bs > 1<<31 {
		return 0, corruptf("directory inode %d: size %d is not a whole number of blocks", dirIno, size)
	}
	return uint32(size / f.bs), nil
}

// mappedBlocks yields the logical and physical numbers of the written
// blocks below n of a block map, in order: a directory's blocks, without
// walking the holes a corrupt size could claim.
func mappedBlocks(m *blockMap, n uint32) iter.Seq2[uint32, uint64] {
	return func(yield func(uint32, uint64) bool) {
		for _, e := range m.extents {
			if e.unwritten {
				continue
			}
			for i := uint32(0); i < e.length && e.logical+i < n; i++ {
				if !yield(e.logical+i, e.physical+uint64(i)) {
					return
				}
			}
		}
	}
}

// dirBlock reads logical block lb of a directory; ok is false for a hole.
func (f *FS) dirBlock(dirIno uint32, m *blockMap, lb uint32) (buf []byte, phys uint64, ok bool, err error) {
	i, found := m.lookup(lb)
	if !found || m.extents[i].unwritten {
		return nil, 0, false, nil
	}
	e := m.extents[i]
	phys = e.physical + uint64(lb-e.logical)
	buf, err = f.meta(phys)
	if err != nil {
		return nil, 0, false, fmt.Errorf("directory inode %d: %w", dirIno, err)
	}
	return buf, phys, true, nil
}

// isDxNode tells whether a block of an indexed directory is an interior
// htree node (one empty entry spanning the block) rather than a leaf.
func (f *FS) isDxNode(buf []byte) bool {
	return le.Uint32(buf) == 0 && f.decodeRecLen(le.Uint16(buf[4:])) == len(buf)
}

// readDirents lists the live entries of a directory, "." and ".." included.
func (f *FS) readDirents(dirIno uint32, dir *inode, fn func(e dirent) error) error {
	n, err := f.dirBlocks(dirIno, dir)
	if err != nil {
		return err
	}
	m, err := f.blockMap(dirIno, dir)
	if err != nil {
		return err
	}
	indexed := dir.hasIndex()
	for lb, phys := range mappedBlocks(m, n) {
		buf, err := f.meta(phys)
		if err != nil {
			return fmt.Errorf("directory inode %d: %w", dirIno, err)
		}
		if indexed && lb > 0 && f.isDxNode(buf) {
			continue
		}
		var ents []dirent
		if indexed && lb == 0 {
			ents, err = f.splitDirents(dirIno, lb, buf) // the root: "." and ".." then the index
		} else {
			ents, err = f.parseDirents(dirIno, dir, lb, buf)
		}
		if err != nil {
			return err
		}
		for _, e := range ents {
			if e.ino != 0 {
				if err := fn(e); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// entryLoc is where a directory entry lives.
type entryLoc struct {
	lblk uint32
	phys uint64
	ent  dirent
	prev int // offset of the entry before it in the block, -1 if first
}

// findEntry looks name up in directory dir: through the htree when the
// directory is indexed, else block by block. It returns nil when absent.
func (f *FS) findEntry(dirIno uint32, dir *inode, m *blockMap, name []byte) (*entryLoc, error) {
	if f.indexed(dir) {
		if string(name) == "." || string(name) == ".." {
			return f.dxDotEntry(dirIno, m, name)
		}
		return f.dxFind(dirIno, dir, m, name)
	}
	n, err := f.dirBlocks(dirIno, dir)
	if err != nil {
		return nil, err
	}
	for lb := range mappedBlocks(m, n) {
		loc, err := f.findInBlock(dirIno, dir, m, lb, name)
		if loc != nil || err != nil {
			return loc, err
		}
	}
	return nil, nil
}

// dxDotEntry finds "." or ".." of an indexed directory: they lead its
// root block, outside any hash range.
func (f *FS) dxDotEntry(dirIno uint32, m *blockMap, name []byte) (*entryLoc, error) {
	buf, phys, ok, err := f.dirBlock(dirIno, m, 0)
	if err != nil || !ok {
		return nil, err
	}
	var loc *entryLoc
	prev, n := -1, 0
	err = f.walkDirents(dirIno, 0, buf, func(e *dirent) bool {
		if e.ino != 0 && bytes.Equal(e.name, name) {
			loc = &entryLoc{lblk: 0, phys: phys, ent: *e, prev: prev}
		}
		prev = e.off
		n++
		return loc == nil && n < 2
	})
	return loc, err
}

// findInBlock looks for name in leaf block lb.
func (f *FS) findInBlock(dirIno uint32, dir *inode, m *blockMap, lb uint32, name []byte) (*entryLoc, error) {
	buf, phys, ok, err := f.dirBlock(dirIno, m, lb)
	if err != nil || !ok {
		return nil, err
	}
	area, err := f.leafEntries(dirIno, dir, lb, buf)
	if err != nil {
		return nil, err
	}
	var loc *entryLoc
	prev := -1
	err = f.walkDirents(dirIno, lb, area, func(e *dirent) bool {
		if e.ino != 0 && bytes.Equal(e.name, name) {
			loc = &entryLoc{lblk: lb, phys: phys, ent: *e, prev: prev}
			return false
		}
		prev = e.off
		return true
	})
	return loc, err
}

// indexed tells whether lookups in dir go through its htree.
func (f *FS) indexed(dir *inode) bool {
	return dir.hasIndex() && f.sb.hasDirIndex()
}

// fastSymlink tells whether a symlink keeps its target in i_block, by the
// rule e2fsprogs uses: a target shorter than i_block.
func (f *FS) fastSymlink(in *inode) bool {
	return in.size() > 0 && in.size() < iBlockSize && !in.hasExtents()
}
