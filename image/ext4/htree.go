package ext4

import (
	"fmt"
)

// htree layout (directory.rst): block 0 holds "." and "..", then
// dx_root_info at 24 and the count/limit header at 32; interior nodes hold
// an empty entry spanning the block, then count/limit at 8. Index entries
// are 8 bytes (hash, logical block); entry 0's hash slot holds limit and
// count. With metadata_csum an 8-byte dx tail follows the limit entries.
const (
	dxRootInfoOff   = 24
	dxRootCountOff  = 32
	dxNodeCountOff  = 8
	dxEntryLen      = 8
	dxTailLen       = 8
	dxRootInfoLen   = 8
	dxHashCollision = 1 // low bit of an index hash: the previous block's last hash continues here
)

// dxFrame is one index block on the path from the root to a leaf.
type dxFrame struct {
	lblk     uint32
	phys     uint64
	countOff int // offset of the count/limit header
	idx      int // the entry followed
}

func (fr *dxFrame) count(buf []byte) int { return int(le.Uint16(buf[fr.countOff+2:])) }
func (fr *dxFrame) limit(buf []byte) int { return int(le.Uint16(buf[fr.countOff:])) }

// entry returns the hash and block of index entry i (entry 0's hash is 0).
func (fr *dxFrame) entry(buf []byte, i int) (uint32, uint32) {
	p := fr.countOff + i*dxEntryLen
	if i == 0 {
		return 0, le.Uint32(buf[p+4:])
	}
	return le.Uint32(buf[p:]), le.Uint32(buf[p+4:])
}

// dxTree is what an htree lookup needs about its directory.
type dxTree struct {
	ino     uint32
	dir     *inode
	m       *blockMap
	nblocks uint32
	levels  int // indirect levels below the root
	version int // hash version, unsigned variants resolved
	seed    [4]uint32
}

func (f *FS) dxLimit(countOff int) int {
	n := int(f.bs) - countOff
	if f.sb.hasMetadataCsum() {
		n -= dxTailLen
	}
	return n / dxEntryLen
}

// dxOpen reads and checks the htree root of an indexed directory.
func (f *FS) dxOpen(dirIno uint32, dir *inode, m *blockMap) (*dxTree, []byte, error) {
	n, err := f.dirBlocks(dirIno, dir)
	if err != nil {
		return nil, nil, err
	}
	t := &dxTree{ino: dirIno, dir: dir, m: m, nblocks: n}
	root, _, ok, err := f.dirBlock(dirIno, m, 0)
	if err != nil {
		return nil, nil, err
	}
	bad := func(format string, args ...any) error {
		return corruptf("directory inode %d: htree root: "+format, append([]any{dirIno}, args...)...)
	}
	if !ok {
		return nil, nil, bad("block 0 is a hole")
	}
	if le.Uint16(root[4:]) != 12 || root[6] != 1 || root[8] != '.' ||
		f.decodeRecLen(le.Uint16(root[16:])) != int(f.bs)-12 || root[18] != 2 || string(root[20:22]) != ".." {
		return nil, nil, bad("no \".\" and \"..\" entries")
	}
	info := root[dxRootInfoOff:]
	if le.Uint32(info) != 0 || info[5] != dxRootInfoLen {
		return nil, nil, bad("info reserved 0x%x, length %d", le.Uint32(info), info[5])
	}
	t.levels = int(info[6])
	maxLevels := 2
	if f.sb.hasLargeDir() {
		maxLevels = 3
	}
	if t.levels >= maxLevels {
		return nil, nil, bad("%d indirect levels", t.levels)
	}
	t.version = int(info[4])
	if t.version <= hashTEA && le.Uint32(f.sb.raw[sbFlags:])&flagUnsignedHash != 0 {
		t.version += hashUnsignedDelta
	}
	if t.version > hashTEA+hashUnsignedDelta {
		return nil, nil, fmt.Errorf("%w: directory inode %d: htree hash version %d", ErrUnsupported, dirIno, info[4])
	}
	for i := range 4 {
		t.seed[i] = le.Uint32(f.sb.raw[sbHashSeed+4*i:])
	}
	fr := dxFrame{lblk: 0, countOff: dxRootCountOff}
	if err := f.checkDxBlock(t, &fr, root); err != nil {
		return nil, nil, err
	}
	return t, root, nil
}

// checkDxBlock verifies an index block's count, limit and checksum.
func (f *FS) checkDxBlock(t *dxTree, fr *dxFrame, buf []byte) error {
	limit, count := fr.limit(buf), fr.count(buf)
	if want := f.dxLimit(fr.countOff); limit != want || count == 0 || count > limit {
		return corruptf("directory inode %d: htree block %d: count %d, limit %d (want %d)", t.ino, fr.lblk, count, limit, want)
	}
	if f.sb.hasMetadataCsum() {
		tail := fr.countOff + limit*dxEntryLen
		if got, want := le.Uint32(buf[tail+4:]), f.dxChecksum(t, fr, buf); got != want {
			return corruptf("directory inode %d: htree block %d: checksum 0x%08x, computed 0x%08x", t.ino, fr.lblk, got, want)
		}
	}
	return nil
}

