package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"syscall"

	"github.com/pibake/pibake/ops"
)

// overlay is the System an op plans against during a plan: the target's
// files, read through, with the file changes planned by earlier steps laid
// over them. It never writes to the target, and it does not simulate exec
// changes.
//
// Paths resolve as on the target, chroot-like: every element is looked up
// through the overlay, so a link planned by an earlier step is followed,
// and absolute link targets start again at the target's root.
type overlay struct {
	base ops.System
	// entries holds what the plan changed, by resolved path. A removed
	// path (entry.info nil) hides the base's tree below it.
	entries map[string]*entry
	// lstats remembers the base's answers: during a plan the base does not
	// change, and resolving a path element by element asks often.
	lstats map[string]lstatAnswer
}

type entry struct {
	info    *ops.FileInfo // nil: removed
	content []byte        // of a written file (written true)
	written bool          // else a regular file's content is the base's
	opaque  bool          // a directory made by the plan: the base's children are hidden
}

type lstatAnswer struct {
	info *ops.FileInfo
	err  error
}

var _ ops.System = (*overlay)(nil)

func newOverlay(base ops.System) *overlay {
	return &overlay{base: base, entries: map[string]*entry{}, lstats: map[string]lstatAnswer{}}
}

// Lstat implements ops.System.
func (o *overlay) Lstat(p string) (*ops.FileInfo, error) { return o.stat("lstat", p, false) }

// Stat implements ops.System.
func (o *overlay) Stat(p string) (*ops.FileInfo, error) { return o.stat("stat", p, true) }

func (o *overlay) stat(op, p string, follow bool) (*ops.FileInfo, error) {
	if len(o.entries) == 0 {
		if follow {
			return o.base.Stat(p)
		}
		return o.base.Lstat(p)
	}
	r, err := o.resolve(p, follow)
	if err != nil {
		return nil, err
	}
	fi, _, err := o.lookup(r)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: p, Err: err}
	}
	return named(fi, p), nil
}

// ReadFile implements ops.System.
func (o *overlay) ReadFile(p string) ([]byte, error) {
	if len(o.entries) == 0 {
		return o.base.ReadFile(p)
	}
	r, err := o.resolve(p, true)
	if err != nil {
		return nil, err
	}
	fi, e, err := o.lookup(r)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: p, Err: err}
	}
	switch {
	case fi.IsDir():
		return nil, &fs.PathError{Op: "read", Path: p, Err: syscall.EISDIR}
	case !fi.IsRegular():
		return nil, &fs.PathError{Op: "read", Path: p, Err: syscall.EINVAL}
	case e != nil && e.written:
		return bytes.Clone(e.content), nil
	}
	b, err := o.base.ReadFile(r)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: p, Err: cause(err)}
	}
	return b, nil
}

