package ops

import (
	"fmt"
	"path"
	"strconv"
)

// treePlan collects the changes of an op that makes several paths, some
// below directories it creates itself (a synced tree, a new home filled from
// /etc/skel). The target cannot show what the plan has not made yet, so
// below a directory this plan creates, entries are planned as new without
// reading the target, and no missing parent is planned twice.
type treePlan struct {
	env     *Env
	changes []*Change
	// planned holds the creating change of each path this plan makes.
	planned map[string]*Change
}

func newTreePlan(env *Env) *treePlan {
	return &treePlan{env: env, planned: map[string]*Change{}}
}

func (t *treePlan) add(changes ...*Change) {
	for _, c := range changes {
		switch c.Kind {
		case Mkdir, Write, Symlink:
			t.planned[c.Path] = c
		}
		t.changes = append(t.changes, c)
	}
}

// isNew reports whether p is a directory this plan creates (so nothing
// below it exists yet).
func (t *treePlan) isNew(dir string) bool {
	c, ok := t.planned[dir]
	return ok && c.Kind == Mkdir
}

// create plans c, a new path in a directory this plan creates; when the
// plan already creates that path (a skeleton file the op also manages), the
// earlier change is amended instead.
func (t *treePlan) create(c *Change) error {
	if old, ok := t.planned[c.Path]; ok {
		if old.Kind != c.Kind {
			return fmt.Errorf("%s: planned both as %s and %s", c.Path, old.Kind, c.Kind)
		}
		*old = *c
		return nil
	}
	t.add(c)
	return nil
}

// dir plans a directory. replace removes whatever else is in the way;
// without it, a non-directory is an error.
func (t *treePlan) dir(p string, mode Mode, uid, gid int, replace bool) error {
	mkdir := &Change{Kind: Mkdir, Path: p, Mode: mode, UID: uid, GID: gid}
	if t.isNew(path.Dir(p)) || t.planned[p] != nil {
		return t.create(mkdir)
	}
	fi, err := t.env.LstatIfExists(p)
	if err != nil {
		return err
	}
	if replace && fi != nil && !fi.IsDir() {
		t.add(&Change{Kind: Remove, Path: p}, mkdir)
		return nil
	}
	changes, err := t.env.EnsureDir(p, mode, strconv.Itoa(uid), strconv.Itoa(gid))
	if err != nil {
		return err
	}
	t.add(changes...)
	return nil
}

// file plans a regular file; in the way, a directory is replaced when
// replace is set (a symbolic link always is, as EnsureFile does).
func (t *treePlan) file(f FileSpec, uid, gid int, replace bool) error {
	write := &Change{Kind: Write, Path: f.Path, Content: f.Content, Mode: f.Mode, UID: uid, GID: gid, Sensitive: f.Sensitive}
	if t.isNew(path.Dir(f.Path)) || t.planned[f.Path] != nil {
		return t.create(write)
	}
	fi, err := t.env.LstatIfExists(f.Path)
	if err != nil {
		return err
	}
	if replace && fi != nil && fi.IsDir() {
		t.add(&Change{Kind: Remove, Path: f.Path}, write)
		return nil
	}
	f.Owner, f.Group = strconv.Itoa(uid), strconv.Itoa(gid)
	changes, err := t.env.EnsureFile(f)
	if err != nil {
		return err
	}
	t.add(changes...)
	return nil
}

// link plans a symbolic link owned by uid:gid. A link with another target
// or owner is replaced; anything else in the way is removed when replace is
// set, and an error otherwise.
func (t *treePlan) link(p, target string, uid, gid int, replace bool) error {
	if target == "" {
		return fmt.Errorf("%s: link target is empty", p)
	}
	symlink := &Change{Kind: Symlink, Path: p, Target: target, UID: uid, GID: gid}
	if t.isNew(path.Dir(p)) || t.planned[p] != nil {
		return t.create(symlink)
	}
	fi, err := t.env.LstatIfExists(p)
	if err != nil {
		return err
	}
	switch {
	case fi == nil:
		changes, err := t.env.ensureParents(p)
		if err != nil {
			return err
		}
		t.add(changes...)
		t.add(symlink)
	case fi.IsSymlink():
		if fi.Target != target || fi.UID != uid || fi.GID != gid {
			t.add(symlink)
		}
	case replace:
		t.add(&Change{Kind: Remove, Path: p}, symlink)
	default:
		return fmt.Errorf("%s exists and is not a symbolic link", p)
	}
	return nil
}

// copyTree plans a copy of the target's directory src into the directory
// dst, which this plan creates: directories, regular files and symbolic
// links, with their modes, owned by uid:gid. Entries whose name skip
// matches are left out; other file types (devices, sockets) are too.
func (t *treePlan) copyTree(src, dst string, uid, gid int, skip func(name string) bool) error {
	entries, err := t.env.Sys.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if skip != nil && skip(e.Name) {
			continue
		}
		from, to := path.Join(src, e.Name), path.Join(dst, e.Name)
		switch {
		case e.IsDir():
			if err := t.dir(to, ModeOf(e.Mode), uid, gid, false); err != nil {
				return err
			}
			if err := t.copyTree(from, to, uid, gid, skip); err != nil {
				return err
			}
		case e.IsRegular():
			content, err := t.env.Sys.ReadFile(from)
			if err != nil {
				return err
			}
			if err := t.file(FileSpec{Path: to, Content: content, Mode: ModeOf(e.Mode)}, uid, gid, false); err != nil {
				return err
			}
		case e.IsSymlink():
			if err := t.link(to, e.Target, uid, gid, false); err != nil {
				return err
			}
		}
	}
	return nil
}
