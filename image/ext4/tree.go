package ext4

import (
	"fmt"
)

// appendExtent adds blocks to an extent list, merging with the last
// extent when they continue it on disk.
func appendExtent(exts []extent, logical uint32, physical uint64, n uint32) []extent {
	for n > 0 {
		if k := len(exts); k > 0 {
			last := &exts[k-1]
			if !last.unwritten && last.logical+last.length == logical &&
				last.physical+uint64(last.length) == physical && last.length < maxExtentLen {
				add := min(n, maxExtentLen-last.length)
				last.length += add
				logical, physical, n = logical+add, physical+uint64(add), n-add
				continue
			}
		}
		add := min(n, maxExtentLen)
		exts = append(exts, extent{logical: logical, physical: physical, length: add})
		logical, physical, n = logical+add, physical+uint64(add), n-add
	}
	return exts
}

// treeBlocksFor is how many tree blocks an extent tree of n extents needs.
func (f *FS) treeBlocksFor(n int) int {
	per := int(f.bs-extentHeaderLen) / extentEntryLen
	total := 0
	for n > rootExtents {
		n = (n + per - 1) / per
		total += n
	}
	return total
}

// storeExtents makes exts the extent tree of inode ino: in i_block when
// four or fewer, else in tree blocks, reusing the blocks in reuse (the old
// tree) before allocating, and freeing what is left over. It returns the
// change in tree blocks. The inode's generation must be final: tree block
// checksums depend on it.
func (f *FS) storeExtents(ino uint32, in *inode, exts []extent, reuse []uint64, goal uint64) (int, error) {
	need := f.treeBlocksFor(len(exts))
	delta := need - len(reuse)
	blocks := make([]uint64, 0, need)
	for len(blocks) < need && len(reuse) > 0 {
		blocks, reuse = append(blocks, reuse[0]), reuse[1:]
	}
	for len(blocks) < need {
		b, n, err := f.allocBlocks(goal, uint32(need-len(blocks)), uint32(need-len(blocks)))
		if err != nil {
			return 0, err
		}
		for i := range uint64(n) {
			blocks = append(blocks, b+i)
		}
		goal = b + uint64(n)
	}
	for _, b := range reuse {
		if err := f.freeBlocks(b, 1); err != nil {
			return 0, err
		}
	}

	// Build bottom-up: entries of the current level, as (first logical
	// block, 12-byte entry).
	type entry struct {
		logical uint32
		raw     [extentEntryLen]byte
	}
	level := make([]entry, len(exts))
	for i, e := range exts {
		length := e.length
		if e.unwritten {
			length += maxExtentLen
		}
		le.PutUint32(level[i].raw[0:], e.logical)
		le.PutUint16(level[i].raw[4:], uint16(length))
		le.PutUint16(level[i].raw[6:], uint16(e.physical>>32))
		le.PutUint32(level[i].raw[8:], uint32(e.physical))
		level[i].logical = e.logical
	}
	per := int(f.bs-extentHeaderLen) / extentEntryLen
	depth := 0
	seed := in.csumSeed(ino, f.seed)
	for len(level) > rootExtents {
		var up []entry
		for i := 0; i < len(level); i += per {
			chunk := level[i:min(i+per, len(level))]
			b := blocks[0]
			blocks = blocks[1:]
			buf := f.metaNew(b)
			putExtentHeader(buf, len(chunk), per, depth)
			for j, e := range chunk {
				copy(buf[extentHeaderLen+j*extentEntryLen:], e.raw[:])
			}
			if f.sb.hasMetadataCsum() {
				t := extentTailOffset(buf)
				le.PutUint32(buf[t:], crc32c(seed, buf[:t]))
			}
			var idx entry
			idx.logical = chunk[0].logical
			le.PutUint32(idx.raw[0:], chunk[0].logical)
			le.PutUint32(idx.raw[4:], uint32(b))
			le.PutUint16(idx.raw[8:], uint16(b>>32))
			up = append(up, idx)
		}
		level = up
		depth++
	}
	root := in.iBlock()
	clear(root)
	putExtentHeader(root, len(level), rootExtents, depth)
	for j, e := range level {
		copy(root[extentHeaderLen+j*extentEntryLen:], e.raw[:])
	}
	in.setFlags(in.flags() | flagExtents)
	return delta, nil
}

func putExtentHeader(buf []byte, entries, max, depth int) {
	le.PutUint16(buf[0:], extentMagic)
	le.PutUint16(buf[2:], uint16(entries))
	le.PutUint16(buf[4:], uint16(max))
	le.PutUint16(buf[6:], uint16(depth))
	le.PutUint32(buf[8:], 0)
}

// freeData releases every block inode ino holds: data, tree or indirect
// blocks, and its share of an extended attribute block.
func (f *FS) freeData(ino uint32, in *inode) error {
	m, err := f.blockMap(ino, in)
	if err != nil {
		return err
	}
	for _, e := range m.extents {
		if err := f.freeBlocks(e.physical, uint64(e.length)); err != nil {
			return fmt.Errorf("inode %d: %w", ino, err)
		}
	}
	for _, b := range m.meta {
		if err := f.freeBlocks(b, 1); err != nil {
			return fmt.Errorf("inode %d: %w", ino, err)
		}
	}
	if acl := in.fileACL(); acl != 0 {
		if err := f.releaseXattrBlock(ino, acl); err != nil {
			return err
		}
		in.setFileACL(0)
	}
	return nil
}

// Extended attribute block header (attributes.rst).
const (
	xattrMagic    = 0xEA020000
	xattrRefcount = 4
	xattrBlocks   = 8
	xattrChecksum = 16
)

// releaseXattrBlock drops one reference to a shared attribute block,
// freeing it with the last.
func (f *FS) releaseXattrBlock(ino uint32, b uint64) error {
	buf, err := f.meta(b)
	if err != nil {
		return fmt.Errorf("inode %d: attribute block: %w", ino, err)
	}
	if m := le.Uint32(buf); m != xattrMagic || le.Uint32(buf[xattrBlocks:]) != 1 {
		return corruptf("inode %d: attribute block %d: magic 0x%08x", ino, b, m)
	}
	refs := le.Uint32(buf[xattrRefcount:])
	if refs <= 1 {
		return f.freeBlocks(b, 1)
	}
	buf, err = f.metaWrite(b)
	if err != nil {
		return err
	}
	le.PutUint32(buf[xattrRefcount:], refs-1)
	if f.sb.hasMetadataCsum() {
		var nr [8]byte
		le.PutUint64(nr[:], b)
		c := crc32c(f.seed, nr[:])
		c = crc32c(c, buf[:xattrChecksum])
		c = crc32c(c, []byte{0, 0, 0, 0})
		c = crc32c(c, buf[xattrChecksum+4:])
		le.PutUint32(buf[xattrChecksum:], c)
	}
	return nil
}