// ReadDir implements ops.System.
func (o *overlay) ReadDir(p string) ([]*ops.FileInfo, error) {
	if len(o.entries) == 0 {
		return o.base.ReadDir(p)
	}
	r, err := o.resolve(p, true)
	if err != nil {
		return nil, err
	}
	fi, e, err := o.lookup(r)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: err}
	}
	if !fi.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: syscall.ENOTDIR}
	}
	byName := map[string]*ops.FileInfo{}
	if e == nil || !e.opaque {
		list, err := o.base.ReadDir(r)
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: p, Err: cause(err)}
		}
		for _, fi := range list {
			byName[fi.Name] = fi
		}
	}
	for k, e := range o.entries {
		if k == "/" || path.Dir(k) != r {
			continue
		}
		name := path.Base(k)
		if e.info == nil {
			delete(byName, name)
		} else {
			byName[name] = e.info
		}
	}
	out := make([]*ops.FileInfo, 0, len(byName))
	for name, fi := range byName {
		fi := *fi
		fi.Name = name
		out = append(out, &fi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Apply records c as done. It fails where the target would, so that a
// plan does not promise what an apply cannot do.
func (o *overlay) Apply(ctx context.Context, c *ops.Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.Kind == ops.Run {
		return errors.New("a plan does not run commands")
	}
	if err := ops.CheckPath(c.Path); err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	// Attrs follows a final link, as chmod does; the others replace it.
	r, err := o.resolve(c.Path, c.Kind == ops.Attrs)
	if err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	if err := o.apply(c, r); err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	return nil
}

func (o *overlay) apply(c *ops.Change, r string) error {
	cur, curEntry, err := o.lookup(r)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if c.Kind == ops.Attrs {
		if cur == nil {
			return err
		}
		fi := *cur
		fi.Mode = cur.Mode.Type() | c.Mode.FileMode()
		fi.UID, fi.GID = c.UID, c.GID
		if curEntry != nil {
			curEntry.info = &fi
		} else {
			o.entries[r] = &entry{info: &fi}
		}
		return nil
	}
	if r == "/" {
		return errors.New("refusing to change the root")
	}
	if c.Kind == ops.Remove {
		o.forget(r)
		o.entries[r] = &entry{}
		return nil
	}
	parent, _, err := o.lookup(path.Dir(r))
	if err != nil {
		return fmt.Errorf("parent directory: %w", err)
	}
	if !parent.IsDir() {
		return fmt.Errorf("parent directory: %w", syscall.ENOTDIR)
	}
	name := path.Base(r)
	switch c.Kind {
	case ops.Write:
		if cur != nil && cur.IsDir() {
			return syscall.EISDIR
		}
		o.entries[r] = &entry{
			info:    &ops.FileInfo{Name: name, Mode: c.Mode.FileMode(), UID: c.UID, GID: c.GID, Size: int64(len(c.Content))},
			content: bytes.Clone(c.Content),
			written: true,
		}
	case ops.Mkdir:
		if cur != nil {
			return syscall.EEXIST
		}
		o.forget(r)
		o.entries[r] = &entry{
			info:   &ops.FileInfo{Name: name, Mode: fs.ModeDir | c.Mode.FileMode(), UID: c.UID, GID: c.GID},
			opaque: true,
		}
	case ops.Symlink:
		if cur != nil && cur.IsDir() {
			return syscall.EISDIR
		}
		o.entries[r] = &entry{
			info: &ops.FileInfo{Name: name, Mode: fs.ModeSymlink | 0o777, UID: c.UID, GID: c.GID, Size: int64(len(c.Target)), Target: c.Target},
		}
	default:
		return fmt.Errorf("unknown change kind %q", c.Kind)
	}
	return nil
}

// forget drops what the plan recorded below r.
func (o *overlay) forget(r string) {
	prefix := strings.TrimSuffix(r, "/") + "/"
	for k := range o.entries {
		if strings.HasPrefix(k, prefix) {
			delete(o.entries, k)
		}
	}
}

// lookup describes the resolved path r (its directories are directories,
// not links): the plan's entry if there is one, else the base's, unless a
// directory above it was removed, replaced or made by the plan.
func (o *overlay) lookup(r string) (*ops.FileInfo, *entry, error) {
	if e, ok := o.entries[r]; ok {
		if e.info == nil {
			return nil, nil, fs.ErrNotExist
		}
		return e.info, e, nil
	}
	for a := r; a != "/"; {
		a = path.Dir(a)
		e, ok := o.entries[a]
		switch {
		case !ok:
		case e.info == nil || e.opaque:
			return nil, nil, fs.ErrNotExist
		case !e.info.IsDir():
			return nil, nil, syscall.ENOTDIR
		}
	}
	ans, ok := o.lstats[r]
	if !ok {
		ans.info, ans.err = o.base.Lstat(r)
		ans.err = cause(ans.err)
		o.lstats[r] = ans
	}
	return ans.info, nil, ans.err
}

// resolve resolves p's links through the overlay, as a chroot would.
func (o *overlay) resolve(p string, follow bool) (string, error) {
	return ops.ResolvePath(p, follow, func(q string) (*ops.FileInfo, error) {
		fi, _, err := o.lookup(q)
		return fi, err
	})
}

// named is a copy of fi named for the path p it was asked about.
func named(fi *ops.FileInfo, p string) *ops.FileInfo {
	c := *fi
	c.Name = path.Base(p)
	return &c
}

// cause drops the path from a *fs.PathError: the overlay asks the base for
// resolved paths, and names the path it was asked about itself.
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
