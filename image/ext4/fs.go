package ext4

import (
	"crypto/rand"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// Device is where a filesystem lives: a partition of an image file, or a
// block device region. Offsets are relative to the filesystem's start.
type Device interface {
	io.ReaderAt
	io.WriterAt
}

// Options tune Open.
type Options struct {
	// ReadOnly opens the filesystem for reading only: nothing is ever
	// written, and every change returns ErrReadOnly.
	ReadOnly bool
	// Now gives the time stamped on changed inodes; default time.Now.
	Now func() time.Time
	// Rand supplies the random generation numbers of new inodes; default
	// crypto/rand. A fixed source makes images reproducible.
	Rand io.Reader
}

// FS is an open ext4 (or ext2/ext3) filesystem. Its methods are safe for
// concurrent use; changes are serialised and each is written through to
// the device before the method returns.
type FS struct {
	mu   sync.Mutex
	dev  Device
	size int64
	opts Options

	sb   *superblock
	gdt  []byte // the primary group descriptor table, groupCount*descSize bytes
	seed uint32 // metadata_csum seed
	bs   uint64 // block size

	readOnly error // why changes are refused, nil when writable
	broken   error // a commit failed half-way: refuse further changes

	cache map[uint64]*cachedBlock
	tx    *transaction

	wbuf []byte // file data on its way to the device
}

type cachedBlock struct {
	data  []byte
	dirty bool
}

// cacheLimit bounds how many clean metadata blocks stay cached.
const cacheLimit = 4096

// Open opens the filesystem on dev, which holds size bytes. It reads and
// checks the superblock and group descriptors (checksums included) and
// refuses, before writing anything, a filesystem that uses a feature this
// package does not implement, needs recovery or has recorded errors.
func Open(dev Device, size int64, opts Options) (*FS, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	f := &FS{dev: dev, size: size, opts: opts, cache: map[uint64]*cachedBlock{}}
	if size < superblockOffset+superblockSize {
		return nil, corruptf("device of %d bytes is too small for a superblock", size)
	}
	raw := make([]byte, superblockSize)
	if _, err := dev.ReadAt(raw, superblockOffset); err != nil {
		return nil, fmt.Errorf("reading ext4 superblock: %w", err)
	}
	sb, err := parseSuperblock(raw)
	if err != nil {
		return nil, err
	}
	f.sb, f.bs = sb, uint64(sb.blockSize)
	if err := f.checkFeatures(); err != nil {
		return nil, err
	}
	if end := sb.blocksCount * f.bs; end > uint64(size) {
		return nil, corruptf("superblock: filesystem is %d bytes (%d blocks of %d) but the device holds only %d",
			end, sb.blocksCount, sb.blockSize, size)
	}
	f.seed = sb.csumSeed()
	if err := f.readGDT(); err != nil {
		return nil, err
	}
	if opts.ReadOnly {
		f.readOnly = ErrReadOnly
	}
	return f, nil
}

// checkFeatures applies the feature and state policy.
func (f *FS) checkFeatures() error {
	sb := f.sb
	if sb.incompat&incompatRecover != 0 {
		return fmt.Errorf("%w: the journal needs replaying (mount it once with Linux, or run e2fsck)", ErrNeedsRecovery)
	}
	if sb.roCompat&roCompatOrphanPresent != 0 || le.Uint32(sb.raw[sbLastOrphan:]) != 0 {
		return fmt.Errorf("%w: orphan inodes are waiting to be released (run e2fsck)", ErrNeedsRecovery)
	}
	state := le.Uint16(sb.raw[sbState:])
	if state&stateErrors != 0 {
		return fmt.Errorf("%w: errors were recorded on this filesystem (run e2fsck)", ErrNeedsRecovery)
	}
	if state&stateValid == 0 {
		return fmt.Errorf("%w: not cleanly unmounted (run e2fsck)", ErrNeedsRecovery)
	}
	if bad := sb.incompat &^ incompatReadable; bad != 0 {
		return fmt.Errorf("%w: %s", ErrUnsupported, featureList(bad, incompatNames))
	}
	if bad := sb.roCompat &^ roCompatReadable; bad != 0 {
		return fmt.Errorf("%w: %s", ErrUnsupported, featureList(bad, roCompatNames))
	}
	if f.opts.ReadOnly {
		return nil
	}
	if bad := sb.incompat &^ incompatWritable; bad != 0 {
		return fmt.Errorf("%w: writing with %s (open read-only to read)", ErrUnsupported, featureList(bad, incompatNames))
	}
	if bad := sb.roCompat &^ roCompatWritable; bad != 0 {
		return fmt.Errorf("%w: writing with %s (open read-only to read)", ErrUnsupported, featureList(bad, roCompatNames))
	}
	if sb.incompat&incompatExtents == 0 {
		return fmt.Errorf("%w: writing without the extent feature (ext2/ext3; open read-only to read)", ErrUnsupported)
	}
	return nil
}

func (f *FS) readGDT() error {
	sb := f.sb
	f.gdt = make([]byte, uint64(sb.groupCount)*uint64(sb.descSize))
	start := (uint64(sb.firstDataBlock) + 1) * f.bs
	if start+uint64(len(f.gdt)) > sb.blocksCount*f.bs {
		return corruptf("group descriptor table of %d groups does not fit", sb.groupCount)
	}
	if _, err := f.dev.ReadAt(f.gdt, int64(start)); err != nil {
		return fmt.Errorf("reading ext4 group descriptors: %w", err)
	}
	itableBlocks := (uint64(sb.inodesPerGroup)*uint64(sb.inodeSize) + f.bs - 1) / f.bs
	for g := range sb.groupCount {
		d := f.desc(g)
		if sb.hasGroupCsum() {
			if got, want := le.Uint16(d.raw[gdChecksum:]), sb.descChecksum(g, d, f.seed); got != want {
				return corruptf("group %d: descriptor checksum 0x%04x, computed 0x%04x", g, got, want)
			}
		}
		for _, m := range []struct {
			what  string
			block uint64
			n     uint64
		}{{"block bitmap", d.blockBitmap(), 1}, {"inode bitmap", d.inodeBitmap(), 1}, {"inode table", d.inodeTable(), itableBlocks}} {
			if m.block < uint64(sb.firstDataBlock) || m.block+m.n > sb.blocksCount {
				return corruptf("group %d: %s at block %d is outside the filesystem", g, m.what, m.block)
			}
		}
		if d.freeBlocks() > sb.groupBlocks(g) || d.freeInodes() > sb.inodesPerGroup ||
			d.usedDirs() > sb.inodesPerGroup || d.itableUnused() > sb.inodesPerGroup {
			return corruptf("group %d: descriptor counts out of range (free blocks %d, free inodes %d, dirs %d, unused %d)",
				g, d.freeBlocks(), d.freeInodes(), d.usedDirs(), d.itableUnused())
		}
	}
	return nil
}

// desc is the in-memory descriptor of group g.
func (f *FS) desc(g uint32) groupDesc {
	n := uint64(f.sb.descSize)
	return groupDesc{raw: f.gdt[uint64(g)*n : uint64(g+1)*n], wide: n >= 64}
}

// uninit reports whether group g carries flag (BLOCK_UNINIT, INODE_UNINIT)
// in a way that counts: the flags mean nothing without group checksums.
func (f *FS) uninit(g uint32, flag uint16) bool {
	return f.sb.hasGroupCsum() && f.desc(g).flags()&flag != 0
}

// readAt reads from the device, turning a short read into an error.
func (f *FS) readAt(p []byte, off uint64) error {
	n, err := f.dev.ReadAt(p, int64(off))
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("reading %d bytes at %d: %w", len(p), off, err)
}

// checkBlock rejects block numbers outside the filesystem's data area.
func (f *FS) checkBlock(b uint64, n uint64) bool {
	return b >= uint64(f.sb.firstDataBlock) && b+n <= f.sb.blocksCount && b+n >= b
}

// meta returns metadata block b through the cache. The slice is shared:
// modify it only through metaWrite.
func (f *FS) meta(b uint64) ([]byte, error) {
	if c, ok := f.cache[b]; ok {
		return c.data, nil
	}
	if !f.checkBlock(b, 1) {
		return nil, corruptf("metadata block %d is outside the filesystem", b)
	}
	if f.tx == nil && len(f.cache) >= cacheLimit {
		f.trimCache()
	}
	buf := make([]byte, f.bs)
	if err := f.readAt(buf, b*f.bs); err != nil {
		return nil, err
	}
	f.cache[b] = &cachedBlock{data: buf}
	return buf, nil
}

func (f *FS) trimCache() {
	for b, c := range f.cache {
		if !c.dirty {
			delete(f.cache, b)
		}
	}
}

// transaction collects one change: the blocks, descriptors and superblock
// fields it dirtied, and how to put the in-memory state back if it fails
// before anything reached the device.
type transaction struct {
	undo        []func()
	groups      map[uint32]bool // descriptors to re-checksum and write
	blockBitmap map[uint32]bool // bitmaps whose checksums change
	inodeBitmap map[uint32]bool
	saved       map[uint64]bool // blocks changed
	savedGroup  map[uint32]bool
}

// begin starts a change.
func (f *FS) begin() error {
	if f.readOnly != nil {
		return f.readOnly
	}
	if f.broken != nil {
		return fmt.Errorf("an earlier write failed, the filesystem may be inconsistent: %w", f.broken)
	}
	sbCopy := slices.Clone(f.sb.raw)
	f.tx = &transaction{
		groups:      map[uint32]bool{},
		blockBitmap: map[uint32]bool{},
		inodeBitmap: map[uint32]bool{},
		saved:       map[uint64]bool{},
		savedGroup:  map[uint32]bool{},
	}
	f.tx.undo = append(f.tx.undo, func() { copy(f.sb.raw, sbCopy) })
	return nil
}

// end finishes a change: commits it when err is nil, else rolls it back.
func (f *FS) end(err error) error {
	tx := f.tx
	if tx == nil {
		return err
	}
	if err != nil {
		for i := len(tx.undo) - 1; i >= 0; i-- {
			tx.undo[i]()
		}
		// Between transactions every cached block equals the device (or,
		// for an uninitialised group's bitmap, what is made up again), so
		// undoing a block's changes is forgetting it.
		for b := range tx.saved {
			delete(f.cache, b)
		}
		f.tx = nil
		return err
	}
	if err := f.commit(); err != nil {
		f.broken = err
		f.tx = nil
		return err
	}
	f.tx = nil
	if len(f.cache) > cacheLimit {
		f.trimCache()
	}
	return nil
}

// metaWrite returns metadata block b for modification within the current
// transaction.
func (f *FS) metaWrite(b uint64) ([]byte, error) {
	buf, err := f.meta(b)
	if err != nil {
		return nil, err
	}
	f.markDirty(b, buf)
	return buf, nil
}

// metaNew returns a zeroed buffer for newly allocated metadata block b.
func (f *FS) metaNew(b uint64) []byte {
	c, ok := f.cache[b]
	if !ok {
		c = &cachedBlock{data: make([]byte, f.bs)}
		f.cache[b] = c
	}
	f.markDirty(b, c.data)
	clear(c.data)
	return c.data
}

func (f *FS) markDirty(b uint64, buf []byte) {
	tx := f.tx
	if tx.saved[b] {
		return
	}
	tx.saved[b] = true
	f.cache[b].dirty = true
}

// descWrite returns group g's descriptor for modification.
func (f *FS) descWrite(g uint32) groupDesc {
	d := f.desc(g)
	if !f.tx.savedGroup[g] {
		f.tx.savedGroup[g] = true
		old := slices.Clone(d.raw)
		f.tx.undo = append(f.tx.undo, func() { copy(d.raw, old) })
	}
	f.tx.groups[g] = true
	return d
}

// commit writes everything the transaction dirtied: metadata blocks, then
// descriptors, then the superblock.
func (f *FS) commit() error {
	tx := f.tx
	sb := f.sb
	if sb.hasMetadataCsum() {
		for g := range tx.blockBitmap {
			bm, err := f.meta(f.desc(g).blockBitmap())
			if err != nil {
				return err
			}
			f.desc(g).setBlockBitmapCsum(crc32c(f.seed, bm[:sb.blocksPerGroup/8]))
		}
		for g := range tx.inodeBitmap {
			bm, err := f.meta(f.desc(g).inodeBitmap())
			if err != nil {
				return err
			}
			f.desc(g).setInodeBitmapCsum(crc32c(f.seed, bm[:sb.inodesPerGroup/8]))
		}
	}
	var dirty []uint64
	for b, c := range f.cache {
		if c.dirty {
			dirty = append(dirty, b)
		}
	}
	slices.Sort(dirty)
	for _, b := range dirty {
		if _, err := f.dev.WriteAt(f.cache[b].data, int64(b*f.bs)); err != nil {
			return fmt.Errorf("writing block %d: %w", b, err)
		}
		f.cache[b].dirty = false
	}
	gdtStart := (uint64(sb.firstDataBlock) + 1) * f.bs
	groups := make([]uint32, 0, len(tx.groups))
	for g := range tx.groups {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	for _, g := range groups {
		d := f.desc(g)
		if sb.hasGroupCsum() {
			le.PutUint16(d.raw[gdChecksum:], sb.descChecksum(g, d, f.seed))
		}
		if _, err := f.dev.WriteAt(d.raw, int64(gdtStart+uint64(g)*uint64(sb.descSize))); err != nil {
			return fmt.Errorf("writing group descriptor %d: %w", g, err)
		}
	}
	sb.updateChecksum()
	if _, err := f.dev.WriteAt(sb.raw, superblockOffset); err != nil {
		return fmt.Errorf("writing superblock: %w", err)
	}
	return nil
}

// Sync makes sure everything written reached the device: changes are
// written as each method returns, so this only flushes a device that can
// be flushed (an *os.File, say).
func (f *FS) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.dev.(interface{ Sync() error }); ok && f.readOnly == nil {
		return s.Sync()
	}
	return nil
}

// Close syncs the filesystem. The device is the caller's to close.
func (f *FS) Close() error { return f.Sync() }

// Stats describes the filesystem's size and usage.
type Stats struct {
	BlockSize      int64
	Blocks         uint64 // total
	FreeBlocks     uint64
	ReservedBlocks uint64 // reserved for root (included in FreeBlocks; this package may use them)
	Inodes         uint64
	FreeInodes     uint64
}

// Statfs reports size and free space.
func (f *FS) Statfs() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Stats{
		BlockSize:      int64(f.bs),
		Blocks:         f.sb.blocksCount,
		FreeBlocks:     f.sb.freeBlocks(),
		ReservedBlocks: f.sb.reservedBlocks(),
		Inodes:         uint64(f.sb.inodesCount),
		FreeInodes:     uint64(f.sb.freeInodes()),
	}
}

