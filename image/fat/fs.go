package fat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// The modes files and directories have, as Raspberry Pi OS's vfat mount
// shows them (see the package documentation).
const (
	FileMode         fs.FileMode = 0o755
	ReadOnlyFileMode fs.FileMode = 0o555 // a file with the read-only attribute
	DirMode          fs.FileMode = fs.ModeDir | 0o755
)

// maxFileSize is the largest file FAT32 can hold: its size field is 32 bits.
const maxFileSize = 1<<32 - 1

// Attributes is what FileInfo.Sys returns: the FAT-specific facts.
type Attributes struct {
	ShortName    string // the 8.3 name as stored, "CONFIG~1.TXT"
	Attr         byte   // read-only 0x01, hidden 0x02, system 0x04, directory 0x10, archive 0x20
	FirstCluster uint32 // 0 for an empty file
}

type fileInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
	attrs *Attributes
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *fileInfo) ModTime() time.Time { return fi.mtime }
func (fi *fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *fileInfo) Sys() any           { return fi.attrs }

func (d *dir) info(e *dirent) *fileInfo {
	fi := &fileInfo{
		name:  d.name(e),
		mode:  FileMode,
		mtime: d.modTime(e),
		attrs: &Attributes{ShortName: e.short.String(), Attr: d.attr(e), FirstCluster: d.firstCluster(e)},
	}
	switch {
	case d.isDir(e):
		fi.mode = DirMode
	case d.attr(e)&attrReadOnly != 0:
		fi.mode, fi.size = ReadOnlyFileMode, int64(d.size(e))
	default:
		fi.size = int64(d.size(e))
	}
	return fi
}

// place is where a path leads: the directory holding its last element and
// that element's entry (nil when it does not exist). The root has no
// parent.
type place struct {
	parent *dir
	entry  *dirent
	base   string
}

func (p *place) isRoot() bool { return p.parent == nil }

// locate walks name ("/overlays/vc4-kms-v3d.dtbo"; relative names are taken
// from the root), looking each element up as the vfat driver does.
func (fsys *FS) locate(name string) (*place, error) {
	clean := path.Clean("/" + name)
	if clean == "/" {
		return &place{}, nil
	}
	parts := strings.Split(clean[1:], "/")
	d, err := fsys.readDir(fsys.rootCluster)
	if err != nil {
		return nil, err
	}
	for _, part := range parts[:len(parts)-1] {
		e := d.lookup(part)
		switch {
		case e == nil:
			return nil, fs.ErrNotExist
		case !d.isDir(e):
			return nil, ErrNotDir
		}
		if d, err = fsys.readDir(d.firstCluster(e)); err != nil {
			return nil, err
		}
	}
	last := parts[len(parts)-1]
	return &place{parent: d, entry: d.lookup(last), base: last}, nil
}

// existing locates name and requires it to exist.
func (fsys *FS) existing(name string) (*place, error) {
	p, err := fsys.locate(name)
	if err == nil && !p.isRoot() && p.entry == nil {
		err = fs.ErrNotExist
	}
	return p, err
}

// Stat describes name.
func (fsys *FS) Stat(name string) (fs.FileInfo, error) {
	p, err := fsys.existing(name)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if p.isRoot() {
		return &fileInfo{name: "/", mode: DirMode, attrs: &Attributes{Attr: attrDir, FirstCluster: fsys.rootCluster}}, nil
	}
	return p.parent.info(p.entry), nil
}

// Lstat is Stat: FAT has no symbolic links.
func (fsys *FS) Lstat(name string) (fs.FileInfo, error) { return fsys.Stat(name) }

// ReadFile returns the content of the file name.
func (fsys *FS) ReadFile(name string) ([]byte, error) {
	b, err := fsys.readFile(name)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return b, nil
}

