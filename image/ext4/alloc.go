package ext4

import (
	"fmt"
)

// blockBitmapWrite returns group g's block bitmap for modification,
// initialising it (clearing BLOCK_UNINIT) if it never was.
func (f *FS) blockBitmapWrite(g uint32) ([]byte, error) {
	bm, err := f.blockBitmap(g)
	if err != nil {
		return nil, err
	}
	f.markDirty(f.desc(g).blockBitmap(), bm)
	f.tx.blockBitmap[g] = true
	if f.uninit(g, bgBlockUninit) {
		d := f.descWrite(g)
		d.setFlags(d.flags() &^ bgBlockUninit)
	}
	return bm, nil
}

// inodeBitmapWrite returns group g's inode bitmap for modification,
// initialising it (clearing INODE_UNINIT) if it never was.
func (f *FS) inodeBitmapWrite(g uint32) ([]byte, error) {
	bm, err := f.inodeBitmap(g)
	if err != nil {
		return nil, err
	}
	f.markDirty(f.desc(g).inodeBitmap(), bm)
	f.tx.inodeBitmap[g] = true
	if f.uninit(g, bgInodeUninit) {
		d := f.descWrite(g)
		d.setFlags(d.flags() &^ bgInodeUninit)
	}
	return bm, nil
}

// groupOfBlock is the group holding block b.
func (f *FS) groupOfBlock(b uint64) uint32 {
	return uint32((b - uint64(f.sb.firstDataBlock)) / uint64(f.sb.blocksPerGroup))
}

// groupOfInode is the group holding inode ino.
func (f *FS) groupOfInode(ino uint32) uint32 { return (ino - 1) / f.sb.inodesPerGroup }

// allocInode takes a free inode, preferring group goal and groups whose
// inode tables are already initialised, and keeps the group's counts,
// flags and unused-inode mark right.
func (f *FS) allocInode(goal uint32, dir bool) (uint32, error) {
	sb := f.sb
	if sb.freeInodes() == 0 {
		return 0, fmt.Errorf("%w: no free inodes (1 needed)", ErrNoSpace)
	}
	for pass := range 2 {
		for i := range sb.groupCount {
			g := (goal + i) % sb.groupCount
			if f.desc(g).freeInodes() == 0 || (pass == 0 && f.uninit(g, bgInodeUninit)) {
				continue
			}
			ino, err := f.allocInodeIn(g, dir)
			if err != nil || ino != 0 {
				return ino, err
			}
		}
	}
	return 0, fmt.Errorf("%w: no free inodes (1 needed)", ErrNoSpace)
}

func (f *FS) allocInodeIn(g uint32, dir bool) (uint32, error) {
	sb := f.sb
	bm, err := f.inodeBitmap(g)
	if err != nil {
		return 0, err
	}
	first := uint32(0)
	if g == 0 {
		first = sb.firstIno - 1
	}
	idx := first
	for ; idx < sb.inodesPerGroup && bitSet(bm, idx); idx++ {
	}
	if idx >= sb.inodesPerGroup {
		return 0, corruptf("group %d: descriptor says %d inodes free, bitmap has none", g, f.desc(g).freeInodes())
	}
	if bm, err = f.inodeBitmapWrite(g); err != nil {
		return 0, err
	}
	setBit(bm, idx)
	if f.uninit(g, bgBlockUninit) {
		// As the kernel does: a group with inodes in use gets a real
		// block bitmap.
		if _, err := f.blockBitmapWrite(g); err != nil {
			return 0, err
		}
	}
	d := f.descWrite(g)
	d.setFreeInodes(d.freeInodes() - 1)
	if dir {
		d.setUsedDirs(d.usedDirs() + 1)
	}
	if sb.hasGroupCsum() {
		used := sb.inodesPerGroup - d.itableUnused()
		if idx >= used {
			if d.flags()&bgItableZeroed == 0 {
				// Inodes below the new mark will be read by e2fsck: make
				// sure they are not leftovers of an unzeroed table.
				for i := used; i < idx; i++ {
					if err := f.zeroInode(g*sb.inodesPerGroup + i + 1); err != nil {
						return 0, err
					}
				}
			}
			d.setItableUnused(sb.inodesPerGroup - idx - 1)
		}
	}
	sb.setFreeInodes(sb.freeInodes() - 1)
	return g*sb.inodesPerGroup + idx + 1, nil
}

func (f *FS) zeroInode(ino uint32) error {
	blk, off, err := f.inodeLocation(ino)
	if err != nil {
		return err
	}
	buf, err := f.metaWrite(blk)
	if err != nil {
		return err
	}
	clear(buf[off : off+uint64(f.sb.inodeSize)])
	return nil
}

