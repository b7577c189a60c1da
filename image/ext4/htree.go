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

// sealDx writes the dx tail checksum of a modified index block.
func (f *FS) sealDx(t *dxTree, fr *dxFrame, buf []byte) {
	if !f.sb.hasMetadataCsum() {
		return
	}
	tail := fr.countOff + fr.limit(buf)*dxEntryLen
	le.PutUint32(buf[tail:], 0)
	le.PutUint32(buf[tail+4:], f.dxChecksum(t, fr, buf))
}

// hashedEntry is a leaf entry being moved by a split.
type hashedEntry struct {
	hash  uint32
	ino   uint32
	ftype uint8
	name  []byte
}

// dxAdd inserts an entry into an htree directory: into the leaf its hash
// belongs to, splitting that leaf in two by hash when full and adding the
// new leaf to the index (splitting index nodes, or adding a level under
// the root, as needed).
func (f *FS) dxAdd(dirIno uint32, dir *inode, name []byte, ino uint32, ftype uint8) error {
	m, err := f.blockMap(dirIno, dir)
	if err != nil {
		return err
	}
	t, root, err := f.dxOpen(dirIno, dir, m)
	if err != nil {
		return err
	}
	hash, err := dirHash(t.version, t.seed, name)
	if err != nil {
		return err
	}
	frames, leaf, err := f.dxProbe(t, root, hash)
	if err != nil {
		return err
	}
	_, rootPhys, _, _ := f.dirBlock(dirIno, m, 0)
	frames[0].phys = rootPhys
	_, phys, ok, err := f.dirBlock(dirIno, m, leaf)
	if err != nil {
		return err
	}
	if !ok {
		return corruptf("directory inode %d: htree leaf %d is a hole", dirIno, leaf)
	}
	buf, ents, err := f.leafForWrite(dirIno, dir, phys, leaf)
	if err != nil {
		return err
	}
	if f.insertInBlock(buf, ents, name, ino, ftype) {
		f.sealLeaf(dirIno, dir, buf)
		return nil
	}

	// Split the leaf: entries sorted by hash, the upper half (by size)
	// moving to a new block.
	var moved []hashedEntry
	total := 0
	for _, e := range ents {
		if e.ino == 0 {
			continue
		}
		h, err := dirHash(t.version, t.seed, e.name)
		if err != nil {
			return err
		}
		moved = append(moved, hashedEntry{h, e.ino, e.ftype, append([]byte(nil), e.name...)})
		total += direntLen(len(e.name))
	}
	if len(moved) < 2 {
		return corruptf("directory inode %d: htree leaf %d is full with %d entries", dirIno, leaf, len(moved))
	}
	split, hash2 := splitByHash(moved, total)
	newLeaf, newPhys, err := f.appendDirBlock(dirIno, dir, m)
	if err != nil {
		return err
	}
	t.nblocks++
	f.fillLeaf(buf, moved[:split])
	nbuf := f.metaNew(newPhys)
	f.fillLeaf(nbuf, moved[split:])
	target, tents := buf, []dirent(nil)
	if hash >= hash2&^dxHashCollision {
		target = nbuf
	}
	if tents, err = f.splitDirents(dirIno, leaf, target[:f.leafEnd()]); err != nil {
		return err
	}
	if !f.insertInBlock(target, tents, name, ino, ftype) {
		return corruptf("directory inode %d: entry does not fit a freshly split leaf", dirIno)
	}
	f.sealLeaf(dirIno, dir, buf)
	f.sealLeaf(dirIno, dir, nbuf)
	return f.dxInsertIndex(t, m, frames, len(frames)-1, hash2, newLeaf)
}

func sortByHash(es []hashedEntry) {
	// Insertion sort keeps equal hashes in block order; leaves are small.
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].hash < es[j-1].hash; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// fillLeaf rewrites a leaf block with the given entries packed from the
// start, the last one spanning to the checksum tail.
func (f *FS) fillLeaf(buf []byte, es []hashedEntry) {
	end := f.leafEnd()
	clear(buf[:end])
	off := 0
	for i, e := range es {
		rec := direntLen(len(e.name))
		if i == len(es)-1 {
			rec = end - off
		}
		f.putDirent(buf, off, rec, e.ino, e.name, e.ftype)
		off += rec
	}
	if len(es) == 0 {
		f.putDirent(buf, 0, end, 0, nil, 0)
	}
}

