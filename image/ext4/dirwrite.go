package ext4

import (
	"fmt"
)

// putDirent writes an entry at off spanning recLen bytes.
func (f *FS) putDirent(buf []byte, off, recLen int, ino uint32, name []byte, ftype uint8) {
	le.PutUint32(buf[off:], ino)
	le.PutUint16(buf[off+4:], f.encodeRecLen(recLen))
	buf[off+6] = byte(len(name))
	if f.sb.hasFiletype() {
		buf[off+7] = ftype
	} else {
		buf[off+7] = byte(len(name) >> 8)
	}
	copy(buf[off+direntHeaderLen:], name)
	clear(buf[off+direntHeaderLen+len(name) : off+min(recLen, direntLen(len(name)))])
}

// leafEnd is where entries stop in a leaf block: before the checksum
// tail with metadata_csum.
func (f *FS) leafEnd() int {
	if f.sb.hasMetadataCsum() {
		return int(f.bs) - dirTailLen
	}
	return int(f.bs)
}

// sealLeaf writes the checksum tail of a modified leaf block.
func (f *FS) sealLeaf(dirIno uint32, dir *inode, buf []byte) {
	if !f.sb.hasMetadataCsum() {
		return
	}
	t := buf[len(buf)-dirTailLen:]
	clear(t)
	le.PutUint16(t[4:], dirTailLen)
	t[7] = dirTailType
	le.PutUint32(t[8:], crc32c(dir.csumSeed(dirIno, f.seed), buf[:len(buf)-dirTailLen]))
}

// leafForWrite reads leaf block lb for modification and parses it. A
// metadata_csum leaf written before checksums were enabled gets room for
// its tail, or is refused.
func (f *FS) leafForWrite(dirIno uint32, dir *inode, phys uint64, lb uint32) ([]byte, []dirent, error) {
	buf, err := f.meta(phys)
	if err != nil {
		return nil, nil, err
	}
	ents, err := f.parseDirents(dirIno, dir, lb, buf)
	if err != nil {
		return nil, nil, err
	}
	if buf, err = f.metaWrite(phys); err != nil {
		return nil, nil, err
	}
	if f.sb.hasMetadataCsum() && !hasDirTail(buf) {
		last := &ents[len(ents)-1]
		used := 0
		if last.ino != 0 {
			used = direntLen(len(last.name))
		}
		if last.recLen-used < dirTailLen || (last.ino == 0 && last.recLen == dirTailLen) {
			return nil, nil, corruptf("directory inode %d block %d: no checksum tail and no room for one", dirIno, lb)
		}
		last.recLen -= dirTailLen
		le.PutUint16(buf[last.off+4:], f.encodeRecLen(last.recLen))
	}
	return buf, ents, nil
}

// insertInBlock puts an entry into a leaf block if it fits, returning
// whether it did.
func (f *FS) insertInBlock(buf []byte, ents []dirent, name []byte, ino uint32, ftype uint8) bool {
	need := direntLen(len(name))
	for _, e := range ents {
		if e.ino == 0 {
			if e.recLen >= need {
				f.putDirent(buf, e.off, e.recLen, ino, name, ftype)
				return true
			}
			continue
		}
		used := direntLen(len(e.name))
		if e.recLen-used >= need {
			le.PutUint16(buf[e.off+4:], f.encodeRecLen(used))
			f.putDirent(buf, e.off+used, e.recLen-used, ino, name, ftype)
			return true
		}
	}
	return false
}

// addEntry links name to ino in directory dir (whose inode the caller
// writes back afterwards: the directory may grow).
func (f *FS) addEntry(dirIno uint32, dir *inode, name []byte, ino uint32, ftype uint8) error {
	if dir.hasIndex() {
		if !f.sb.hasDirIndex() {
			return corruptf("directory inode %d is indexed but the filesystem has no dir_index", dirIno)
		}
		return f.dxAdd(dirIno, dir, name, ino, ftype)
	}
	m, err := f.blockMap(dirIno, dir)
	if err != nil {
		return err
	}
	n, err := f.dirBlocks(dirIno, dir)
	if err != nil {
		return err
	}
	for lb, phys := range mappedBlocks(m, n) {
		buf, err := f.meta(phys)
		if err != nil {
			return err
		}
		area, err := f.leafEntries(dirIno, dir, lb, buf)
		if err != nil {
			return err
		}
		room, err := f.hasRoom(dirIno, lb, area, len(name))
		if err != nil {
			return err
		}
		if !room {
			continue
		}
		buf, ents, err := f.leafForWrite(dirIno, dir, phys, lb)
		if err != nil {
			return err
		}
		if f.insertInBlock(buf, ents, name, ino, ftype) {
			f.sealLeaf(dirIno, dir, buf)
			return nil
		}
	}
	if n == 1 && f.sb.hasDirIndex() {
		// Like the kernel: a directory outgrowing its first block
		// becomes indexed.
		return f.makeIndexed(dirIno, dir, m, name, ino, ftype)
	}
	_, phys, err := f.appendDirBlock(dirIno, dir, m)
	if err != nil {
		return err
	}
	buf := f.metaNew(phys)
	f.putDirent(buf, 0, f.leafEnd(), ino, name, ftype)
	f.sealLeaf(dirIno, dir, buf)
	return nil
}