func (f *FS) dxChecksum(t *dxTree, fr *dxFrame, buf []byte) uint32 {
	tail := fr.countOff + fr.limit(buf)*dxEntryLen
	c := crc32c(t.dir.csumSeed(t.ino, f.seed), buf[:fr.countOff+fr.count(buf)*dxEntryLen])
	c = crc32c(c, buf[tail:tail+4])      // dt_reserved
	return crc32c(c, []byte{0, 0, 0, 0}) // dt_checksum, zeroed
}

// dxProbe walks from the root to the leaf whose hash range holds hash,
// returning the path taken and the leaf's logical block.
func (f *FS) dxProbe(t *dxTree, root []byte, hash uint32) ([]dxFrame, uint32, error) {
	frames := []dxFrame{{lblk: 0, countOff: dxRootCountOff}}
	buf := root
	for level := 0; ; level++ {
		fr := &frames[level]
		count := fr.count(buf)
		// The last entry whose hash is not above the one sought.
		lo, hi := 1, count
		for lo < hi {
			mid := (lo + hi) / 2
			if h, _ := fr.entry(buf, mid); h > hash {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		fr.idx = lo - 1
		_, child := fr.entry(buf, fr.idx)
		if child >= t.nblocks || child == 0 {
			return nil, 0, corruptf("directory inode %d: htree block %d points at block %d of %d", t.ino, fr.lblk, child, t.nblocks)
		}
		if level == t.levels {
			return frames, child, nil
		}
		var err error
		buf, err = f.dxNode(t, &frames, child)
		if err != nil {
			return nil, 0, err
		}
	}
}

// dxNode reads interior node lblk and appends its frame.
func (f *FS) dxNode(t *dxTree, frames *[]dxFrame, lblk uint32) ([]byte, error) {
	buf, phys, ok, err := f.dirBlock(t.ino, t.m, lblk)
	if err != nil {
		return nil, err
	}
	if !ok || !f.isDxNode(buf) {
		return nil, corruptf("directory inode %d: htree node %d is not an index block", t.ino, lblk)
	}
	fr := dxFrame{lblk: lblk, phys: phys, countOff: dxNodeCountOff}
	if err := f.checkDxBlock(t, &fr, buf); err != nil {
		return nil, err
	}
	*frames = append(*frames, fr)
	return buf, nil
}

// dxNext moves the path to the next leaf if that leaf may still hold names
// with this hash (a collision run spilling over), returning its block.
func (f *FS) dxNext(t *dxTree, frames []dxFrame, hash uint32) (uint32, bool, error) {
	i := len(frames) - 1
	var buf []byte
	for ; i >= 0; i-- {
		var err error
		buf, err = f.dxBlockOf(t, &frames[i])
		if err != nil {
			return 0, false, err
		}
		if frames[i].idx+1 < frames[i].count(buf) {
			break
		}
	}
	if i < 0 {
		return 0, false, nil
	}
	frames[i].idx++
	h, child := frames[i].entry(buf, frames[i].idx)
	if h&^dxHashCollision != hash {
		return 0, false, nil
	}
	for i++; i < len(frames); i++ {
		if child >= t.nblocks || child == 0 {
			return 0, false, corruptf("directory inode %d: htree points at block %d of %d", t.ino, child, t.nblocks)
		}
		nf := frames[:i]
		nbuf, err := f.dxNode(t, &nf, child)
		if err != nil {
			return 0, false, err
		}
		frames[i] = nf[i]
		frames[i].idx = 0
		_, child = frames[i].entry(nbuf, 0)
	}
	if child >= t.nblocks || child == 0 {
		return 0, false, corruptf("directory inode %d: htree points at block %d of %d", t.ino, child, t.nblocks)
	}
	return child, true, nil
}

func (f *FS) dxBlockOf(t *dxTree, fr *dxFrame) ([]byte, error) {
	buf, phys, ok, err := f.dirBlock(t.ino, t.m, fr.lblk)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, corruptf("directory inode %d: htree block %d is a hole", t.ino, fr.lblk)
	}
	fr.phys = phys
	return buf, nil
}

// dxFind looks name up through the htree.
func (f *FS) dxFind(dirIno uint32, dir *inode, m *blockMap, name []byte) (*entryLoc, error) {
	t, root, err := f.dxOpen(dirIno, dir, m)
	if err != nil {
		return nil, err
	}
	hash, err := dirHash(t.version, t.seed, name)
	if err != nil {
		return nil, err
	}
	frames, leaf, err := f.dxProbe(t, root, hash)
	if err != nil {
		return nil, err
	}
	for range t.nblocks {
		loc, err := f.findInBlock(dirIno, dir, m, leaf, name)
		if loc != nil || err != nil {
			return loc, err
		}
		next, ok, err := f.dxNext(t, frames, hash)
		if !ok || err != nil {
			return nil, err
		}
		leaf = next
	}
	return nil, corruptf("directory inode %d: htree walk does not end", dirIno)
}
