package ext4

import (
	"encoding/binary"
	"fmt"
	"strings"
)

var le = binary.LittleEndian

const (
	superblockOffset = 1024
	superblockSize   = 1024
	superMagic       = 0xEF53
)

// Superblock field offsets (Documentation/filesystems/ext4/super.rst).
const (
	sbInodesCount      = 0x0
	sbBlocksCountLo    = 0x4
	sbRBlocksCountLo   = 0x8
	sbFreeBlocksLo     = 0xC
	sbFreeInodes       = 0x10
	sbFirstDataBlock   = 0x14
	sbLogBlockSize     = 0x18
	sbLogClusterSize   = 0x1C
	sbBlocksPerGroup   = 0x20
	sbClustersPerGroup = 0x24
	sbInodesPerGroup   = 0x28
	sbMagic            = 0x38
	sbState            = 0x3A
	sbRevLevel         = 0x4C
	sbFirstIno         = 0x54
	sbInodeSize        = 0x58
	sbFeatureCompat    = 0x5C
	sbFeatureIncompat  = 0x60
	sbFeatureROCompat  = 0x64
	sbUUID             = 0x68
	sbReservedGDT      = 0xCE
	sbJournalInum      = 0xE0
	sbLastOrphan       = 0xE8
	sbHashSeed         = 0xEC
	sbDefHashVersion   = 0xFC
	sbDescSize         = 0xFE
	sbBlocksCountHi    = 0x150
	sbRBlocksCountHi   = 0x154
	sbFreeBlocksHi     = 0x158
	sbWantExtraIsize   = 0x15E
	sbFlags            = 0x160
	sbChecksumType     = 0x175
	sbBackupBGs        = 0x24C
	sbChecksumSeed     = 0x270
	sbChecksum         = 0x3FC
)

const (
	stateValid  = 0x1
	stateErrors = 0x2

	flagSignedHash   = 0x1
	flagUnsignedHash = 0x2
)

type feature struct {
	bit  uint32
	name string
}

// Feature bits. The name is what mke2fs and dumpe2fs call it.
const (
	compatHasJournal   = 0x4
	compatResizeInode  = 0x10
	compatDirIndex     = 0x20
	compatSparseSuper2 = 0x200

	incompatCompression = 0x1
	incompatFiletype    = 0x2
	incompatRecover     = 0x4
	incompatJournalDev  = 0x8
	incompatMetaBG      = 0x10
	incompatExtents     = 0x40
	incompat64bit       = 0x80
	incompatMMP         = 0x100
	incompatFlexBG      = 0x200
	incompatEAInode     = 0x400
	incompatDirData     = 0x1000
	incompatCsumSeed    = 0x2000
	incompatLargeDir    = 0x4000
	incompatInlineData  = 0x8000
	incompatEncrypt     = 0x10000
	incompatCasefold    = 0x20000

	roCompatSparseSuper   = 0x1
	roCompatLargeFile     = 0x2
	roCompatBtreeDir      = 0x4
	roCompatHugeFile      = 0x8
	roCompatGdtCsum       = 0x10
	roCompatDirNlink      = 0x20
	roCompatExtraIsize    = 0x40
	roCompatHasSnapshot   = 0x80
	roCompatQuota         = 0x100
	roCompatBigalloc      = 0x200
	roCompatMetadataCsum  = 0x400
	roCompatReplica       = 0x800
	roCompatReadonly      = 0x1000
	roCompatProject       = 0x2000
	roCompatSharedBlocks  = 0x4000
	roCompatVerity        = 0x8000
	roCompatOrphanPresent = 0x10000
)

var incompatNames = []feature{
	{incompatCompression, "compression"}, {incompatFiletype, "filetype"},
	{incompatRecover, "needs_recovery"}, {incompatJournalDev, "journal_dev"},
	{incompatMetaBG, "meta_bg"}, {incompatExtents, "extent"}, {incompat64bit, "64bit"},
	{incompatMMP, "mmp"}, {incompatFlexBG, "flex_bg"}, {incompatEAInode, "ea_inode"},
	{incompatDirData, "dirdata"}, {incompatCsumSeed, "metadata_csum_seed"},
	{incompatLargeDir, "large_dir"}, {incompatInlineData, "inline_data"},
	{incompatEncrypt, "encrypt"}, {incompatCasefold, "casefold"},
}

