package ext4

import (
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"
)

// FileInfo describes a file; it implements fs.FileInfo.
type FileInfo struct {
	name string
	st   Inode
}

// Inode is what FileInfo.Sys returns: the inode's fields, decoded.
type Inode struct {
	Ino        uint32
	Mode       uint16 // i_mode: type and permission bits as stored
	UID, GID   uint32
	Size       uint64
	Links      uint16
	Blocks     uint64 // allocated space in 512-byte units
	Flags      uint32 // i_flags (EXT4_*_FL)
	Generation uint32
	Atime      time.Time
	Mtime      time.Time
	Ctime      time.Time
	Crtime     time.Time // zero when the inode has no room for it
	LinkTarget string    // for symlinks
	DevMajor   uint32    // for device nodes
	DevMinor   uint32
}

func (fi *FileInfo) Name() string       { return fi.name }
func (fi *FileInfo) Size() int64        { return int64(fi.st.Size) }
func (fi *FileInfo) Mode() fs.FileMode  { return fileMode(fi.st.Mode) }
func (fi *FileInfo) ModTime() time.Time { return fi.st.Mtime }
func (fi *FileInfo) IsDir() bool        { return fi.st.Mode&modeType == modeDir }

// Sys returns an *Inode.
func (fi *FileInfo) Sys() any           { return &fi.st }
func (fi *FileInfo) Ino() uint32        { return fi.st.Ino }
func (fi *FileInfo) UID() int           { return int(fi.st.UID) }
func (fi *FileInfo) GID() int           { return int(fi.st.GID) }
func (fi *FileInfo) Nlink() int         { return int(fi.st.Links) }
func (fi *FileInfo) LinkTarget() string { return fi.st.LinkTarget }
func (fi *FileInfo) String() string     { return fs.FormatFileInfo(fi) }

var _ fs.FileInfo = (*FileInfo)(nil)

func (f *FS) fileInfo(name string, ino uint32, in *inode) (*FileInfo, error) {
	fi := &FileInfo{name: name, st: Inode{
		Ino: ino, Mode: in.mode(), UID: in.uid(), GID: in.gid(), Size: in.size(),
		Links: in.links(), Blocks: in.blocks512(f.sb), Flags: in.flags(), Generation: in.generation(),
		Atime: in.atime(), Mtime: in.mtime(), Ctime: in.ctime(),
	}}
	if in.fits(inCrtimeExtra + 4) {
		fi.st.Crtime = in.crtime()
	}
	switch in.fileType() {
	case modeLink:
		t, err := f.readLink(ino, in)
		if err != nil {
			return nil, err
		}
		fi.st.LinkTarget = t
	case modeChar, modeBlock:
		if old := le.Uint32(in.iBlock()); old != 0 {
			fi.st.DevMajor, fi.st.DevMinor = old>>8&0xff, old&0xff
		} else {
			n := le.Uint32(in.iBlock()[4:])
			fi.st.DevMajor, fi.st.DevMinor = n>>8&0xfff, n&0xff|n>>12&0xfff00
		}
	}
	return fi, nil
}

func baseName(p string) string {
	if p = path.Base(p); p == "/" {
		return "."
	}
	return p
}

// Lstat describes the named file; a final symlink is not followed.
func (f *FS) Lstat(name string) (*FileInfo, error) {
	return f.stat("lstat", name, false)
}

// Stat describes the named file, following a final symlink.
func (f *FS) Stat(name string) (*FileInfo, error) {
	return f.stat("stat", name, true)
}

func (f *FS) stat(op, name string, follow bool) (*FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ino, in, err := f.resolve(name, follow)
	if err != nil {
		return nil, pathErr(op, name, err)
	}
	fi, err := f.fileInfo(baseName(name), ino, in)
	return fi, pathErr(op, name, err)
}

// Readlink returns the target of the named symlink.
func (f *FS) Readlink(name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ino, in, err := f.resolve(name, false)
	if err != nil {
		return "", pathErr("readlink", name, err)
	}
	if !in.isSymlink() {
		return "", pathErr("readlink", name, syscall.EINVAL)
	}
	t, err := f.readLink(ino, in)
	return t, pathErr("readlink", name, err)
}