func (fsys *FS) readFile(name string) ([]byte, error) {
	p, err := fsys.existing(name)
	if err != nil {
		return nil, err
	}
	if p.isRoot() || p.parent.isDir(p.entry) {
		return nil, ErrIsDir
	}
	size := int64(p.parent.size(p.entry))
	chain, err := fsys.chain(p.parent.firstCluster(p.entry))
	if err != nil {
		return nil, err
	}
	if int64(len(chain))*fsys.clusterSize < size {
		return nil, fmt.Errorf("%w: %d bytes in a chain of %d clusters", ErrCorrupt, size, len(chain))
	}
	b := make([]byte, size)
	for i := 0; int64(i)*fsys.clusterSize < size; {
		// Read runs of consecutive clusters at once.
		j := i + 1
		for int64(j)*fsys.clusterSize < size && chain[j] == chain[j-1]+1 {
			j++
		}
		part := b[int64(i)*fsys.clusterSize : min(int64(j)*fsys.clusterSize, size)]
		if err := fsys.readAt(part, fsys.clusterOffset(chain[i])); err != nil {
			return nil, err
		}
		i = j
	}
	return b, nil
}

// ReadDir lists the directory name, sorted by name, without "." and "..".
func (fsys *FS) ReadDir(name string) ([]fs.FileInfo, error) {
	d, err := fsys.openDir(name)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	var list []fs.FileInfo
	for _, e := range d.entries {
		if d.listed(e) {
			list = append(list, d.info(e))
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name() < list[j].Name() })
	return list, nil
}

func (fsys *FS) openDir(name string) (*dir, error) {
	p, err := fsys.existing(name)
	switch {
	case err != nil:
		return nil, err
	case p.isRoot():
		return fsys.readDir(fsys.rootCluster)
	case !p.parent.isDir(p.entry):
		return nil, ErrNotDir
	}
	return fsys.readDir(p.parent.firstCluster(p.entry))
}

// errMode explains why a mode cannot be set.
var errMode = fmt.Errorf("%w: FAT has no permission bits; files are %04o (%04o with the read-only attribute) and directories %04o, as Raspberry Pi OS mounts them",
	errors.ErrUnsupported, FileMode, ReadOnlyFileMode, DirMode.Perm())

// readOnlyFor is the read-only attribute a file mode asks for.
func readOnlyFor(perm fs.FileMode) (bool, error) {
	switch perm.Perm() {
	case FileMode:
		return false, nil
	case ReadOnlyFileMode:
		return true, nil
	}
	return false, fmt.Errorf("mode %04o: %w", perm.Perm(), errMode)
}

// WriteFile creates the file name, or replaces its content, with data. The
// directory must exist. perm must be FileMode, or ReadOnlyFileMode for the
// read-only attribute. An empty file takes no cluster.
func (fsys *FS) WriteFile(name string, data []byte, perm fs.FileMode) error {
	if err := fsys.writeFile(name, data, perm); err != nil {
		fsys.discard()
		return &fs.PathError{Op: "write", Path: name, Err: err}
	}
	return nil
}