var roCompatNames = []feature{
	{roCompatSparseSuper, "sparse_super"}, {roCompatLargeFile, "large_file"},
	{roCompatBtreeDir, "btree_dir"}, {roCompatHugeFile, "huge_file"},
	{roCompatGdtCsum, "uninit_bg"}, {roCompatDirNlink, "dir_nlink"},
	{roCompatExtraIsize, "extra_isize"}, {roCompatHasSnapshot, "snapshot"},
	{roCompatQuota, "quota"}, {roCompatBigalloc, "bigalloc"},
	{roCompatMetadataCsum, "metadata_csum"}, {roCompatReplica, "replica"},
	{roCompatReadonly, "read-only"}, {roCompatProject, "project"},
	{roCompatSharedBlocks, "shared_blocks"}, {roCompatVerity, "verity"},
	{roCompatOrphanPresent, "orphan_present"},
}

// What this package implements. Reading needs only the incompat set
// understood; writing also needs every ro_compat bit understood.
const (
	incompatReadable = incompatFiletype | incompatExtents | incompat64bit |
		incompatFlexBG | incompatCsumSeed | incompatLargeDir | incompatMMP | incompatEAInode
	incompatWritable = incompatFiletype | incompatExtents | incompat64bit |
		incompatFlexBG | incompatCsumSeed | incompatLargeDir
	roCompatReadable = ^uint32(roCompatBigalloc)
	roCompatWritable = roCompatSparseSuper | roCompatLargeFile | roCompatHugeFile |
		roCompatGdtCsum | roCompatDirNlink | roCompatExtraIsize | roCompatMetadataCsum
)

// featureList names the set bits of mask, unknown ones in hex.
func featureList(mask uint32, names []feature) string {
	var out []string
	for _, f := range names {
		if mask&f.bit != 0 {
			out = append(out, f.name)
			mask &^= f.bit
		}
	}
	for bit := uint32(1); bit != 0; bit <<= 1 {
		if mask&bit != 0 {
			out = append(out, fmt.Sprintf("unknown feature 0x%x", bit))
		}
	}
	return strings.Join(out, ", ")
}

// superblock is the primary superblock: the raw bytes (written back with
// only the counts changed) and the geometry derived from them.
type superblock struct {
	raw []byte

	blockSize      uint32
	blocksCount    uint64
	firstDataBlock uint32
	blocksPerGroup uint32
	inodesPerGroup uint32
	inodesCount    uint32
	inodeSize      uint32
	firstIno       uint32
	groupCount     uint32
	descSize       uint32
	reservedGDT    uint32

	compat, incompat, roCompat uint32
}

func (s *superblock) has64bit() bool        { return s.incompat&incompat64bit != 0 }
func (s *superblock) hasMetadataCsum() bool { return s.roCompat&roCompatMetadataCsum != 0 }
func (s *superblock) hasGdtCsum() bool      { return s.roCompat&roCompatGdtCsum != 0 }
func (s *superblock) hasGroupCsum() bool    { return s.hasMetadataCsum() || s.hasGdtCsum() }
func (s *superblock) hasFiletype() bool     { return s.incompat&incompatFiletype != 0 }
func (s *superblock) hasHugeFile() bool     { return s.roCompat&roCompatHugeFile != 0 }
func (s *superblock) hasDirIndex() bool     { return s.compat&compatDirIndex != 0 }
func (s *superblock) hasDirNlink() bool     { return s.roCompat&roCompatDirNlink != 0 }
func (s *superblock) hasLargeDir() bool     { return s.incompat&incompatLargeDir != 0 }
func (s *superblock) hasLargeFile() bool    { return s.roCompat&roCompatLargeFile != 0 }

