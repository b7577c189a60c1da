package ext4

// Group descriptor field offsets (group_descr.rst). The _hi halves exist
// only in descriptors of 64 bytes or more (64bit feature).
const (
	gdBlockBitmapLo    = 0x0
	gdInodeBitmapLo    = 0x4
	gdInodeTableLo     = 0x8
	gdFreeBlocksLo     = 0xC
	gdFreeInodesLo     = 0xE
	gdUsedDirsLo       = 0x10
	gdFlags            = 0x12
	gdBlockBitmapCsum  = 0x18
	gdInodeBitmapCsum  = 0x1A
	gdItableUnusedLo   = 0x1C
	gdChecksum         = 0x1E
	gdBlockBitmapHi    = 0x20
	gdInodeBitmapHi    = 0x24
	gdInodeTableHi     = 0x28
	gdFreeBlocksHi     = 0x2C
	gdFreeInodesHi     = 0x2E
	gdUsedDirsHi       = 0x30
	gdItableUnusedHi   = 0x32
	gdBlockBitmapCsumH = 0x38
	gdInodeBitmapCsumH = 0x3A

	bgInodeUninit  = 0x1
	bgBlockUninit  = 0x2
	bgItableZeroed = 0x4
)

// groupDesc is one descriptor, a window onto the in-memory table.
type groupDesc struct {
	raw  []byte
	wide bool // 64-byte (or larger) descriptor
}

func (d groupDesc) get(lo, hi int, size int) uint64 {
	var v uint64
	if size == 4 {
		v = uint64(le.Uint32(d.raw[lo:]))
		if d.wide {
			v |= uint64(le.Uint32(d.raw[hi:])) << 32
		}
	} else {
		v = uint64(le.Uint16(d.raw[lo:]))
		if d.wide {
			v |= uint64(le.Uint16(d.raw[hi:])) << 16
		}
	}
	return v
}

func (d groupDesc) set(lo, hi int, size int, v uint64) {
	if size == 4 {
		le.PutUint32(d.raw[lo:], uint32(v))
		if d.wide {
			le.PutUint32(d.raw[hi:], uint32(v>>32))
		}
	} else {
		le.PutUint16(d.raw[lo:], uint16(v))
		if d.wide {
			le.PutUint16(d.raw[hi:], uint16(v>>16))
		}
	}
}

func (d groupDesc) blockBitmap() uint64 { return d.get(gdBlockBitmapLo, gdBlockBitmapHi, 4) }
func (d groupDesc) inodeBitmap() uint64 { return d.get(gdInodeBitmapLo, gdInodeBitmapHi, 4) }
func (d groupDesc) inodeTable() uint64  { return d.get(gdInodeTableLo, gdInodeTableHi, 4) }
func (d groupDesc) freeBlocks() uint32  { return uint32(d.get(gdFreeBlocksLo, gdFreeBlocksHi, 2)) }
func (d groupDesc) freeInodes() uint32  { return uint32(d.get(gdFreeInodesLo, gdFreeInodesHi, 2)) }
func (d groupDesc) usedDirs() uint32    { return uint32(d.get(gdUsedDirsLo, gdUsedDirsHi, 2)) }
func (d groupDesc) itableUnused() uint32 {
	return uint32(d.get(gdItableUnusedLo, gdItableUnusedHi, 2))
}
func (d groupDesc) flags() uint16 { return le.Uint16(d.raw[gdFlags:]) }

func (d groupDesc) setFreeBlocks(n uint32) { d.set(gdFreeBlocksLo, gdFreeBlocksHi, 2, uint64(n)) }
func (d groupDesc) setFreeInodes(n uint32) { d.set(gdFreeInodesLo, gdFreeInodesHi, 2, uint64(n)) }
func (d groupDesc) setUsedDirs(n uint32)   { d.set(gdUsedDirsLo, gdUsedDirsHi, 2, uint64(n)) }
func (d groupDesc) setItableUnused(n uint32) {
	d.set(gdItableUnusedLo, gdItableUnusedHi, 2, uint64(n))
}
func (d groupDesc) setFlags(f uint16) { le.PutUint16(d.raw[gdFlags:], f) }

func (d groupDesc) setBlockBitmapCsum(c uint32) {
	le.PutUint16(d.raw[gdBlockBitmapCsum:], uint16(c))
	if len(d.raw) >= gdBlockBitmapCsumH+2 {
		le.PutUint16(d.raw[gdBlockBitmapCsumH:], uint16(c>>16))
	}
}

func (d groupDesc) setInodeBitmapCsum(c uint32) {
	le.PutUint16(d.raw[gdInodeBitmapCsum:], uint16(c))
	if len(d.raw) >= gdInodeBitmapCsumH+2 {
		le.PutUint16(d.raw[gdInodeBitmapCsumH:], uint16(c>>16))
	}
}

func (d groupDesc) blockBitmapCsum() uint32 {
	c := uint32(le.Uint16(d.raw[gdBlockBitmapCsum:]))
	if len(d.raw) >= gdBlockBitmapCsumH+2 {
		c |= uint32(le.Uint16(d.raw[gdBlockBitmapCsumH:])) << 16
	}
	return c
}

func (d groupDesc) inodeBitmapCsum() uint32 {
	c := uint32(le.Uint16(d.raw[gdInodeBitmapCsum:]))
	if len(d.raw) >= gdInodeBitmapCsumH+2 {
		c |= uint32(le.Uint16(d.raw[gdInodeBitmapCsumH:])) << 16
	}
	return c
}

// descChecksum computes the descriptor checksum of group g: the low 16 bits
// of a crc32c with metadata_csum, a crc16 with gdt_csum (uninit_bg).
func (s *superblock) descChecksum(g uint32, d groupDesc, seed uint32) uint16 {
	var grp [4]byte
	le.PutUint32(grp[:], g)
	if s.hasMetadataCsum() {
		c := crc32c(seed, grp[:])
		c = crc32c(c, d.raw[:gdChecksum])
		c = crc32c(c, []byte{0, 0})
		c = crc32c(c, d.raw[gdChecksum+2:])
		return uint16(c)
	}
	c := crc16(0xFFFF, s.uuid())
	c = crc16(c, grp[:])
	c = crc16(c, d.raw[:gdChecksum])
	if len(d.raw) > gdChecksum+2 {
		c = crc16(c, d.raw[gdChecksum+2:])
	}
	return c
}