// ReadFile reads the named file whole, following symlinks.
func (f *FS) ReadFile(name string) ([]byte, error) {
	file, err := f.open("readfile", name)
	if err != nil {
		return nil, err
	}
	if file.info.IsDir() {
		return nil, pathErr("readfile", name, syscall.EISDIR)
	}
	size := file.info.Size()
	if size > 1<<30 {
		return io.ReadAll(file)
	}
	buf := make([]byte, size)
	if _, err := file.ReadAt(buf, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return buf, nil
}

// ReadDir lists the named directory sorted by name, without "." and "..".
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	file, err := f.open("readdir", name)
	if err != nil {
		return nil, err
	}
	if !file.info.IsDir() {
		return nil, pathErr("readdir", name, syscall.ENOTDIR)
	}
	return file.ReadDir(-1)
}

// Open opens the named file for reading, following symlinks. Like every
// method here it takes absolute paths ("/etc/hostname") and fs.FS style
// ones ("etc/hostname", "." for the root) alike; IOFS gives a view that
// insists on the latter. Directories implement fs.ReadDirFile.
func (f *FS) Open(name string) (fs.File, error) {
	return f.open("open", name)
}

// IOFS returns the filesystem as a strict fs.FS: names must satisfy
// fs.ValidPath.
func (f *FS) IOFS() fs.FS { return ioFS{f} }

type ioFS struct{ f *FS }

func (v ioFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, pathErr("open", name, fs.ErrInvalid)
	}
	return v.f.Open(name)
}

func (v ioFS) ReadFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, pathErr("readfile", name, fs.ErrInvalid)
	}
	return v.f.ReadFile(name)
}

func (v ioFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, pathErr("readdir", name, fs.ErrInvalid)
	}
	return v.f.ReadDir(name)
}

func (v ioFS) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, pathErr("stat", name, fs.ErrInvalid)
	}
	return v.f.Stat(name)
}

func (f *FS) open(op, name string) (*File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ino, in, err := f.resolve(name, true)
	if err != nil {
		return nil, pathErr(op, name, err)
	}
	fi, err := f.fileInfo(baseName(name), ino, in)
	if err != nil {
		return nil, pathErr(op, name, err)
	}
	file := &File{fs: f, name: name, ino: ino, in: in, info: fi}
	switch {
	case in.isRegular():
		if file.m, err = f.blockMap(ino, in); err != nil {
			return nil, pathErr(op, name, err)
		}
	case !in.isDir():
		file.m = &blockMap{} // devices, fifos and sockets have no data here
	}
	return file, nil
}

var (
	_ fs.FS          = (*FS)(nil)
	_ fs.ReadDirFS   = (*FS)(nil)
	_ fs.ReadFileFS  = (*FS)(nil)
	_ fs.ReadDirFile = (*File)(nil)
	_ io.ReaderAt    = (*File)(nil)
	_ fs.StatFS      = ioFS{}
	_ fs.ReadFileFS  = ioFS{}
	_ fs.ReadDirFS   = ioFS{}
	_ io.Seeker      = (*File)(nil)
)

// File is an open file or directory. Regular files read, seek and read
// at offsets; directories list. Reads see the file as it was when opened.
type File struct {
	fs   *FS
	name string
	ino  uint32
	in   *inode
	info *FileInfo
	m    *blockMap
	off  int64

	entries []fs.DirEntry // directory listing, read on first ReadDir
	listed  bool
}

func (file *File) Stat() (fs.FileInfo, error) { return file.info, nil }
func (file *File) Close() error               { return nil }

func (file *File) Read(p []byte) (int, error) {
	n, err := file.ReadAt(p, file.off)
	file.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (file *File) ReadAt(p []byte, off int64) (int, error) {
	if file.info.IsDir() {
		return 0, pathErr("read", file.name, syscall.EISDIR)
	}
	if off < 0 {
		return 0, pathErr("read", file.name, fs.ErrInvalid)
	}
	file.fs.mu.Lock()
	defer file.fs.mu.Unlock()
	n, err := file.fs.readData(file.m, file.in.size(), p, uint64(off))
	if err != nil && err != io.EOF {
		err = pathErr("read", file.name, err)
	}
	return n, err
}

func (file *File) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += file.off
	case io.SeekEnd:
		offset += int64(file.in.size())
	}
	if offset < 0 {
		return 0, pathErr("seek", file.name, fs.ErrInvalid)
	}
	file.off = offset
	return offset, nil
}

