package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
	"time"
)

// Attr is what a new file, directory or symlink gets.
type Attr struct {
	// Mode holds the permission bits and fs.ModeSetuid, fs.ModeSetgid,
	// fs.ModeSticky (the Unix 0o7000 bits are accepted too). The type
	// bits are ignored: the method decides the type.
	Mode     fs.FileMode
	UID, GID int
	// Mtime is the modification time; zero means now. Access time equals
	// it; change and creation time are now.
	Mtime time.Time
}

const linkMax = 65000 // the kernel's EXT4_LINK_MAX

// errRoot is what parent says of the root, which has no entry to change;
// callers say it the way the system calls do.
var errRoot = syscall.EBUSY

func rootAs(err, instead error) error {
	if err == errRoot {
		return instead
	}
	return err
}

// change runs fn as one transaction under the lock, committing it when fn
// succeeds and undoing it otherwise.
func (f *FS) change(op, name string, fn func() error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return pathErr(op, name, err)
	}
	return pathErr(op, name, f.end(fn()))
}

// parent resolves the directory that holds name and returns it with the
// final name component.
func (f *FS) parent(name string) (uint32, *inode, []byte, error) {
	p, err := cleanPath(name)
	if err != nil {
		return 0, nil, nil, err
	}
	if p == "/" {
		return 0, nil, nil, errRoot
	}
	base := path.Base(p)
	if len(base) > maxNameLen {
		return 0, nil, nil, syscall.ENAMETOOLONG
	}
	ino, in, err := f.resolve(path.Dir(p), true)
	if err != nil {
		return 0, nil, nil, err
	}
	if !in.isDir() {
		return 0, nil, nil, syscall.ENOTDIR
	}
	return ino, in, []byte(base), nil
}

// lookupIn finds name in a directory, nil when absent.
func (f *FS) lookupIn(dirIno uint32, dir *inode, name []byte) (*entryLoc, error) {
	m, err := f.blockMap(dirIno, dir)
	if err != nil {
		return nil, err
	}
	return f.findEntry(dirIno, dir, m, name)
}

// validID reports whether id fits an inode's 32-bit uid or gid (int may be
// 32 bits wide, as on the Pi Zero's armv6).
func validID(id int) bool { return id >= 0 && int64(id) <= 1<<32-1 }

// newInode allocates and initialises an inode (not yet written).
func (f *FS) newInode(parentIno uint32, mode uint16, attr Attr) (uint32, *inode, error) {
	if !validID(attr.UID) || !validID(attr.GID) {
		return 0, nil, fmt.Errorf("owner %d:%d: %w", attr.UID, attr.GID, fs.ErrInvalid)
	}
	ino, err := f.allocInode(f.groupOfInode(parentIno), mode&modeType == modeDir)
	if err != nil {
		return 0, nil, err
	}
	in := &inode{raw: make([]byte, f.sb.inodeSize)}
	if f.sb.inodeSize > goodOldInodeSize {
		extra := f.sb.wantExtraIsize()
		if extra == 0 || goodOldInodeSize+uint32(extra) > f.sb.inodeSize {
			extra = uint16(min(32, f.sb.inodeSize-goodOldInodeSize))
		}
		le.PutUint16(in.raw[inExtraIsize:], extra)
	}
	var gen [4]byte
	if _, err := io.ReadFull(f.opts.Rand, gen[:]); err != nil {
		return 0, nil, fmt.Errorf("inode generation: %w", err)
	}
	le.PutUint32(in.raw[inGeneration:], binary.LittleEndian.Uint32(gen[:]))
	in.setMode(mode)
	in.setOwner(uint32(attr.UID), uint32(attr.GID))
	in.setLinks(1)
	now := f.opts.Now()
	mtime := attr.Mtime
	if mtime.IsZero() {
		mtime = now
	}
	in.setTime(inAtime, inAtimeExtra, mtime)
	in.setTime(inMtime, inMtimeExtra, mtime)
	in.setTime(inCtime, inCtimeExtra, now)
	in.setTime(inCrtime, inCrtimeExtra, now)
	return ino, in, nil
}