// freeInode releases inode ino in its group's bitmap and counts.
func (f *FS) freeInode(ino uint32, dir bool) error {
	sb := f.sb
	g, idx := f.groupOfInode(ino), (ino-1)%sb.inodesPerGroup
	bm, err := f.inodeBitmapWrite(g)
	if err != nil {
		return err
	}
	if !bitSet(bm, idx) {
		return corruptf("inode %d is already free in its bitmap", ino)
	}
	clearBit(bm, idx)
	d := f.descWrite(g)
	d.setFreeInodes(d.freeInodes() + 1)
	if dir {
		if d.usedDirs() == 0 {
			return corruptf("group %d: directory count already 0", g)
		}
		d.setUsedDirs(d.usedDirs() - 1)
	}
	sb.setFreeInodes(sb.freeInodes() + 1)
	return nil
}

// findRun looks through bitmap bits [from, n) for a clear run of at least
// want bits; failing that it returns the longest run seen.
func findRun(bm []byte, from, n, want uint32) (start, length uint32, ok bool) {
	var bestStart, bestLen uint32
	for i := from; i < n; {
		if i%64 == 0 && i+64 <= n && le.Uint64(bm[i/8:]) == ^uint64(0) {
			i += 64
			continue
		}
		if bitSet(bm, i) {
			i++
			continue
		}
		s := i
		for i < n && !bitSet(bm, i) && i-s < want {
			if i%64 == 0 && i+64 <= n && i-s+64 <= want && le.Uint64(bm[i/8:]) == 0 {
				i += 64
				continue
			}
			i++
		}
		if i-s >= want {
			return s, i - s, true
		}
		if i-s > bestLen {
			bestStart, bestLen = s, i-s
		}
	}
	return bestStart, bestLen, false
}

// allocBlocks takes up to take contiguous free blocks, searching from goal
// onwards for a run of at least want (the whole file when its size is
// known) and falling back to the longest run found. It returns the first
// block and how many it took (at least one).
func (f *FS) allocBlocks(goal uint64, want, take uint32) (uint64, uint32, error) {
	sb := f.sb
	if sb.freeBlocks() == 0 {
		return 0, 0, fmt.Errorf("%w: no free blocks", ErrNoSpace)
	}
	want = max(want, take, 1)
	if goal < uint64(sb.firstDataBlock) || goal >= sb.blocksCount {
		goal = uint64(sb.firstDataBlock)
	}
	goalGroup := f.groupOfBlock(goal)
	var bestGroup, bestStart, bestLen uint32
	found := false
	// Groups from the goal's onwards, the goal group again at the end for
	// the part before the goal.
	for i := uint32(0); i <= sb.groupCount && !found; i++ {
		g := (goalGroup + i) % sb.groupCount
		free := f.desc(g).freeBlocks()
		if free == 0 {
			continue
		}
		from, to := uint32(0), sb.groupBlocks(g)
		switch i {
		case 0:
			from = uint32(goal - sb.groupFirstBlock(g))
		case sb.groupCount:
			to = min(uint32(goal-sb.groupFirstBlock(g))+want, to)
		}
		if free < want && bestLen >= free {
			continue
		}
		bm, err := f.blockBitmap(g)
		if err != nil {
			return 0, 0, err
		}
		s, n, ok := findRun(bm, from, to, want)
		if ok || n > bestLen {
			bestGroup, bestStart, bestLen, found = g, s, n, ok
		}
	}
	if bestLen == 0 {
		return 0, 0, corruptf("superblock says %d blocks free, bitmaps have none", sb.freeBlocks())
	}
	n := min(take, bestLen)
	if err := f.markBlocks(bestGroup, bestStart, n, true); err != nil {
		return 0, 0, err
	}
	start := sb.groupFirstBlock(bestGroup) + uint64(bestStart)
	return start, n, nil
}

// markBlocks sets (used) or clears bits [start, start+n) of group g and
// adjusts the free counts.
func (f *FS) markBlocks(g, start, n uint32, used bool) error {
	bm, err := f.blockBitmapWrite(g)
	if err != nil {
		return err
	}
	for i := start; i < start+n; i++ {
		if bitSet(bm, i) == used {
			b := f.sb.groupFirstBlock(g) + uint64(i)
			if used {
				return corruptf("block %d is already in use", b)
			}
			return corruptf("block %d is already free", b)
		}
		if used {
			setBit(bm, i)
		} else {
			clearBit(bm, i)
		}
	}
	d := f.descWrite(g)
	if used {
		d.setFreeBlocks(d.freeBlocks() - n)
		f.sb.setFreeBlocks(f.sb.freeBlocks() - uint64(n))
	} else {
		d.setFreeBlocks(d.freeBlocks() + n)
		f.sb.setFreeBlocks(f.sb.freeBlocks() + uint64(n))
	}
	return nil
}

// freeBlocks releases n blocks from start, which may span groups.
func (f *FS) freeBlocks(start uint64, n uint64) error {
	if !f.checkBlock(start, n) {
		return corruptf("freeing blocks %d..%d outside the filesystem", start, start+n)
	}
	for n > 0 {
		g := f.groupOfBlock(start)
		off := uint32(start - f.sb.groupFirstBlock(g))
		k := min(n, uint64(f.sb.groupBlocks(g)-off))
		if err := f.markBlocks(g, off, uint32(k), false); err != nil {
			return err
		}
		start += k
		n -= k
	}
	return nil
}