// inodeLocation is the inode table block holding inode ino and the byte
// offset within it.
func (f *FS) inodeLocation(ino uint32) (uint64, uint64, error) {
	sb := f.sb
	if ino == 0 || ino > sb.inodesCount {
		return 0, 0, corruptf("inode number %d out of range (1..%d)", ino, sb.inodesCount)
	}
	g := (ino - 1) / sb.inodesPerGroup
	idx := uint64((ino - 1) % sb.inodesPerGroup)
	off := idx * uint64(sb.inodeSize)
	return f.desc(g).inodeTable() + off/f.bs, off % f.bs, nil
}

// readInode reads inode ino and verifies its checksum.
func (f *FS) readInode(ino uint32) (*inode, error) {
	blk, off, err := f.inodeLocation(ino)
	if err != nil {
		return nil, err
	}
	buf, err := f.meta(blk)
	if err != nil {
		return nil, fmt.Errorf("inode %d: %w", ino, err)
	}
	in := &inode{raw: slices.Clone(buf[off : off+uint64(f.sb.inodeSize)])}
	if len(in.raw) > goodOldInodeSize {
		if x := in.extraIsize(); x&3 != 0 || goodOldInodeSize+int(x) > len(in.raw) {
			return nil, corruptf("inode %d: extra size %d", ino, x)
		}
	}
	if f.sb.hasMetadataCsum() && !in.verifyChecksum(ino, f.seed) {
		stored, _ := in.storedChecksum()
		return nil, corruptf("inode %d: checksum 0x%08x does not match", ino, stored)
	}
	return in, nil
}

// writeInode stores inode ino (checksummed) within the transaction.
func (f *FS) writeInode(ino uint32, in *inode) error {
	blk, off, err := f.inodeLocation(ino)
	if err != nil {
		return err
	}
	buf, err := f.metaWrite(blk)
	if err != nil {
		return err
	}
	if f.sb.hasMetadataCsum() {
		in.updateChecksum(ino, f.seed)
	}
	copy(buf[off:], in.raw)
	return nil
}