// touchDir stamps a directory changed now.
func (f *FS) touchDir(dir *inode) {
	now := f.opts.Now()
	dir.setTime(inMtime, inMtimeExtra, now)
	dir.setTime(inCtime, inCtimeExtra, now)
}

// WriteFile creates or replaces the named file with the contents of r,
// streamed (any size). A replacement is a new inode: the data is written,
// then the directory entry switched, then the old inode released (a
// symlink at name is replaced, not followed). If the filesystem runs out
// of space nothing changes and the error (ErrNoSpace) says how much more
// was needed.
func (f *FS) WriteFile(name string, r io.Reader, attr Attr) error {
	return f.change("writefile", name, func() error {
		dirIno, dir, base, err := f.parent(name)
		if err != nil {
			return rootAs(err, syscall.EISDIR)
		}
		old, err := f.lookupIn(dirIno, dir, base)
		if err != nil {
			return err
		}
		var oldIn *inode
		if old != nil {
			if oldIn, err = f.readInode(old.ent.ino); err != nil {
				return err
			}
			if oldIn.isDir() {
				return syscall.EISDIR
			}
		}
		ino, in, err := f.newInode(dirIno, modeFile|unixPerm(attr.Mode), attr)
		if err != nil {
			return err
		}
		if err := f.writeData(ino, in, r); err != nil {
			return err
		}
		if err := f.writeInode(ino, in); err != nil {
			return err
		}
		if old != nil {
			if err := f.setEntryInode(dirIno, dir, old, ino, direntType(modeFile)); err != nil {
				return err
			}
			if err := f.unlinkInode(old.ent.ino, oldIn); err != nil {
				return err
			}
		} else if err := f.addEntry(dirIno, dir, base, ino, direntType(modeFile)); err != nil {
			return err
		}
		f.touchDir(dir)
		return f.writeInode(dirIno, dir)
	})
}

// sizeHint guesses how many bytes r will yield, -1 when it cannot tell.
func sizeHint(r io.Reader) int64 {
	switch r := r.(type) {
	case interface{ Len() int }:
		return int64(r.Len())
	case *os.File:
		st, err := r.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return -1
		}
		pos, err := r.Seek(0, io.SeekCurrent)
		if err != nil {
			return -1
		}
		return st.Size() - pos
	}
	return -1
}

// writeChunk is how much file data is buffered between allocations.
const writeChunk = 4 << 20