func (s *superblock) freeBlocks() uint64 {
	n := uint64(le.Uint32(s.raw[sbFreeBlocksLo:]))
	if s.has64bit() {
		n |= uint64(le.Uint32(s.raw[sbFreeBlocksHi:])) << 32
	}
	return n
}

func (s *superblock) setFreeBlocks(n uint64) {
	le.PutUint32(s.raw[sbFreeBlocksLo:], uint32(n))
	if s.has64bit() {
		le.PutUint32(s.raw[sbFreeBlocksHi:], uint32(n>>32))
	}
}

func (s *superblock) reservedBlocks() uint64 {
	n := uint64(le.Uint32(s.raw[sbRBlocksCountLo:]))
	if s.has64bit() {
		n |= uint64(le.Uint32(s.raw[sbRBlocksCountHi:])) << 32
	}
	return n
}

func (s *superblock) freeInodes() uint32     { return le.Uint32(s.raw[sbFreeInodes:]) }
func (s *superblock) setFreeInodes(n uint32) { le.PutUint32(s.raw[sbFreeInodes:], n) }
func (s *superblock) uuid() []byte           { return s.raw[sbUUID : sbUUID+16] }
func (s *superblock) wantExtraIsize() uint16 { return le.Uint16(s.raw[sbWantExtraIsize:]) }

func (s *superblock) checksum() uint32 { return crc32c(^uint32(0), s.raw[:sbChecksum]) }

func (s *superblock) updateChecksum() {
	if s.hasMetadataCsum() {
		le.PutUint32(s.raw[sbChecksum:], s.checksum())
	}
}

// csumSeed is the seed every metadata_csum checksum starts from.
func (s *superblock) csumSeed() uint32 {
	if s.incompat&incompatCsumSeed != 0 {
		return le.Uint32(s.raw[sbChecksumSeed:])
	}
	return crc32c(^uint32(0), s.uuid())
}

