package ops

import (
	"bytes"
	"fmt"
	"path"
)

// The Ensure helpers are the building blocks of every op: each compares one
// path with what is wanted and returns the changes needed, none when it is
// already so. Missing parent directories are created 0755 root:root.

// FileSpec is a regular file as an op wants it.
type FileSpec struct {
	Path         string
	Content      []byte
	Mode         Mode
	Owner, Group string // names or numbers; empty means root
	// Sensitive content is never shown in diffs.
	Sensitive bool
	// Reboot marks the change as needing a reboot to take effect.
	Reboot bool
}

// EnsureFile plans f: a Write when the content differs (or the path is
// missing or a symbolic link), an Attrs when only mode or owner do.
func (e *Env) EnsureFile(f FileSpec) ([]*Change, error) {
	if err := CheckPath(f.Path); err != nil {
		return nil, err
	}
	uid, gid, err := e.owner(f.Owner, f.Group)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	write := &Change{Kind: Write, Path: f.Path, Content: f.Content, Mode: f.Mode, UID: uid, GID: gid, Sensitive: f.Sensitive, Reboot: f.Reboot}
	fi, err := e.LstatIfExists(f.Path)
	if err != nil {
		return nil, err
	}
	if fi == nil {
		changes, err := e.ensureParents(f.Path)
		if err != nil {
			return nil, err
		}
		return append(changes, write), nil
	}
	switch {
	case fi.IsDir():
		return nil, fmt.Errorf("%s is a directory, not a file", f.Path)
	case !fi.IsRegular():
		return []*Change{write}, nil
	}
	old, err := e.Sys.ReadFile(f.Path)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(old, f.Content) {
		return []*Change{write}, nil
	}
	return e.attrs(fi, f.Path, f.Mode, uid, gid), nil
}

// EnsureDir plans a directory with the given mode and owner.
func (e *Env) EnsureDir(p string, mode Mode, owner, group string) ([]*Change, error) {
	if err := CheckPath(p); err != nil {
		return nil, err
	}
	uid, gid, err := e.owner(owner, group)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	fi, err := e.LstatIfExists(p)
	if err != nil {
		return nil, err
	}
	if fi == nil {
		changes, err := e.ensureParents(p)
		if err != nil {
			return nil, err
		}
		return append(changes, &Change{Kind: Mkdir, Path: p, Mode: mode, UID: uid, GID: gid}), nil
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s exists and is not a directory", p)
	}
	return e.attrs(fi, p, mode, uid, gid), nil
}

// EnsureLink plans a symbolic link at p pointing to target. An existing
// link is replaced; an existing file or directory is an error, so that no
// data is lost by accident.
func (e *Env) EnsureLink(p, target string) ([]*Change, error) {
	if err := CheckPath(p); err != nil {
		return nil, err
	}
	if target == "" {
		return nil, fmt.Errorf("%s: link target is empty", p)
	}
	link := &Change{Kind: Symlink, Path: p, Target: target}
	fi, err := e.LstatIfExists(p)
	if err != nil {
		return nil, err
	}
	switch {
	case fi == nil:
		changes, err := e.ensureParents(p)
		if err != nil {
			return nil, err
		}
		return append(changes, link), nil
	case !fi.IsSymlink():
		return nil, fmt.Errorf("%s exists and is not a symbolic link (remove it first with files.absent)", p)
	case fi.Target != target:
		return []*Change{link}, nil
	}
	return nil, nil
}

// EnsureAbsent plans the removal of p (a whole tree for a directory).
func (e *Env) EnsureAbsent(p string) ([]*Change, error) {
	if err := CheckPath(p); err != nil {
		return nil, err
	}
	if p == "/" {
		return nil, fmt.Errorf("refusing to remove /")
	}
	fi, err := e.LstatIfExists(p)
	if err != nil || fi == nil {
		return nil, err
	}
	return []*Change{{Kind: Remove, Path: p}}, nil
}

func (e *Env) owner(owner, group string) (uid, gid int, err error) {
	if uid, err = e.UID(owner); err != nil {
		return 0, 0, err
	}
	if gid, err = e.GID(group); err != nil {
		return 0, 0, err
	}
	return uid, gid, nil
}

func (e *Env) attrs(fi *FileInfo, p string, mode Mode, uid, gid int) []*Change {
	if fi.FixedMode || ModeOf(fi.Mode) == mode && fi.UID == uid && fi.GID == gid {
		return nil
	}
	return []*Change{{Kind: Attrs, Path: p, Mode: mode, UID: uid, GID: gid}}
}

// ensureParents plans the missing ancestors of p, outermost first.
func (e *Env) ensureParents(p string) ([]*Change, error) {
	var missing []string
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		fi, err := e.LstatIfExists(dir)
		if err != nil {
			return nil, err
		}
		if fi != nil {
			if fi.IsSymlink() {
				if fi, err = e.Sys.Stat(dir); err != nil {
					return nil, fmt.Errorf("%s: %w", dir, err)
				}
			}
			if !fi.IsDir() {
				return nil, fmt.Errorf("%s: %s is not a directory", p, dir)
			}
			break
		}
		missing = append(missing, dir)
	}
	changes := make([]*Change, 0, len(missing))
	for i := len(missing) - 1; i >= 0; i-- {
		changes = append(changes, &Change{Kind: Mkdir, Path: missing[i], Mode: 0o755})
	}
	return changes, nil
}