// dxInsertIndex adds (hash, block) after the followed entry of the index
// block at frames[level], making room as needed.
func (f *FS) dxInsertIndex(t *dxTree, m *blockMap, frames []dxFrame, level int, hash, block uint32) error {
	fr := &frames[level]
	buf, err := f.metaWrite(fr.phys)
	if err != nil {
		return err
	}
	count, limit := fr.count(buf), fr.limit(buf)
	if count < limit {
		pos := fr.countOff + (fr.idx+1)*dxEntryLen
		end := fr.countOff + count*dxEntryLen
		copy(buf[pos+dxEntryLen:end+dxEntryLen], buf[pos:end])
		le.PutUint32(buf[pos:], hash)
		le.PutUint32(buf[pos+4:], block)
		le.PutUint16(buf[fr.countOff+2:], uint16(count+1))
		f.sealDx(t, fr, buf)
		return nil
	}
	maxLevels := 2
	if f.sb.hasLargeDir() {
		maxLevels = 3
	}
	if level == 0 {
		// The root is full: move its entries into a new node below it.
		if t.levels+1 >= maxLevels {
			return fmt.Errorf("%w: directory inode %d: htree index is full (%d levels)", ErrNoSpace, t.ino, t.levels+1)
		}
		nodeBlock, nodePhys, err := f.appendDirBlock(t.ino, t.dir, m)
		if err != nil {
			return err
		}
		t.nblocks++
		node := f.metaNew(nodePhys)
		le.PutUint16(node[4:], f.encodeRecLen(int(f.bs)))
		copy(node[dxNodeCountOff:], buf[fr.countOff:fr.countOff+count*dxEntryLen])
		child := dxFrame{lblk: nodeBlock, phys: nodePhys, countOff: dxNodeCountOff, idx: fr.idx}
		le.PutUint16(node[child.countOff:], uint16(f.dxLimit(dxNodeCountOff)))
		le.PutUint16(node[child.countOff+2:], uint16(count))
		clear(buf[fr.countOff+dxEntryLen : fr.countOff+count*dxEntryLen])
		le.PutUint16(buf[fr.countOff+2:], 1)
		le.PutUint32(buf[fr.countOff+4:], nodeBlock)
		buf[dxRootInfoOff+6]++
		t.levels++
		fr.idx = 0
		f.sealDx(t, fr, buf)
		f.sealDx(t, &child, node)
		frames = append(frames[:1], append([]dxFrame{child}, frames[1:]...)...)
		return f.dxInsertIndex(t, m, frames, 1, hash, block)
	}
	// An interior node is full: split it and index the upper half in the
	// parent.
	newBlock, newPhys, err := f.appendDirBlock(t.ino, t.dir, m)
	if err != nil {
		return err
	}
	t.nblocks++
	half := count / 2
	node := f.metaNew(newPhys)
	le.PutUint16(node[4:], f.encodeRecLen(int(f.bs)))
	sibling := dxFrame{lblk: newBlock, phys: newPhys, countOff: dxNodeCountOff}
	copy(node[sibling.countOff:], buf[fr.countOff+half*dxEntryLen:fr.countOff+count*dxEntryLen])
	le.PutUint16(node[sibling.countOff:], uint16(f.dxLimit(dxNodeCountOff)))
	le.PutUint16(node[sibling.countOff+2:], uint16(count-half))
	midHash, _ := fr.entry(buf, half)
	clear(buf[fr.countOff+half*dxEntryLen : fr.countOff+count*dxEntryLen])
	le.PutUint16(buf[fr.countOff+2:], uint16(half))
	// Our entry goes after entry idx: in the lower half when idx < half,
	// else in the new node.
	if fr.idx < half {
		f.sealDx(t, &sibling, node)
	} else {
		f.sealDx(t, fr, buf)
		sibling.idx = fr.idx - half
		frames[level] = sibling
	}
	if err := f.dxInsertIndex(t, m, frames, level, hash, block); err != nil {
		return err
	}
	return f.dxInsertIndex(t, m, frames, level-1, midHash, newBlock)
}