// parseSuperblock decodes and sanity-checks the geometry of a superblock.
// Feature and state policy is applied by Open.
func parseSuperblock(raw []byte) (*superblock, error) {
	s := &superblock{raw: raw}
	if m := le.Uint16(raw[sbMagic:]); m != superMagic {
		return nil, corruptf("superblock: magic 0x%04x, want 0x%04x (not an ext2/3/4 filesystem)", m, superMagic)
	}
	s.compat = le.Uint32(raw[sbFeatureCompat:])
	s.incompat = le.Uint32(raw[sbFeatureIncompat:])
	s.roCompat = le.Uint32(raw[sbFeatureROCompat:])
	if s.roCompat&roCompatBigalloc != 0 {
		return nil, fmt.Errorf("%w: bigalloc", ErrUnsupported)
	}
	if s.hasMetadataCsum() {
		if t := raw[sbChecksumType]; t != 1 {
			return nil, fmt.Errorf("%w: superblock checksum type %d (only crc32c is known)", ErrUnsupported, t)
		}
		if got, want := le.Uint32(raw[sbChecksum:]), s.checksum(); got != want {
			return nil, corruptf("superblock: checksum 0x%08x, computed 0x%08x", got, want)
		}
	}
	logBlock := le.Uint32(raw[sbLogBlockSize:])
	if logBlock > 6 {
		return nil, corruptf("superblock: block size 2^(10+%d)", logBlock)
	}
	s.blockSize = 1024 << logBlock
	s.blocksCount = uint64(le.Uint32(raw[sbBlocksCountLo:]))
	if s.has64bit() {
		s.blocksCount |= uint64(le.Uint32(raw[sbBlocksCountHi:])) << 32
	}
	s.firstDataBlock = le.Uint32(raw[sbFirstDataBlock:])
	s.blocksPerGroup = le.Uint32(raw[sbBlocksPerGroup:])
	s.inodesPerGroup = le.Uint32(raw[sbInodesPerGroup:])
	s.inodesCount = le.Uint32(raw[sbInodesCount:])
	s.reservedGDT = uint32(le.Uint16(raw[sbReservedGDT:]))
	if le.Uint32(raw[sbRevLevel:]) == 0 {
		s.inodeSize, s.firstIno = 128, 11
	} else {
		s.inodeSize = uint32(le.Uint16(raw[sbInodeSize:]))
		s.firstIno = le.Uint32(raw[sbFirstIno:])
	}
	s.descSize = 32
	if s.has64bit() {
		s.descSize = uint32(le.Uint16(raw[sbDescSize:]))
		if s.descSize < 64 || s.descSize > 1024 || s.descSize&(s.descSize-1) != 0 {
			return nil, corruptf("superblock: group descriptor size %d with 64bit", s.descSize)
		}
	}
	bits := s.blockSize * 8
	switch {
	case s.blocksPerGroup == 0 || s.blocksPerGroup > bits || s.blocksPerGroup%8 != 0:
		return nil, corruptf("superblock: %d blocks per group with %d-byte blocks", s.blocksPerGroup, s.blockSize)
	case s.inodesPerGroup == 0 || s.inodesPerGroup > bits || s.inodesPerGroup%8 != 0:
		return nil, corruptf("superblock: %d inodes per group with %d-byte blocks", s.inodesPerGroup, s.blockSize)
	case s.inodeSize < 128 || s.inodeSize > s.blockSize || s.inodeSize&(s.inodeSize-1) != 0:
		return nil, corruptf("superblock: inode size %d", s.inodeSize)
	case s.firstDataBlock != 0 && !(s.blockSize == 1024 && s.firstDataBlock == 1):
		return nil, corruptf("superblock: first data block %d with %d-byte blocks", s.firstDataBlock, s.blockSize)
	case s.blocksCount <= uint64(s.firstDataBlock):
		return nil, corruptf("superblock: %d blocks", s.blocksCount)
	case le.Uint32(raw[sbClustersPerGroup:]) != s.blocksPerGroup && s.roCompat&roCompatBigalloc == 0:
		return nil, corruptf("superblock: %d clusters per group but %d blocks per group without bigalloc",
			le.Uint32(raw[sbClustersPerGroup:]), s.blocksPerGroup)
	}
	groups := (s.blocksCount - uint64(s.firstDataBlock) + uint64(s.blocksPerGroup) - 1) / uint64(s.blocksPerGroup)
	if groups > 1<<32-1 || groups*uint64(s.inodesPerGroup) != uint64(s.inodesCount) {
		return nil, corruptf("superblock: %d inodes, but %d groups of %d", s.inodesCount, groups, s.inodesPerGroup)
	}
	s.groupCount = uint32(groups)
	if s.firstIno < 11 || s.firstIno >= s.inodesCount {
		return nil, corruptf("superblock: first non-reserved inode %d", s.firstIno)
	}
	return s, nil
}

// gdtBlocks is how many blocks the group descriptor table takes.
func (s *superblock) gdtBlocks() uint64 {
	return (uint64(s.groupCount)*uint64(s.descSize) + uint64(s.blockSize) - 1) / uint64(s.blockSize)
}

// groupFirstBlock is the first block of group g.
func (s *superblock) groupFirstBlock(g uint32) uint64 {
	return uint64(s.firstDataBlock) + uint64(g)*uint64(s.blocksPerGroup)
}

// groupBlocks is how many blocks group g has (the last may be short).
func (s *superblock) groupBlocks(g uint32) uint32 {
	if g == s.groupCount-1 {
		return uint32(s.blocksCount - s.groupFirstBlock(g))
	}
	return s.blocksPerGroup
}

// hasSuperBackup tells whether group g holds a superblock (and descriptor
// table) copy.
func (s *superblock) hasSuperBackup(g uint32) bool {
	if g == 0 {
		return true
	}
	if s.compat&compatSparseSuper2 != 0 {
		return g == le.Uint32(s.raw[sbBackupBGs:]) || g == le.Uint32(s.raw[sbBackupBGs+4:])
	}
	if s.roCompat&roCompatSparseSuper == 0 || g == 1 {
		return true
	}
	for _, base := range []uint64{3, 5, 7} {
		n := base
		for n < uint64(g) {
			n *= base
		}
		if n == uint64(g) {
			return true
		}
	}
	return false
}
