package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/pibake/pibake/image/ext4"
	"github.com/pibake/pibake/ops"
)

var _ ops.System = (*Image)(nil)

// where says which filesystem holds the target path p (resolved) and the
// path inside it.
func (im *Image) where(p string) (onBoot bool, inner string) {
	if im.bootMount == "" {
		return false, p
	}
	if p == im.bootMount {
		return true, "/"
	}
	if rest, ok := strings.CutPrefix(p, im.bootMount+"/"); ok {
		return true, "/" + rest
	}
	return false, p
}

// lstat describes the resolved target path p.
func (im *Image) lstat(p string) (*ops.FileInfo, error) {
	onBoot, inner := im.where(p)
	if onBoot {
		fi, err := im.boot.Lstat(inner)
		if err != nil {
			return nil, err
		}
		return &ops.FileInfo{Name: path.Base(p), Mode: fi.Mode(), Size: fi.Size(), FixedMode: true}, nil
	}
	fi, err := im.root.Lstat(inner)
	if err != nil {
		return nil, err
	}
	return rootInfo(path.Base(p), fi), nil
}

func rootInfo(name string, fi *ext4.FileInfo) *ops.FileInfo {
	return &ops.FileInfo{Name: name, Mode: fi.Mode(), UID: fi.UID(), GID: fi.GID(), Size: fi.Size(), Target: fi.LinkTarget()}
}

// resolve resolves the links in p inside the image, across the mount.
func (im *Image) resolve(p string, follow bool) (string, error) {
	return ops.ResolvePath(p, follow, im.lstat)
}

func (im *Image) stat(p string, follow bool) (*ops.FileInfo, error) {
	r, err := im.resolve(p, follow)
	if err != nil {
		return nil, err
	}
	fi, err := im.lstat(r)
	if err != nil {
		return nil, pathError("stat", p, err)
	}
	fi.Name = path.Base(p)
	return fi, nil
}

// Lstat implements ops.System.
func (im *Image) Lstat(p string) (*ops.FileInfo, error) { return im.stat(p, false) }

// Stat implements ops.System.
func (im *Image) Stat(p string) (*ops.FileInfo, error) { return im.stat(p, true) }

// ReadFile implements ops.System.
func (im *Image) ReadFile(p string) ([]byte, error) {
	r, err := im.resolve(p, true)
	if err != nil {
		return nil, err
	}
	var b []byte
	if onBoot, inner := im.where(r); onBoot {
		b, err = im.boot.ReadFile(inner)
	} else {
		b, err = im.root.ReadFile(inner)
	}
	if err != nil {
		return nil, pathError("read", p, err)
	}
	return b, nil
}

