package ext4

import (
	"io/fs"
	"time"
)

// Inode field offsets (inodes.rst).
const (
	inMode        = 0x0
	inUIDLo       = 0x2
	inSizeLo      = 0x4
	inAtime       = 0x8
	inCtime       = 0xC
	inMtime       = 0x10
	inDtime       = 0x14
	inGIDLo       = 0x18
	inLinks       = 0x1A
	inBlocksLo    = 0x1C
	inFlags       = 0x20
	inBlock       = 0x28 // i_block: 60 bytes of extent root, block map or symlink
	inGeneration  = 0x64
	inFileACLLo   = 0x68
	inSizeHi      = 0x6C
	inBlocksHi    = 0x74
	inFileACLHi   = 0x76
	inUIDHi       = 0x78
	inGIDHi       = 0x7A
	inChecksumLo  = 0x7C
	inExtraIsize  = 0x80
	inChecksumHi  = 0x82
	inCtimeExtra  = 0x84
	inMtimeExtra  = 0x88
	inAtimeExtra  = 0x8C
	inCrtime      = 0x90
	inCrtimeExtra = 0x94

	goodOldInodeSize = 128
	iBlockSize       = 60
)

// Inode flags (i_flags).
const (
	flagSecureRm   = 0x1
	flagCompr      = 0x4
	flagIndex      = 0x1000
	flagEncrypt    = 0x800
	flagHugeFile   = 0x40000
	flagExtents    = 0x80000
	flagVerity     = 0x100000
	flagEAInode    = 0x200000
	flagInlineData = 0x10000000
	flagCasefold   = 0x40000000
)

// Unix mode type bits (i_mode).
const (
	modeFIFO   = 0x1000
	modeChar   = 0x2000
	modeDir    = 0x4000
	modeBlock  = 0x6000
	modeFile   = 0x8000
	modeLink   = 0xA000
	modeSocket = 0xC000
	modeType   = 0xF000
)

// Reserved inode numbers.
const (
	rootIno = 2
)

// inode is a copy of one on-disk inode (s_inode_size bytes).
type inode struct {
	raw []byte
}

func (in *inode) mode() uint16       { return le.Uint16(in.raw[inMode:]) }
func (in *inode) setMode(m uint16)   { le.PutUint16(in.raw[inMode:], m) }
func (in *inode) fileType() uint16   { return in.mode() & modeType }
func (in *inode) isDir() bool        { return in.fileType() == modeDir }
func (in *inode) isSymlink() bool    { return in.fileType() == modeLink }
func (in *inode) isRegular() bool    { return in.fileType() == modeFile }
func (in *inode) flags() uint32      { return le.Uint32(in.raw[inFlags:]) }
func (in *inode) setFlags(f uint32)  { le.PutUint32(in.raw[inFlags:], f) }
func (in *inode) links() uint16      { return le.Uint16(in.raw[inLinks:]) }
func (in *inode) setLinks(n uint16)  { le.PutUint16(in.raw[inLinks:], n) }
func (in *inode) generation() uint32 { return le.Uint32(in.raw[inGeneration:]) }
func (in *inode) iBlock() []byte     { return in.raw[inBlock : inBlock+iBlockSize] }
func (in *inode) setDtime(t uint32)  { le.PutUint32(in.raw[inDtime:], t) }
func (in *inode) dtime() uint32      { return le.Uint32(in.raw[inDtime:]) }
func (in *inode) hasExtents() bool   { return in.flags()&flagExtents != 0 }
func (in *inode) hasIndex() bool     { return in.flags()&flagIndex != 0 }
func (in *inode) extraIsize() uint16 {
	if len(in.raw) <= goodOldInodeSize {
		return 0
	}
	return le.Uint16(in.raw[inExtraIsize:])
}

// fits tells whether a field ending at byte end (an offset past 128) lies
// within this inode's extra space.
func (in *inode) fits(end int) bool {
	return len(in.raw) > goodOldInodeSize && goodOldInodeSize+int(in.extraIsize()) >= end
}

func (in *inode) size() uint64 {
	return uint64(le.Uint32(in.raw[inSizeLo:])) | uint64(le.Uint32(in.raw[inSizeHi:]))<<32
}

func (in *inode) setSize(n uint64) {
	le.PutUint32(in.raw[inSizeLo:], uint32(n))
	le.PutUint32(in.raw[inSizeHi:], uint32(n>>32))
}

func (in *inode) uid() uint32 {
	return uint32(le.Uint16(in.raw[inUIDLo:])) | uint32(le.Uint16(in.raw[inUIDHi:]))<<16
}

func (in *inode) gid() uint32 {
	return uint32(le.Uint16(in.raw[inGIDLo:])) | uint32(le.Uint16(in.raw[inGIDHi:]))<<16
}

func (in *inode) setOwner(uid, gid uint32) {
	le.PutUint16(in.raw[inUIDLo:], uint16(uid))
	le.PutUint16(in.raw[inUIDHi:], uint16(uid>>16))
	le.PutUint16(in.raw[inGIDLo:], uint16(gid))
	le.PutUint16(in.raw[inGIDHi:], uint16(gid>>16))
}

func (in *inode) fileACL() uint64 {
	return uint64(le.Uint32(in.raw[inFileACLLo:])) | uint64(le.Uint16(in.raw[inFileACLHi:]))<<32
}

func (in *inode) setFileACL(b uint64) {
	le.PutUint32(in.raw[inFileACLLo:], uint32(b))
	le.PutUint16(in.raw[inFileACLHi:], uint16(b>>32))
}