// writeData streams r into newly allocated blocks of inode ino and builds
// its extent tree, size and block count.
func (f *FS) writeData(ino uint32, in *inode, r io.Reader) error {
	free := f.sb.freeBlocks()
	hint := sizeHint(r)
	if hint > 0 {
		// Refuse up front, before writing a byte, when it cannot fit.
		need := (uint64(hint) + f.bs - 1) / f.bs
		need += uint64(f.treeBlocksFor(int(need/maxExtentLen) + 1))
		if need > free {
			return fmt.Errorf("%w: %d blocks needed, %d free (%d missing)", ErrNoSpace, need, free, need-free)
		}
	}
	// Chunks start small for a small or unknown size and double.
	chunk := int64(64 << 10)
	if hint >= 0 {
		chunk = hint + 1
	}
	var exts []extent
	var size uint64
	goal := f.groupGoal(ino)
	for {
		chunk = min(max(chunk, int64(f.bs)), writeChunk)
		buf := f.dataBuffer(int(chunk))
		chunk *= 2
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			nblocks := uint32((uint64(n) + f.bs - 1) / f.bs)
			clear(buf[n:min(len(buf), int(uint64(nblocks)*f.bs))])
			want := nblocks
			if hint > 0 && uint64(hint) > size {
				want = uint32(min((uint64(hint)-size+f.bs-1)/f.bs, 1<<31))
			}
			if size/f.bs+uint64(nblocks) > 1<<32-1 {
				return fmt.Errorf("%w: file larger than %d blocks", ErrUnsupported, uint64(1<<32-1))
			}
			for done := uint32(0); done < nblocks; {
				start, got, err := f.allocBlocks(goal, want-done, nblocks-done)
				if err != nil {
					if errors.Is(err, ErrNoSpace) {
						return f.noSpace(r, size+uint64(n), free)
					}
					return err
				}
				chunk := buf[uint64(done)*f.bs : uint64(done+got)*f.bs]
				if _, err := f.dev.WriteAt(chunk, int64(start*f.bs)); err != nil {
					return fmt.Errorf("writing data at block %d: %w", start, err)
				}
				exts = appendExtent(exts, uint32(size/f.bs)+done, start, got)
				done += got
				goal = start + uint64(got)
			}
			size += uint64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if size >= 1<<31 && !f.sb.hasLargeFile() {
		return fmt.Errorf("%w: a file of 2 GiB or more needs large_file", ErrUnsupported)
	}
	var data uint64
	for _, e := range exts {
		data += uint64(e.length)
	}
	tree, err := f.storeExtents(ino, in, exts, nil, goal)
	if err != nil {
		if errors.Is(err, ErrNoSpace) {
			return fmt.Errorf("%w: %d more blocks needed for the extent tree", ErrNoSpace, f.treeBlocksFor(len(exts)))
		}
		return err
	}
	in.setSize(size)
	return f.addBlocks(in, int64(data)+int64(tree))
}

// dataBuffer returns a block-aligned buffer of at least n bytes (up to
// writeChunk), reused between writes.
func (f *FS) dataBuffer(n int) []byte {
	n = (n + int(f.bs) - 1) / int(f.bs) * int(f.bs)
	if cap(f.wbuf) < n {
		f.wbuf = make([]byte, n)
	}
	return f.wbuf[:n]
}

// noSpace reads the rest of r to say how much space was missing: read
// bytes so far, free blocks before the write.
func (f *FS) noSpace(r io.Reader, read, free uint64) error {
	rest, _ := io.Copy(io.Discard, r)
	size := read + uint64(rest)
	need := (size + f.bs - 1) / f.bs
	need += uint64(f.treeBlocksFor(int(need/maxExtentLen) + 1))
	return fmt.Errorf("%w: a %d-byte file needs %d blocks, %d free (%d missing)", ErrNoSpace, size, need, free, need-min(need, free))
}

// unlinkInode drops one link to inode ino, releasing it with its last.
func (f *FS) unlinkInode(ino uint32, in *inode) error {
	if in.links() > 1 {
		in.setLinks(in.links() - 1)
		in.setTime(inCtime, inCtimeExtra, f.opts.Now())
		return f.writeInode(ino, in)
	}
	return f.releaseInode(ino, in)
}

// releaseInode frees an inode and everything it holds, leaving it marked
// deleted the way the kernel does.
func (f *FS) releaseInode(ino uint32, in *inode) error {
	if err := f.freeData(ino, in); err != nil {
		return err
	}
	if err := f.freeInode(ino, in.isDir()); err != nil {
		return err
	}
	in.setLinks(0)
	in.setSize(0)
	in.setBlocks512(f.sb, 0)
	if in.hasExtents() {
		clear(in.iBlock())
		putExtentHeader(in.iBlock(), 0, rootExtents, 0)
	} else {
		clear(in.iBlock())
	}
	// e2fsck reads a small dtime as an orphan list link.
	dtime := uint32(f.opts.Now().Unix())
	if dtime <= f.sb.inodesCount {
		dtime = f.sb.inodesCount + 1
	}
	in.setDtime(dtime)
	return f.writeInode(ino, in)
}

// Mkdir creates a directory.
func (f *FS) Mkdir(name string, attr Attr) error {
	return f.change("mkdir", name, func() error { return f.mkdir(name, attr) })
}

// MkdirAll creates a directory and any missing parents, all with attr.
func (f *FS) MkdirAll(name string, attr Attr) error {
	return f.change("mkdir", name, func() error {
		p, err := cleanPath(name)
		if err != nil {
			return err
		}
		cur := ""
		for _, part := range splitPath(p) {
			cur += "/" + part
			_, in, err := f.resolve(cur, true)
			switch {
			case err == nil && in.isDir():
				continue
			case err == nil:
				return syscall.ENOTDIR
			case !errors.Is(err, fs.ErrNotExist):
				return err
			}
			if err := f.mkdir(cur, attr); err != nil {
				return err
			}
		}
		return nil
	})
}

// newName finds the directory that is to hold name, which must not exist
// yet (fs.ErrExist otherwise).
func (f *FS) newName(name string) (dirIno uint32, dir *inode, base []byte, err error) {
	dirIno, dir, base, err = f.parent(name)
	if err != nil {
		return 0, nil, nil, rootAs(err, fs.ErrExist)
	}
	loc, err := f.lookupIn(dirIno, dir, base)
	if err != nil {
		return 0, nil, nil, err
	}
	if loc != nil {
		return 0, nil, nil, fs.ErrExist
	}
	return dirIno, dir, base, nil
}

func (f *FS) mkdir(name string, attr Attr) error {
	dirIno, dir, base, err := f.newName(name)
	if err != nil {
		return err
	}
	links := dir.links()
	if links >= linkMax-1 && links != 1 && !f.sb.hasDirNlink() {
		return syscall.EMLINK
	}
	ino, in, err := f.newInode(dirIno, modeDir|unixPerm(attr.Mode), attr)
	if err != nil {
		return err
	}
	in.setLinks(2)
	phys, _, err := f.allocBlocks(f.groupGoal(ino), 1, 1)
	if err != nil {
		return err
	}
	buf := f.metaNew(phys)
	f.putDirent(buf, 0, 12, ino, []byte("."), direntType(modeDir))
	f.putDirent(buf, 12, f.leafEnd()-12, dirIno, []byte(".."), direntType(modeDir))
	f.sealLeaf(ino, in, buf)
	if _, err := f.storeExtents(ino, in, []extent{{logical: 0, physical: phys, length: 1}}, nil, phys); err != nil {
		return err
	}
	in.setSize(f.bs)
	if err := f.addBlocks(in, 1); err != nil {
		return err
	}
	if err := f.writeInode(ino, in); err != nil {
		return err
	}
	if err := f.addEntry(dirIno, dir, base, ino, direntType(modeDir)); err != nil {
		return err
	}
	switch {
	case links == 1:
		// dir_nlink: past the limit the count stays 1.
	case links >= linkMax-1:
		dir.setLinks(1)
	default:
		dir.setLinks(links + 1)
	}
	f.touchDir(dir)
	return f.writeInode(dirIno, dir)
}

// Symlink creates name as a symlink to target: a fast symlink (target in
// the inode) when shorter than 60 bytes, else one with a data block.
// Symlink permissions are always 0777, as on Linux.
func (f *FS) Symlink(target, name string, attr Attr) error {
	return f.change("symlink", name, func() error {
		if len(target) == 0 || len(target) >= int(f.bs) || len(target) > 4095 {
			return syscall.ENAMETOOLONG
		}
		dirIno, dir, base, err := f.newName(name)
		if err != nil {
			return err
		}
		ino, in, err := f.newInode(dirIno, modeLink|0o777, attr)
		if err != nil {
			return err
		}
		in.setSize(uint64(len(target)))
		if len(target) < iBlockSize {
			copy(in.iBlock(), target)
		} else {
			phys, _, err := f.allocBlocks(f.groupGoal(ino), 1, 1)
			if err != nil {
				return err
			}
			blk := make([]byte, f.bs)
			copy(blk, target)
			if _, err := f.dev.WriteAt(blk, int64(phys*f.bs)); err != nil {
				return fmt.Errorf("writing symlink target: %w", err)
			}
			if _, err := f.storeExtents(ino, in, []extent{{logical: 0, physical: phys, length: 1}}, nil, phys); err != nil {
				return err
			}
			if err := f.addBlocks(in, 1); err != nil {
				return err
			}
		}
		if err := f.writeInode(ino, in); err != nil {
			return err
		}
		if err := f.addEntry(dirIno, dir, base, ino, direntType(modeLink)); err != nil {
			return err
		}
		f.touchDir(dir)
		return f.writeInode(dirIno, dir)
	})
}

// Remove removes a file, symlink or empty directory.
func (f *FS) Remove(name string) error {
	return f.change("remove", name, func() error {
		dirIno, dir, base, err := f.parent(name)
		if err != nil {
			return err
		}
		if string(base) == "." || string(base) == ".." {
			return syscall.EINVAL
		}
		loc, err := f.lookupIn(dirIno, dir, base)
		if err != nil {
			return err
		}
		if loc == nil {
			return fs.ErrNotExist
		}
		in, err := f.readInode(loc.ent.ino)
		if err != nil {
			return err
		}
		if in.isDir() {
			empty, err := f.isEmptyDir(loc.ent.ino, in)
			if err != nil {
				return err
			}
			if !empty {
				return syscall.ENOTEMPTY
			}
		}
		if err := f.removeEntry(dirIno, dir, loc); err != nil {
			return err
		}
		if in.isDir() {
			if err := f.releaseInode(loc.ent.ino, in); err != nil {
				return err
			}
			dropSubdir(dir)
		} else if err := f.unlinkInode(loc.ent.ino, in); err != nil {
			return err
		}
		f.touchDir(dir)
		return f.writeInode(dirIno, dir)
	})
}

// dropSubdir lowers a directory's link count for a subdirectory gone.
func dropSubdir(dir *inode) {
	if n := dir.links(); n > 2 {
		dir.setLinks(n - 1)
	}
}

// Chmod changes the permission bits (and setuid, setgid, sticky) of the
// named file, following symlinks.
func (f *FS) Chmod(name string, mode fs.FileMode) error {
	return f.change("chmod", name, func() error {
		ino, in, err := f.resolve(name, true)
		if err != nil {
			return err
		}
		in.setMode(in.fileType() | unixPerm(mode))
		in.setTime(inCtime, inCtimeExtra, f.opts.Now())
		return f.writeInode(ino, in)
	})
}

// Chown changes the owner of the named file, following symlinks; -1
// leaves that id unchanged.
func (f *FS) Chown(name string, uid, gid int) error {
	return f.change("chown", name, func() error { return f.chown(name, uid, gid, true) })
}

// Lchown changes the owner of the named file without following a final
// symlink.
func (f *FS) Lchown(name string, uid, gid int) error {
	return f.change("lchown", name, func() error { return f.chown(name, uid, gid, false) })
}

func (f *FS) chown(name string, uid, gid int, follow bool) error {
	if (uid != -1 && !validID(uid)) || (gid != -1 && !validID(gid)) {
		return fs.ErrInvalid
	}
	ino, in, err := f.resolve(name, follow)
	if err != nil {
		return err
	}
	u, g := in.uid(), in.gid()
	if uid != -1 {
		u = uint32(uid)
	}
	if gid != -1 {
		g = uint32(gid)
	}
	in.setOwner(u, g)
	in.setTime(inCtime, inCtimeExtra, f.opts.Now())
	return f.writeInode(ino, in)
}

// Chtimes changes the access and modification times of the named file,
// following symlinks. A zero time leaves that one unchanged.
func (f *FS) Chtimes(name string, atime, mtime time.Time) error {
	return f.change("chtimes", name, func() error {
		ino, in, err := f.resolve(name, true)
		if err != nil {
			return err
		}
		if !atime.IsZero() {
			in.setTime(inAtime, inAtimeExtra, atime)
		}
		if !mtime.IsZero() {
			in.setTime(inMtime, inMtimeExtra, mtime)
		}
		in.setTime(inCtime, inCtimeExtra, f.opts.Now())
		return f.writeInode(ino, in)
	})
}

// Rename moves oldname to newname within the filesystem. An existing
// newname is replaced if it is a file or symlink (or an empty directory,
// when oldname is a directory).
func (f *FS) Rename(oldname, newname string) error {
	return f.change("rename", oldname, func() error { return f.rename(oldname, newname) })
}

func (f *FS) rename(oldname, newname string) error {
	oldDirIno, oldDir, oldBase, err := f.parent(oldname)
	if err != nil {
		return err
	}
	newDirIno, newDir, newBase, err := f.parent(newname)
	if err != nil {
		return err
	}
	sameDir := oldDirIno == newDirIno
	if sameDir {
		newDir = oldDir // one copy of the inode, changed by both sides
	}
	for _, b := range [][]byte{oldBase, newBase} {
		if string(b) == "." || string(b) == ".." {
			return syscall.EINVAL
		}
	}
	src, err := f.lookupIn(oldDirIno, oldDir, oldBase)
	if err != nil {
		return err
	}
	if src == nil {
		return fs.ErrNotExist
	}
	ino := src.ent.ino
	in, err := f.readInode(ino)
	if err != nil {
		return err
	}
	if in.isDir() && !sameDir {
		// Not into itself or below.
		for cur := newDirIno; cur != rootIno; {
			if cur == ino {
				return syscall.EINVAL
			}
			curIn, err := f.readInode(cur)
			if err != nil {
				return err
			}
			up, err := f.lookupIn(cur, curIn, []byte(".."))
			if err != nil {
				return err
			}
			if up == nil {
				return corruptf("directory inode %d has no \"..\"", cur)
			}
			cur = up.ent.ino
		}
	}
	dst, err := f.lookupIn(newDirIno, newDir, newBase)
	if err != nil {
		return err
	}
	ftype := direntType(in.mode())
	var replaced *inode
	if dst != nil {
		if dst.ent.ino == ino {
			return nil // the same file already
		}
		if replaced, err = f.readInode(dst.ent.ino); err != nil {
			return err
		}
		switch {
		case replaced.isDir() && !in.isDir():
			return syscall.EISDIR
		case !replaced.isDir() && in.isDir():
			return syscall.ENOTDIR
		case replaced.isDir():
			empty, err := f.isEmptyDir(dst.ent.ino, replaced)
			if err != nil {
				return err
			}
			if !empty {
				return syscall.ENOTEMPTY
			}
		}
		if err := f.setEntryInode(newDirIno, newDir, dst, ino, ftype); err != nil {
			return err
		}
	} else if err := f.addEntry(newDirIno, newDir, newBase, ino, ftype); err != nil {
		return err
	}
	// Find the old entry again: adding may have split its block.
	if src, err = f.lookupIn(oldDirIno, oldDir, oldBase); err != nil {
		return err
	}
	if src == nil || src.ent.ino != ino {
		return corruptf("directory inode %d: entry %q moved while renaming", oldDirIno, oldBase)
	}
	if err := f.removeEntry(oldDirIno, oldDir, src); err != nil {
		return err
	}
	if replaced != nil {
		if replaced.isDir() {
			if err := f.releaseInode(dst.ent.ino, replaced); err != nil {
				return err
			}
			dropSubdir(newDir)
		} else if err := f.unlinkInode(dst.ent.ino, replaced); err != nil {
			return err
		}
	}
	if in.isDir() && !sameDir {
		if err := f.setDotDot(ino, in, newDirIno); err != nil {
			return err
		}
		dropSubdir(oldDir)
		switch n := newDir.links(); {
		case n == 1:
		case n >= linkMax-1 && f.sb.hasDirNlink():
			newDir.setLinks(1)
		case n >= linkMax-1:
			return syscall.EMLINK
		default:
			newDir.setLinks(n + 1)
		}
	}
	in.setTime(inCtime, inCtimeExtra, f.opts.Now())
	if err := f.writeInode(ino, in); err != nil {
		return err
	}
	f.touchDir(oldDir)
	if err := f.writeInode(oldDirIno, oldDir); err != nil {
		return err
	}
	if !sameDir {
		f.touchDir(newDir)
		return f.writeInode(newDirIno, newDir)
	}
	return nil
}