// ReadDir lists the directory in name order, n entries at a time (all
// when n <= 0).
func (file *File) ReadDir(n int) ([]fs.DirEntry, error) {
	if !file.info.IsDir() {
		return nil, pathErr("readdir", file.name, syscall.ENOTDIR)
	}
	if !file.listed {
		if err := file.list(); err != nil {
			return nil, pathErr("readdir", file.name, err)
		}
	}
	if n <= 0 {
		out := file.entries
		file.entries = nil
		return out, nil
	}
	if len(file.entries) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(file.entries))
	out := file.entries[:n:n]
	file.entries = file.entries[n:]
	return out, nil
}

func (file *File) list() error {
	f := file.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fs.DirEntry
	err := f.readDirents(file.ino, file.in, func(e dirent) error {
		if name := string(e.name); name != "." && name != ".." {
			out = append(out, &dirEntry{fs: f, dir: file.name, name: name, ino: e.ino, ftype: e.ftype})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !f.sb.hasFiletype() {
		for _, e := range out {
			d := e.(*dirEntry)
			in, err := f.readInode(d.ino)
			if err != nil {
				return err
			}
			d.ftype = direntType(in.mode())
		}
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	file.entries, file.listed = out, true
	return nil
}

type dirEntry struct {
	fs    *FS
	dir   string
	name  string
	ino   uint32
	ftype uint8
}

func (d *dirEntry) Name() string { return d.name }
func (d *dirEntry) IsDir() bool  { return d.ftype == 2 }
func (d *dirEntry) Type() fs.FileMode {
	return fileMode([]uint16{0, modeFile, modeDir, modeChar, modeBlock, modeFIFO, modeSocket, modeLink, 0}[min(int(d.ftype), 8)]).Type()
}
func (d *dirEntry) String() string { return fs.FormatDirEntry(d) }

func (d *dirEntry) Info() (fs.FileInfo, error) {
	f := d.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.readInode(d.ino)
	if err != nil {
		return nil, pathErr("stat", path.Join(d.dir, d.name), err)
	}
	if in.links() == 0 {
		return nil, pathErr("stat", path.Join(d.dir, d.name), fs.ErrNotExist)
	}
	fi, err := f.fileInfo(d.name, d.ino, in)
	if err != nil {
		return nil, pathErr("stat", path.Join(d.dir, d.name), err)
	}
	return fi, nil
}

// readData reads file bytes at off from its block map; holes and unwritten
// extents read as zeros.
func (f *FS) readData(m *blockMap, size uint64, p []byte, off uint64) (int, error) {
	if off >= size {
		return 0, io.EOF
	}
	want := len(p)
	if uint64(want) > size-off {
		p = p[:size-off]
	}
	n := 0
	for n < len(p) {
		pos := off + uint64(n)
		lb := pos / f.bs
		if lb >= 1<<32 {
			return n, corruptf("file offset %d beyond the extent range", pos)
		}
		i, found := m.lookup(uint32(lb))
		var chunk uint64
		if found {
			e := m.extents[i]
			end := uint64(e.logical+e.length) * f.bs
			chunk = min(end-pos, uint64(len(p)-n))
			if e.unwritten {
				clear(p[n : n+int(chunk)])
			} else {
				phys := (e.physical+lb-uint64(e.logical))*f.bs + pos%f.bs
				if err := f.readAt(p[n:n+int(chunk)], phys); err != nil {
					return n, err
				}
			}
		} else {
			next := uint64(1) << 32 * f.bs
			if i < len(m.extents) {
				next = uint64(m.extents[i].logical) * f.bs
			}
			chunk = min(next-pos, uint64(len(p)-n))
			clear(p[n : n+int(chunk)])
		}
		n += int(chunk)
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}