func (fsys *FS) writeFile(name string, data []byte, perm fs.FileMode) error {
	readOnly, err := readOnlyFor(perm)
	if err != nil {
		return err
	}
	if int64(len(data)) > maxFileSize {
		return fmt.Errorf("%w: %d bytes is more than a FAT32 file can hold", ErrNoSpace, len(data))
	}
	p, err := fsys.locate(name)
	if err != nil {
		return err
	}
	if p.isRoot() {
		return ErrIsDir
	}
	d, e := p.parent, p.entry
	var chain []uint32
	if e != nil {
		if d.isDir(e) {
			return ErrIsDir
		}
		if chain, err = fsys.chain(d.firstCluster(e)); err != nil {
			return err
		}
	} else if err := checkName(p.base); err != nil {
		return err
	}
	need := int((int64(len(data)) + fsys.clusterSize - 1) / fsys.clusterSize)
	if need > len(chain) && uint32(need-len(chain)) > fsys.free {
		return fmt.Errorf("%w: %d bytes needed, %d free", ErrNoSpace, int64(need-len(chain))*fsys.clusterSize, fsys.FreeBytes())
	}
	// Keep what the old content used, free the rest or add to it.
	keep := min(need, len(chain))
	fsys.release(chain[keep:])
	var last uint32
	if keep > 0 {
		last = chain[keep-1]
		fsys.setEntry(last, fatEOC)
	}
	added, err := fsys.allocate(need-keep, last)
	if err != nil {
		return err
	}
	chain = append(chain[:keep], added...)
	if err := fsys.writeClusters(chain, data); err != nil {
		return err
	}
	var first uint32
	if len(chain) > 0 {
		first = chain[0]
	}
	attr := byte(attrArchive)
	if readOnly {
		attr |= attrReadOnly
	}
	now := fsys.now()
	if e == nil {
		if _, err := fsys.insert(d, p.base, entryFields{attr: attr, cluster: first, size: uint32(len(data)), mod: now}); err != nil {
			return err
		}
	} else {
		s := d.raw(e)
		s[11] = s[11]&^attrReadOnly | attr
		date, clock, _ := encodeTime(now)
		binary.LittleEndian.PutUint16(s[18:], date)
		binary.LittleEndian.PutUint16(s[22:], clock)
		binary.LittleEndian.PutUint16(s[24:], date)
		setFirstCluster(s, first)
		binary.LittleEndian.PutUint32(s[28:], uint32(len(data)))
		d.markDirty(fsys, e.slot, e.slot+1)
	}
	if err := fsys.writeDir(d); err != nil {
		return err
	}
	return fsys.flush()
}