// hasRoom tells whether an entry with a name of nameLen bytes fits in
// the entries area of a leaf.
func (f *FS) hasRoom(dirIno uint32, lb uint32, area []byte, nameLen int) (bool, error) {
	need := direntLen(nameLen)
	room := false
	err := f.walkDirents(dirIno, lb, area, func(e *dirent) bool {
		used := 0
		if e.ino != 0 {
			used = direntLen(len(e.name))
		}
		room = e.recLen-used >= need
		return !room
	})
	return room, err
}

// appendDirBlock grows a directory by one block, near its last one. It
// updates the extent tree, size and block count in dir and in m.
func (f *FS) appendDirBlock(dirIno uint32, dir *inode, m *blockMap) (uint32, uint64, error) {
	n, err := f.dirBlocks(dirIno, dir)
	if err != nil {
		return 0, 0, err
	}
	goal := f.groupGoal(dirIno)
	if k := len(m.extents); k > 0 {
		goal = m.extents[k-1].physical + uint64(m.extents[k-1].length)
	}
	phys, _, err := f.allocBlocks(goal, 1, 1)
	if err != nil {
		return 0, 0, err
	}
	exts := appendExtent(append([]extent(nil), m.extents...), n, phys, 1)
	delta, err := f.storeExtents(dirIno, dir, exts, m.meta, phys+1)
	if err != nil {
		return 0, 0, err
	}
	if delta != 0 || len(exts) != len(m.extents) {
		if m2, err := f.blockMap(dirIno, dir); err == nil {
			*m = *m2
		} else {
			return 0, 0, err
		}
	} else {
		m.extents = exts
	}
	dir.setSize(dir.size() + f.bs)
	if err := f.addBlocks(dir, int64(1+delta)); err != nil {
		return 0, 0, err
	}
	return n, phys, nil
}

// addBlocks adjusts i_blocks by n filesystem blocks.
func (f *FS) addBlocks(in *inode, n int64) error {
	cur := int64(in.blocks512(f.sb))
	next := cur + n*int64(f.bs/512)
	if next < 0 || (!f.sb.hasHugeFile() && next >= 1<<32) || next >= 1<<48 {
		return fmt.Errorf("%w: file of %d 512-byte blocks (huge_file is needed past 2 TiB)", ErrUnsupported, next)
	}
	in.setBlocks512(f.sb, uint64(next))
	return nil
}

// groupGoal is where blocks for inode ino go by default: its group.
func (f *FS) groupGoal(ino uint32) uint64 {
	return f.sb.groupFirstBlock(f.groupOfInode(ino))
}

// removeEntry unlinks the entry at loc.
func (f *FS) removeEntry(dirIno uint32, dir *inode, loc *entryLoc) error {
	buf, ents, err := f.leafForWrite(dirIno, dir, loc.phys, loc.lblk)
	if err != nil {
		return err
	}
	var prev *dirent
	for i := range ents {
		if ents[i].off == loc.ent.off {
			break
		}
		prev = &ents[i]
	}
	if prev != nil {
		le.PutUint16(buf[prev.off+4:], f.encodeRecLen(prev.recLen+loc.ent.recLen))
	} else {
		le.PutUint32(buf[loc.ent.off:], 0)
	}
	f.sealLeaf(dirIno, dir, buf)
	return nil
}

// setEntryInode points an existing entry at another inode.
func (f *FS) setEntryInode(dirIno uint32, dir *inode, loc *entryLoc, ino uint32, ftype uint8) error {
	buf, _, err := f.leafForWrite(dirIno, dir, loc.phys, loc.lblk)
	if err != nil {
		return err
	}
	le.PutUint32(buf[loc.ent.off:], ino)
	if f.sb.hasFiletype() {
		buf[loc.ent.off+7] = ftype
	}
	f.sealLeaf(dirIno, dir, buf)
	return nil
}

// setDotDot points a directory's ".." at a new parent.
func (f *FS) setDotDot(dirIno uint32, dir *inode, parent uint32) error {
	m, err := f.blockMap(dirIno, dir)
	if err != nil {
		return err
	}
	_, phys, ok, err := f.dirBlock(dirIno, m, 0)
	if err != nil {
		return err
	}
	if !ok {
		return corruptf("directory inode %d: block 0 is a hole", dirIno)
	}
	if f.indexed(dir) {
		t, _, err := f.dxOpen(dirIno, dir, m)
		if err != nil {
			return err
		}
		buf, err := f.metaWrite(phys)
		if err != nil {
			return err
		}
		le.PutUint32(buf[12:], parent)
		f.sealDx(t, &dxFrame{lblk: 0, phys: phys, countOff: dxRootCountOff}, buf)
		return nil
	}
	buf, ents, err := f.leafForWrite(dirIno, dir, phys, 0)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if string(e.name) == ".." {
			le.PutUint32(buf[e.off:], parent)
			f.sealLeaf(dirIno, dir, buf)
			return nil
		}
	}
	return corruptf("directory inode %d has no \"..\" entry", dirIno)
}

// isEmptyDir tells whether a directory holds nothing but "." and "..".
func (f *FS) isEmptyDir(dirIno uint32, dir *inode) (bool, error) {
	empty := true
	err := f.readDirents(dirIno, dir, func(e dirent) error {
		if n := string(e.name); n != "." && n != ".." {
			empty = false
		}
		return nil
	})
	return empty, err
}