// ReadDir implements ops.System.
func (im *Image) ReadDir(p string) ([]*ops.FileInfo, error) {
	r, err := im.resolve(p, true)
	if err != nil {
		return nil, err
	}
	var out []*ops.FileInfo
	if onBoot, inner := im.where(r); onBoot {
		list, err := im.boot.ReadDir(inner)
		if err != nil {
			return nil, pathError("readdir", p, err)
		}
		for _, fi := range list {
			out = append(out, &ops.FileInfo{Name: fi.Name(), Mode: fi.Mode(), Size: fi.Size(), FixedMode: true})
		}
	} else {
		entries, err := im.root.ReadDir(inner)
		if err != nil {
			return nil, pathError("readdir", p, err)
		}
		for _, e := range entries {
			fi, err := im.root.Lstat(path.Join(inner, e.Name()))
			if err != nil {
				return nil, pathError("readdir", p, err)
			}
			out = append(out, rootInfo(e.Name(), fi))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Apply implements ops.System: one file change, on whichever partition
// holds the path. Exec changes are for the Pi.
func (im *Image) Apply(ctx context.Context, c *ops.Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.Kind == ops.Run {
		return errors.New("an image cannot run commands (they are deferred to the Pi's first boot)")
	}
	// The parent is resolved; the last element is not (a write replaces a
	// link), except for Attrs, which follows it as chmod does.
	r, err := im.resolve(c.Path, c.Kind == ops.Attrs)
	if err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	onBoot, inner := im.where(r)
	if onBoot {
		err = im.applyBoot(c, inner)
	} else {
		err = im.applyRoot(c, inner)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	return nil
}

// applyBoot makes c on the FAT partition, which keeps no modes or owners:
// those of c are ignored (the FileInfo says FixedMode, so ops ask for none).
func (im *Image) applyBoot(c *ops.Change, p string) error {
	switch c.Kind {
	case ops.Write:
		return im.boot.WriteFile(p, c.Content, 0o755)
	case ops.Mkdir:
		return im.boot.Mkdir(p, 0o755)
	case ops.Attrs:
		return nil
	case ops.Symlink:
		return errors.New("the FAT boot partition cannot hold symbolic links")
	case ops.Remove:
		return removeAll(p, bootTree{im})
	}
	return fmt.Errorf("unknown change kind %q", c.Kind)
}

func (im *Image) applyRoot(c *ops.Change, p string) error {
	attr := ext4.Attr{Mode: c.Mode.FileMode(), UID: c.UID, GID: c.GID}
	switch c.Kind {
	case ops.Write:
		return im.root.WriteFile(p, bytes.NewReader(c.Content), attr)
	case ops.Mkdir:
		return im.root.Mkdir(p, attr)
	case ops.Attrs:
		if err := im.root.Chown(p, c.UID, c.GID); err != nil {
			return err
		}
		return im.root.Chmod(p, c.Mode.FileMode())
	case ops.Symlink:
		// Made under a temporary name and renamed over p, so p is
		// always either the old thing or the new link.
		tmp := path.Join(path.Dir(p), ".pibake-link-"+path.Base(p))
		if err := im.root.Symlink(c.Target, tmp, attr); err != nil {
			return err
		}
		if err := im.root.Rename(tmp, p); err != nil {
			im.root.Remove(tmp)
			return err
		}
		return nil
	case ops.Remove:
		if p == "/" {
			return errors.New("refusing to remove the root")
		}
		return removeAll(p, rootTree{im})
	}
	return fmt.Errorf("unknown change kind %q", c.Kind)
}

// tree is what removeAll needs of a filesystem.
type tree interface {
	isDir(p string) (bool, error)
	names(dir string) ([]string, error)
	remove(p string) error
}

// removeAll removes p and, for a directory, everything below it; a missing
// p is not an error.
func removeAll(p string, t tree) error {
	dir, err := t.isDir(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if dir {
		names, err := t.names(p)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := removeAll(path.Join(p, n), t); err != nil {
				return err
			}
		}
	}
	return t.remove(p)
}

type rootTree struct{ im *Image }

func (t rootTree) isDir(p string) (bool, error) {
	fi, err := t.im.root.Lstat(p)
	return err == nil && fi.IsDir(), err
}

func (t rootTree) names(dir string) ([]string, error) {
	entries, err := t.im.root.ReadDir(dir)
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, err
}

func (t rootTree) remove(p string) error { return t.im.root.Remove(p) }

type bootTree struct{ im *Image }

func (t bootTree) isDir(p string) (bool, error) {
	fi, err := t.im.boot.Lstat(p)
	return err == nil && fi.IsDir(), err
}

func (t bootTree) names(dir string) ([]string, error) {
	list, err := t.im.boot.ReadDir(dir)
	names := make([]string, len(list))
	for i, fi := range list {
		names[i] = fi.Name()
	}
	return names, err
}

func (t bootTree) remove(p string) error { return t.im.boot.Remove(p) }

// pathError names the target path p, keeping the cause (fs.ErrNotExist,
// syscall errors) for errors.Is.
func pathError(op, p string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &fs.PathError{Op: op, Path: p, Err: err}
}
