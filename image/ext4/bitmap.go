package ext4

import (
	"math/bits"
)

func bitSet(bm []byte, i uint32) bool { return bm[i/8]&(1<<(i%8)) != 0 }
func setBit(bm []byte, i uint32)      { bm[i/8] |= 1 << (i % 8) }
func clearBit(bm []byte, i uint32)    { bm[i/8] &^= 1 << (i % 8) }

// countZeros counts clear bits in bm[0:n bits).
func countZeros(bm []byte, n uint32) uint32 {
	var ones uint32
	for i := uint32(0); i < n/8; i++ {
		ones += uint32(bits.OnesCount8(bm[i]))
	}
	for i := n &^ 7; i < n; i++ {
		if bitSet(bm, i) {
			ones++
		}
	}
	return n - ones
}

// blockBitmap returns group g's block bitmap through the cache: read and
// verified, or made up for a group whose bitmap was never initialised.
func (f *FS) blockBitmap(g uint32) ([]byte, error) {
	d := f.desc(g)
	b := d.blockBitmap()
	if c, ok := f.cache[b]; ok {
		return c.data, nil
	}
	if f.uninit(g, bgBlockUninit) {
		bm, err := f.synthBlockBitmap(g)
		if err != nil {
			return nil, err
		}
		f.cache[b] = &cachedBlock{data: bm}
		return bm, nil
	}
	bm, err := f.meta(b)
	if err != nil {
		return nil, err
	}
	if err := f.verifyBitmap(d, g, b, "block", bm[:f.sb.blocksPerGroup/8], d.blockBitmapCsum(), gdBlockBitmapCsumH); err != nil {
		return nil, err
	}
	return bm, nil
}

// synthBlockBitmap builds the bitmap of a BLOCK_UNINIT group: in use are
// its superblock and descriptor copies and whatever group metadata (of any
// group, with flex_bg) lies inside it, plus the padding past its end.
func (f *FS) synthBlockBitmap(g uint32) ([]byte, error) {
	sb := f.sb
	bm := make([]byte, f.bs)
	start, n := sb.groupFirstBlock(g), uint64(sb.groupBlocks(g))
	mark := func(b, count uint64) {
		for ; count > 0; b, count = b+1, count-1 {
			if b >= start && b < start+n {
				setBit(bm, uint32(b-start))
			}
		}
	}
	if sb.hasSuperBackup(g) {
		mark(start, 1+sb.gdtBlocks()+uint64(sb.reservedGDT))
	}
	itableBlocks := (uint64(sb.inodesPerGroup)*uint64(sb.inodeSize) + f.bs - 1) / f.bs
	for h := range sb.groupCount {
		d := f.desc(h)
		mark(d.blockBitmap(), 1)
		mark(d.inodeBitmap(), 1)
		mark(d.inodeTable(), itableBlocks)
	}
	for i := uint32(n); i < uint32(f.bs*8); i++ {
		setBit(bm, i)
	}
	if free := countZeros(bm, uint32(n)); free != f.desc(g).freeBlocks() {
		return nil, corruptf("group %d: uninitialised block bitmap would have %d free blocks, descriptor says %d",
			g, free, f.desc(g).freeBlocks())
	}
	return bm, nil
}

// inodeBitmap returns group g's inode bitmap through the cache.
func (f *FS) inodeBitmap(g uint32) ([]byte, error) {
	d := f.desc(g)
	b := d.inodeBitmap()
	if c, ok := f.cache[b]; ok {
		return c.data, nil
	}
	if f.uninit(g, bgInodeUninit) {
		bm := make([]byte, f.bs)
		for i := f.sb.inodesPerGroup; i < uint32(f.bs*8); i++ {
			setBit(bm, i)
		}
		f.cache[b] = &cachedBlock{data: bm}
		return bm, nil
	}
	bm, err := f.meta(b)
	if err != nil {
		return nil, err
	}
	if err := f.verifyBitmap(d, g, b, "inode", bm[:f.sb.inodesPerGroup/8], d.inodeBitmapCsum(), gdInodeBitmapCsumH); err != nil {
		return nil, err
	}
	return bm, nil
}

// verifyBitmap checks a bitmap read from block b against the checksum its
// group descriptor keeps (only the low 16 bits of it in a 32-byte
// descriptor, whose high half at hiOffset does not exist), and drops it
// from the cache when it does not match.
func (f *FS) verifyBitmap(d groupDesc, g uint32, b uint64, kind string, bits []byte, got uint32, hiOffset int) error {
	if !f.sb.hasMetadataCsum() {
		return nil
	}
	want := crc32c(f.seed, bits)
	if len(d.raw) < hiOffset+2 {
		want &= 0xFFFF
	}
	if got != want {
		delete(f.cache, b)
		return corruptf("group %d: %s bitmap checksum 0x%x, computed 0x%x", g, kind, got, want)
	}
	return nil
}

// Range is a span of bytes of the device.
type Range struct {
	Off, Len int64
}

// UsedRanges lists the byte ranges of the device the filesystem uses
// (allocated blocks, the boot block and superblock included), in order and
// merged where adjacent: what must be copied to reproduce the filesystem
// on a zeroed device.
func (f *FS) UsedRanges() ([]Range, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sb := f.sb
	var out []Range
	add := func(off, n int64) {
		if k := len(out); k > 0 && out[k-1].Off+out[k-1].Len == off {
			out[k-1].Len += n
			return
		}
		out = append(out, Range{off, n})
	}
	// The boot block and the superblock, outside any group with 1 KiB blocks.
	add(0, int64(uint64(sb.firstDataBlock)*f.bs))
	bs := int64(f.bs)
	for g := range sb.groupCount {
		bm, err := f.blockBitmap(g)
		if err != nil {
			return nil, err
		}
		start := int64(sb.groupFirstBlock(g))
		n := sb.groupBlocks(g)
		for i := uint32(0); i < n; {
			if i%64 == 0 && i+64 <= n && le.Uint64(bm[i/8:]) == 0 {
				i += 64
				continue
			}
			if bitSet(bm, i) {
				add((start+int64(i))*bs, bs)
			}
			i++
		}
	}
	if len(out) > 0 && out[0].Len == 0 {
		out = out[1:]
	}
	return out, nil
}