// blocks512 is i_blocks in 512-byte sectors, whatever the on-disk unit.
func (in *inode) blocks512(s *superblock) uint64 {
	n := uint64(le.Uint32(in.raw[inBlocksLo:]))
	if s.hasHugeFile() {
		n |= uint64(le.Uint16(in.raw[inBlocksHi:])) << 32
		if in.flags()&flagHugeFile != 0 {
			n *= uint64(s.blockSize / 512)
		}
	}
	return n
}

// setBlocks512 stores i_blocks in 512-byte units. Callers check the limit
// (32 bits without huge_file, 48 with) beforehand.
func (in *inode) setBlocks512(s *superblock, n uint64) {
	in.setFlags(in.flags() &^ flagHugeFile)
	le.PutUint32(in.raw[inBlocksLo:], uint32(n))
	if s.hasHugeFile() {
		le.PutUint16(in.raw[inBlocksHi:], uint16(n>>32))
	}
}

// Timestamps: seconds in the base field (signed 32 bits); with extra space,
// two epoch bits extending the seconds and 30 bits of nanoseconds.
func (in *inode) time(base, extra int) time.Time {
	sec := int64(int32(le.Uint32(in.raw[base:])))
	var nsec int64
	if extra != 0 && in.fits(extra+4) {
		x := le.Uint32(in.raw[extra:])
		sec += int64(x&3) << 32
		nsec = int64(x >> 2)
		if nsec > 999999999 {
			nsec = 0
		}
	}
	return time.Unix(sec, nsec)
}

func (in *inode) setTime(base, extra int, t time.Time) {
	sec := t.Unix()
	le.PutUint32(in.raw[base:], uint32(sec))
	if extra != 0 && in.fits(extra+4) {
		epoch := uint32((sec-int64(int32(uint32(sec))))>>32) & 3
		le.PutUint32(in.raw[extra:], uint32(t.Nanosecond())<<2|epoch)
	}
}

func (in *inode) atime() time.Time  { return in.time(inAtime, inAtimeExtra) }
func (in *inode) mtime() time.Time  { return in.time(inMtime, inMtimeExtra) }
func (in *inode) ctime() time.Time  { return in.time(inCtime, inCtimeExtra) }
func (in *inode) crtime() time.Time { return in.time(inCrtime, inCrtimeExtra) }

// checksum computes the metadata_csum of this inode with number ino.
func (in *inode) checksum(ino uint32, fsSeed uint32) uint32 {
	seed := in.csumSeed(ino, fsSeed)
	var zero [2]byte
	c := crc32c(seed, in.raw[:inChecksumLo])
	c = crc32c(c, zero[:])
	c = crc32c(c, in.raw[inChecksumLo+2:goodOldInodeSize])
	if len(in.raw) > goodOldInodeSize {
		c = crc32c(c, in.raw[goodOldInodeSize:inChecksumHi])
		if in.fits(inChecksumHi + 2) {
			c = crc32c(c, zero[:])
			c = crc32c(c, in.raw[inChecksumHi+2:])
		} else {
			c = crc32c(c, in.raw[inChecksumHi:])
		}
	}
	return c
}

// csumSeed is the per-inode seed that also keys its extent, directory and
// htree blocks.
func (in *inode) csumSeed(ino uint32, fsSeed uint32) uint32 {
	return crc32cUint32(crc32cUint32(fsSeed, ino), in.generation())
}

func (in *inode) storedChecksum() (uint32, bool) {
	c := uint32(le.Uint16(in.raw[inChecksumLo:]))
	if in.fits(inChecksumHi + 2) {
		return c | uint32(le.Uint16(in.raw[inChecksumHi:]))<<16, true
	}
	return c, false
}

func (in *inode) verifyChecksum(ino uint32, fsSeed uint32) bool {
	stored, full := in.storedChecksum()
	c := in.checksum(ino, fsSeed)
	if !full {
		c &= 0xFFFF
	}
	return stored == c
}

func (in *inode) updateChecksum(ino uint32, fsSeed uint32) {
	c := in.checksum(ino, fsSeed)
	le.PutUint16(in.raw[inChecksumLo:], uint16(c))
	if in.fits(inChecksumHi + 2) {
		le.PutUint16(in.raw[inChecksumHi:], uint16(c>>16))
	}
}

// fileMode converts i_mode to an fs.FileMode.
func fileMode(m uint16) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	switch m & modeType {
	case modeDir:
		mode |= fs.ModeDir
	case modeLink:
		mode |= fs.ModeSymlink
	case modeFIFO:
		mode |= fs.ModeNamedPipe
	case modeSocket:
		mode |= fs.ModeSocket
	case modeChar:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case modeBlock:
		mode |= fs.ModeDevice
	case modeFile:
	default:
		mode |= fs.ModeIrregular
	}
	return mode
}

// unixPerm converts the permission part of an fs.FileMode to i_mode bits.
// The Unix 0o7000 bits are accepted as well as fs.ModeSetuid and friends.
func unixPerm(m fs.FileMode) uint16 {
	p := uint16(m & 0o7777)
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

// direntType is the directory entry file type for an i_mode.
func direntType(m uint16) uint8 {
	switch m & modeType {
	case modeFile:
		return 1
	case modeDir:
		return 2
	case modeChar:
		return 3
	case modeBlock:
		return 4
	case modeFIFO:
		return 5
	case modeSocket:
		return 6
	case modeLink:
		return 7
	}
	return 0
}
