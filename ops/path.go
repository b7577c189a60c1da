package ops

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"syscall"
)

// maxLinks bounds the symbolic links followed in one path, as Linux does.
const maxLinks = 40

// ResolvePath resolves the symbolic links in the target path p as a chroot
// would: an absolute link target starts at the target's own root, and ".."
// never leaves it. The last element is followed only when follow is set.
// lstat describes one target path without following it.
//
// Where an element does not exist, the walk ends and the rest is joined on
// unresolved, so that callers find it missing (or create it). Errors, as
// *fs.PathError for p: ELOOP after 40 links, ENOTDIR when a non-directory
// has elements below it, and lstat's other errors.
func ResolvePath(p string, follow bool, lstat func(string) (*FileInfo, error)) (string, error) {
	if err := CheckPath(p); err != nil {
		return "", err
	}
	rest := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for links := 0; len(rest) > 0; {
		elem := rest[0]
		rest = rest[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, elem)
		if len(rest) == 0 && !follow {
			return next, nil
		}
		fi, err := lstat(next)
		if errors.Is(err, fs.ErrNotExist) {
			return path.Join(append([]string{next}, rest...)...), nil
		}
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", &fs.PathError{Op: "resolve", Path: p, Err: err}
		}
		if !fi.IsSymlink() {
			if len(rest) > 0 && !fi.IsDir() {
				return "", &fs.PathError{Op: "resolve", Path: p, Err: syscall.ENOTDIR}
			}
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return "", &fs.PathError{Op: "resolve", Path: p, Err: syscall.ELOOP}
		}
		if path.IsAbs(fi.Target) {
			cur = "/"
		}
		rest = append(strings.Split(fi.Target, "/"), rest...)
	}
	return cur, nil
}