// makeIndexed turns a full single-block directory into an htree (as the
// kernel does when such a directory grows): block 0 becomes the root, its
// entries and the new one are spread by hash over two new leaves.
func (f *FS) makeIndexed(dirIno uint32, dir *inode, m *blockMap, name []byte, ino uint32, ftype uint8) error {
	version := int(f.sb.raw[sbDefHashVersion])
	if version > hashTEA {
		return fmt.Errorf("%w: default directory hash version %d", ErrUnsupported, version)
	}
	t := &dxTree{ino: dirIno, dir: dir, m: m, version: version}
	if le.Uint32(f.sb.raw[sbFlags:])&flagUnsignedHash != 0 {
		t.version += hashUnsignedDelta
	}
	for i := range 4 {
		t.seed[i] = le.Uint32(f.sb.raw[sbHashSeed+4*i:])
	}
	_, rootPhys, ok, err := f.dirBlock(dirIno, m, 0)
	if err != nil {
		return err
	}
	if !ok {
		return corruptf("directory inode %d: block 0 is a hole", dirIno)
	}
	root, ents, err := f.leafForWrite(dirIno, dir, rootPhys, 0)
	if err != nil {
		return err
	}
	var parent uint32
	var moved []hashedEntry
	total := 0
	for _, e := range append(ents, dirent{ino: ino, ftype: ftype, name: name}) {
		switch {
		case e.ino == 0:
			continue
		case string(e.name) == ".":
			continue
		case string(e.name) == "..":
			parent = e.ino
			continue
		}
		h, err := dirHash(t.version, t.seed, e.name)
		if err != nil {
			return err
		}
		moved = append(moved, hashedEntry{h, e.ino, e.ftype, append([]byte(nil), e.name...)})
		total += direntLen(len(e.name))
	}
	if parent == 0 || len(moved) < 2 {
		return corruptf("directory inode %d: block 0 has no \"..\" or too few entries to index", dirIno)
	}
	split, hash2 := splitByHash(moved, total)
	var leaves [2]uint64
	for i := range leaves {
		if _, leaves[i], err = f.appendDirBlock(dirIno, dir, m); err != nil {
			return err
		}
	}
	for i, part := range [][]hashedEntry{moved[:split], moved[split:]} {
		buf := f.metaNew(leaves[i])
		f.fillLeaf(buf, part)
		f.sealLeaf(dirIno, dir, buf)
	}
	clear(root)
	f.putDirent(root, 0, 12, dirIno, []byte("."), direntType(modeDir))
	f.putDirent(root, 12, int(f.bs)-12, parent, []byte(".."), direntType(modeDir))
	info := root[dxRootInfoOff:]
	info[4] = byte(version)
	info[5] = dxRootInfoLen
	fr := dxFrame{lblk: 0, phys: rootPhys, countOff: dxRootCountOff}
	le.PutUint16(root[fr.countOff:], uint16(f.dxLimit(fr.countOff)))
	le.PutUint16(root[fr.countOff+2:], 2)
	le.PutUint32(root[fr.countOff+4:], 1)
	le.PutUint32(root[fr.countOff+8:], hash2)
	le.PutUint32(root[fr.countOff+12:], 2)
	dir.setFlags(dir.flags() | flagIndex)
	f.sealDx(t, &fr, root)
	return nil
}

// splitByHash sorts entries by hash and picks where to split them into two
// leaves of about half of total bytes each. hash2 is the second leaf's
// starting hash, with the collision bit set when equal hashes straddle the
// split (lookups must then also search the first leaf).
func splitByHash(moved []hashedEntry, total int) (split int, hash2 uint32) {
	sortByHash(moved)
	size := 0
	for split < len(moved)-1 && size+direntLen(len(moved[split].name)) <= total/2 {
		size += direntLen(len(moved[split].name))
		split++
	}
	split = max(split, 1)
	hash2 = moved[split].hash
	if moved[split-1].hash == hash2 {
		hash2 |= dxHashCollision
	}
	return split, hash2
}
