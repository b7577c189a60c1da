package ext4

import (
	"io/fs"
	"path"
	"strings"
	"syscall"
)

const maxSymlinkFollows = 40

// cleanPath turns an API path into an absolute, clean one. Paths are
// relative to the filesystem root whether or not they start with "/";
// fs.FS's "." is the root.
func cleanPath(name string) (string, error) {
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return "", fs.ErrInvalid
	}
	return path.Clean("/" + name), nil
}

func splitPath(p string) []string {
	var parts []string
	for _, s := range strings.Split(p, "/") {
		if s != "" && s != "." {
			parts = append(parts, s)
		}
	}
	return parts
}

// resolve finds the inode name refers to, resolving symlinks met on the
// way inside the filesystem (absolute targets start from its root), and a
// final one too when followLast is set.
func (f *FS) resolve(name string, followLast bool) (uint32, *inode, error) {
	p, err := cleanPath(name)
	if err != nil {
		return 0, nil, err
	}
	ino := uint32(rootIno)
	in, err := f.readInode(ino)
	if err != nil {
		return 0, nil, err
	}
	parts := splitPath(p)
	follows := 0
	for len(parts) > 0 {
		part := parts[0]
		parts = parts[1:]
		if !in.isDir() {
			return 0, nil, syscall.ENOTDIR
		}
		if len(part) > maxNameLen {
			return 0, nil, syscall.ENAMETOOLONG
		}
		m, err := f.blockMap(ino, in)
		if err != nil {
			return 0, nil, err
		}
		loc, err := f.findEntry(ino, in, m, []byte(part))
		if err != nil {
			return 0, nil, err
		}
		if loc == nil {
			return 0, nil, fs.ErrNotExist
		}
		child, err := f.readInode(loc.ent.ino)
		if err != nil {
			return 0, nil, err
		}
		if child.isSymlink() && (len(parts) > 0 || followLast) {
			follows++
			if follows > maxSymlinkFollows {
				return 0, nil, syscall.ELOOP
			}
			target, err := f.readLink(loc.ent.ino, child)
			if err != nil {
				return 0, nil, err
			}
			if strings.HasPrefix(target, "/") {
				ino = rootIno
				if in, err = f.readInode(ino); err != nil {
					return 0, nil, err
				}
			}
			parts = append(splitPath(target), parts...)
			continue
		}
		ino, in = loc.ent.ino, child
	}
	return ino, in, nil
}

// readLink reads a symlink's target.
func (f *FS) readLink(ino uint32, in *inode) (string, error) {
	size := in.size()
	if size == 0 || size >= uint64(f.bs) || size > 4095 {
		return "", corruptf("symlink inode %d: target of %d bytes", ino, size)
	}
	if f.fastSymlink(in) {
		return string(in.iBlock()[:size]), nil
	}
	m, err := f.blockMap(ino, in)
	if err != nil {
		return "", err
	}
	buf := make([]byte, size)
	if _, err := f.readData(m, size, buf, 0); err != nil {
		return "", err
	}
	return string(buf), nil
}

func pathErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}