// writeClusters writes data over chain, zeroing the rest of the last
// cluster so that no old content lingers past the end of the file.
func (fsys *FS) writeClusters(chain []uint32, data []byte) error {
	for i := 0; i < len(chain); {
		j := i + 1
		for j < len(chain) && chain[j] == chain[j-1]+1 {
			j++
		}
		from, to := int64(i)*fsys.clusterSize, int64(j)*fsys.clusterSize
		part := data[from:min(to, int64(len(data)))]
		if int64(len(part)) < to-from {
			part = append(append([]byte(nil), part...), make([]byte, to-from-int64(len(part)))...)
		}
		if err := fsys.writeAt(part, fsys.clusterOffset(chain[i])); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// Mkdir makes the directory name; its parent must exist. perm must be
// DirMode's permission bits (0755).
func (fsys *FS) Mkdir(name string, perm fs.FileMode) error {
	if err := fsys.mkdir(name, perm); err != nil {
		fsys.discard()
		return &fs.PathError{Op: "mkdir", Path: name, Err: err}
	}
	return nil
}

func (fsys *FS) mkdir(name string, perm fs.FileMode) error {
	if perm.Perm() != DirMode.Perm() {
		return fmt.Errorf("mode %04o: %w", perm.Perm(), errMode)
	}
	p, err := fsys.locate(name)
	switch {
	case err != nil:
		return err
	case p.isRoot() || p.entry != nil:
		return fs.ErrExist
	}
	if err := checkName(p.base); err != nil {
		return err
	}
	cs, err := fsys.allocate(1, 0)
	if err != nil {
		return err
	}
	now := fsys.now()
	if err := fsys.writeAt(newDirCluster(fsys.clusterSize, cs[0], fsys.dotDot(p.parent), now), fsys.clusterOffset(cs[0])); err != nil {
		return err
	}
	if _, err := fsys.insert(p.parent, p.base, entryFields{attr: attrDir, cluster: cs[0], mod: now}); err != nil {
		return err
	}
	if err := fsys.writeDir(p.parent); err != nil {
		return err
	}
	return fsys.flush()
}

// dotDot is the cluster a subdirectory of d names in its ".." entry: 0
// when d is the root, as the FAT specification requires.
func (fsys *FS) dotDot(d *dir) uint32 {
	if d.cluster == fsys.rootCluster {
		return 0
	}
	return d.cluster
}

// MkdirAll makes the directory name and any missing parents.
func (fsys *FS) MkdirAll(name string, perm fs.FileMode) error {
	if perm.Perm() != DirMode.Perm() {
		return &fs.PathError{Op: "mkdir", Path: name, Err: fmt.Errorf("mode %04o: %w", perm.Perm(), errMode)}
	}
	clean := path.Clean("/" + name)
	for i := 1; i <= len(clean); i++ {
		if i < len(clean) && clean[i] != '/' {
			continue
		}
		prefix := clean[:i]
		fi, err := fsys.Stat(prefix)
		switch {
		case err == nil && fi.IsDir():
			continue
		case err == nil:
			return &fs.PathError{Op: "mkdir", Path: prefix, Err: ErrNotDir}
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		if err := fsys.Mkdir(prefix, perm); err != nil {
			return err
		}
	}
	return nil
}

// Remove removes the file or empty directory name, freeing its clusters.
func (fsys *FS) Remove(name string) error {
	if err := fsys.removeName(name); err != nil {
		fsys.discard()
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	return nil
}

func (fsys *FS) removeName(name string) error {
	p, err := fsys.existing(name)
	if err != nil {
		return err
	}
	if p.isRoot() {
		return fmt.Errorf("%w: the root directory cannot be removed", errors.ErrUnsupported)
	}
	if err := fsys.drop(p.parent, p.entry); err != nil {
		return err
	}
	if err := fsys.writeDir(p.parent); err != nil {
		return err
	}
	return fsys.flush()
}

// drop removes e from d and frees its whole cluster chain; a directory
// must be empty.
func (fsys *FS) drop(d *dir, e *dirent) error {
	if d.isDir(e) {
		if err := fsys.checkEmpty(d.firstCluster(e)); err != nil {
			return err
		}
	}
	chain, err := fsys.chain(d.firstCluster(e))
	if err != nil {
		return err
	}
	fsys.release(chain)
	fsys.remove(d, e)
	return nil
}

func (fsys *FS) checkEmpty(cluster uint32) error {
	sub, err := fsys.readDir(cluster)
	if err != nil {
		return err
	}
	for _, e := range sub.entries {
		if sub.listed(e) {
			return ErrNotEmpty
		}
	}
	return nil
}

// Rename moves oldname to newname, which may be in another directory. An
// existing newname is replaced if it is a file and oldname is one, or if it
// is an empty directory and oldname is a directory.
func (fsys *FS) Rename(oldname, newname string) error {
	if err := fsys.rename(oldname, newname); err != nil {
		fsys.discard()
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return nil
}

func (fsys *FS) rename(oldname, newname string) error {
	src, err := fsys.existing(oldname)
	if err != nil {
		return err
	}
	if src.isRoot() {
		return fmt.Errorf("%w: the root directory cannot be moved", errors.ErrUnsupported)
	}
	dst, err := fsys.locate(newname)
	if err != nil {
		return err
	}
	if dst.isRoot() {
		return fs.ErrExist
	}
	from, to := src.parent, dst.parent
	if to.cluster == from.cluster {
		// One directory: edit one copy of it.
		to = from
		dst.entry = to.lookup(dst.base)
	}
	isDir := from.isDir(src.entry)
	moved := from.firstCluster(src.entry)
	if isDir && to != from {
		inside, err := fsys.within(to, moved)
		if err != nil {
			return err
		}
		if inside {
			return fmt.Errorf("%w: a directory cannot move into itself", errors.ErrUnsupported)
		}
	}
	if dst.entry != nil {
		switch {
		case to == from && dst.entry.slot == src.entry.slot:
			if dst.base == from.name(src.entry) {
				return nil // the same name
			}
			// A new spelling of the same name: fall through to re-insert.
		case to.isDir(dst.entry) && !isDir:
			return ErrIsDir
		case !to.isDir(dst.entry) && isDir:
			return ErrNotDir
		default:
			if err := fsys.drop(to, dst.entry); err != nil {
				return err
			}
		}
	}
	if err := checkName(dst.base); err != nil {
		return err
	}
	raw := append([]byte(nil), from.raw(src.entry)...)
	if to == from {
		fsys.remove(from, src.entry)
		if _, err := fsys.insert(to, dst.base, entryFields{copyOf: raw}); err != nil {
			return err
		}
	} else {
		if _, err := fsys.insert(to, dst.base, entryFields{copyOf: raw}); err != nil {
			return err
		}
		fsys.remove(from, src.entry)
	}
	if isDir && to != from {
		// The moved directory's ".." now names its new parent.
		sub, err := fsys.readDir(moved)
		if err != nil {
			return err
		}
		for _, e := range sub.entries {
			if e.short == dotDotName {
				setFirstCluster(sub.raw(e), fsys.dotDot(to))
				sub.markDirty(fsys, e.slot, e.slot+1)
			}
		}
		if err := fsys.writeDir(sub); err != nil {
			return err
		}
	}
	if err := fsys.writeDir(to); err != nil {
		return err
	}
	if err := fsys.writeDir(from); err != nil {
		return err
	}
	return fsys.flush()
}

// within reports whether d is the directory at cluster or below it,
// following ".." entries up to the root.
func (fsys *FS) within(d *dir, cluster uint32) (bool, error) {
	for seen := 0; d.cluster != fsys.rootCluster; seen++ {
		if d.cluster == cluster {
			return true, nil
		}
		if seen > maxDirSlots {
			return false, fmt.Errorf("%w: directory \"..\" entries loop", ErrCorrupt)
		}
		up := d.lookup("..")
		if up == nil {
			return false, fmt.Errorf("%w: directory at cluster %d has no \"..\" entry", ErrCorrupt, d.cluster)
		}
		parent := d.firstCluster(up)
		if parent == 0 {
			parent = fsys.rootCluster
		}
		var err error
		if d, err = fsys.readDir(parent); err != nil {
			return false, err
		}
	}
	return cluster == fsys.rootCluster, nil
}

// Chmod accepts the modes FAT can show: FileMode or ReadOnlyFileMode for
// a file (it sets or clears the read-only attribute), DirMode for a
// directory. Anything else fails with errors.ErrUnsupported.
func (fsys *FS) Chmod(name string, mode fs.FileMode) error {
	if err := fsys.chmod(name, mode); err != nil {
		return &fs.PathError{Op: "chmod", Path: name, Err: err}
	}
	return nil
}

func (fsys *FS) chmod(name string, mode fs.FileMode) error {
	p, err := fsys.existing(name)
	if err != nil {
		return err
	}
	if p.isRoot() || p.parent.isDir(p.entry) {
		if mode.Perm() != DirMode.Perm() {
			return fmt.Errorf("mode %04o: %w", mode.Perm(), errMode)
		}
		return nil
	}
	readOnly, err := readOnlyFor(mode)
	if err != nil {
		return err
	}
	s := p.parent.raw(p.entry)
	attr := s[11] &^ attrReadOnly
	if readOnly {
		attr |= attrReadOnly
	}
	if attr == s[11] {
		return nil
	}
	s[11] = attr
	p.parent.markDirty(fsys, p.entry.slot, p.entry.slot+1)
	return fsys.writeDir(p.parent)
}

// Chown accepts only root (0, or -1 for unchanged as in os.Chown): FAT has
// no owners, and Raspberry Pi OS shows everything on it as root's.
func (fsys *FS) Chown(name string, uid, gid int) error {
	if _, err := fsys.existing(name); err != nil {
		return &fs.PathError{Op: "chown", Path: name, Err: err}
	}
	if (uid != 0 && uid != -1) || (gid != 0 && gid != -1) {
		return &fs.PathError{Op: "chown", Path: name, Err: fmt.Errorf("owner %d:%d: %w: FAT has no owners; everything on it belongs to root (0:0)", uid, gid, errors.ErrUnsupported)}
	}
	return nil
}
