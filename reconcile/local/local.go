// Package local is a target on the machine pibake runs on: either a root
// directory (dir:PATH, a Pi root tree unpacked somewhere; commands are
// deferred, never run on the host) or this whole machine (local; commands
// run, as on a Pi's first boot).
//
// Under a directory, target paths are resolved as a chroot would: absolute
// symbolic links point inside the directory, and ".." never leaves it.
// When pibake does not run as root, a directory target works like fakeroot:
// files the user owns read as root's, and other ownership is kept in a side
// file, ROOT/.pibake-owners.json, and read back from it, so that a plan
// after an apply is in state. Copy the tree as root (or bake it) to make
// that ownership real.
//
// Limits: no extended attributes, ACLs or file capabilities; on Windows,
// modes and owners are not kept.
package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"sync"

	"github.com/pibake/pibake/ops"
)

// System is a local target. Its zero value is not usable: call Dir or Host.
type System struct {
	root string // host directory that is the target's "/"
	name string // for messages: "dir:/tmp/root" or "local"

	mu     sync.Mutex
	owners *ownerDB // nil when running as root or on the whole host
}

var (
	_ ops.System = (*System)(nil)
	_ ops.Runner = (*Host)(nil)
)

// Dir is the root tree under the host directory root. It cannot run
// commands.
func Dir(root string) (*System, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("target dir:%s: %w", root, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("target dir:%s: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("target dir:%s: not a directory", root)
	}
	s := &System{root: abs, name: "dir:" + root}
	if os.Geteuid() != 0 {
		s.owners = &ownerDB{file: filepath.Join(abs, ownerFile), euid: os.Geteuid()}
		if err := s.owners.load(); err != nil {
			return nil, fmt.Errorf("target %s: %w", s.name, err)
		}
	}
	return s, nil
}

// Host is this machine, which also runs commands.
type Host struct{ System }

// NewHost returns the machine pibake runs on as a target.
func NewHost() *Host {
	return &Host{System{root: "/", name: "local"}}
}

// String names the target for messages.
func (s *System) String() string { return s.name }

// hostPath returns where the target path p lives on this machine, resolving
// symbolic links in its directories (and in its last element when follow)
// inside the root.
func (s *System) hostPath(p string, follow bool) (string, error) {
	if err := ops.CheckPath(p); err != nil {
		return "", err
	}
	if s.root == "/" {
		if follow {
			if r, err := filepath.EvalSymlinks(p); err == nil {
				return r, nil
			}
		}
		return filepath.FromSlash(p), nil
	}
	resolved, err := ops.ResolvePath(p, follow, s.lstatTarget)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(resolved)), nil
}

// lstatTarget describes the target path p for ops.ResolvePath: its type
// and, for a link, its target.
func (s *System) lstatTarget(p string) (*ops.FileInfo, error) {
	hp := filepath.Join(s.root, filepath.FromSlash(p))
	fi, err := os.Lstat(hp)
	if err != nil {
		return nil, err
	}
	out := &ops.FileInfo{Name: path.Base(p), Mode: fi.Mode()}
	if out.IsSymlink() {
		target, err := os.Readlink(hp)
		if err != nil {
			return nil, err
		}
		out.Target = filepath.ToSlash(target)
	}
	return out, nil
}

func (s *System) info(p, hp string, fi fs.FileInfo) (*ops.FileInfo, error) {
	out := &ops.FileInfo{Name: path.Base(p), Mode: fi.Mode(), Size: fi.Size()}
	if p == "/" {
		out.Name = "/"
	}
	out.UID, out.GID = fileOwner(fi)
	// statfs follows links: ask about a link's directory instead.
	if out.Mode&fs.ModeSymlink != 0 {
		out.FixedMode = fixedModes(filepath.Dir(hp))
	} else {
		out.FixedMode = fixedModes(hp)
	}
	if out.Mode&fs.ModeSymlink != 0 {
		target, err := os.Readlink(hp)
		if err != nil {
			return nil, &fs.PathError{Op: "readlink", Path: p, Err: unwrapPathError(err)}
		}
		out.Target = filepath.ToSlash(target)
	}
	if s.owners != nil {
		s.mu.Lock()
		if o, ok := s.owners.ids[s.key(hp)]; ok {
			out.UID, out.GID = o[0], o[1]
		} else if out.UID == s.owners.euid {
			out.UID, out.GID = 0, 0
		}
		s.mu.Unlock()
	}
	return out, nil
}

func (s *System) stat(p string, follow bool) (*ops.FileInfo, error) {
	hp, err := s.hostPath(p, follow)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(hp)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: p, Err: unwrapPathError(err)}
	}
	return s.info(p, hp, fi)
}

// Lstat implements ops.System.
func (s *System) Lstat(p string) (*ops.FileInfo, error) { return s.stat(p, false) }

// Stat implements ops.System.
func (s *System) Stat(p string) (*ops.FileInfo, error) { return s.stat(p, true) }

// ReadFile implements ops.System.
func (s *System) ReadFile(p string) ([]byte, error) {
	hp, err := s.hostPath(p, true)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(hp)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: p, Err: unwrapPathError(err)}
	}
	return b, nil
}

// ReadDir implements ops.System.
func (s *System) ReadDir(p string) ([]*ops.FileInfo, error) {
	hp, err := s.hostPath(p, true)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(hp)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: unwrapPathError(err)}
	}
	out := make([]*ops.FileInfo, 0, len(entries))
	for _, e := range entries {
		if hp == s.root && s.owners != nil && e.Name() == ownerFile {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: p, Err: unwrapPathError(err)}
		}
		child := path.Join(p, e.Name())
		info, err := s.info(child, filepath.Join(hp, e.Name()), fi)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Apply implements ops.System.
func (s *System) Apply(ctx context.Context, c *ops.Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var err error
	switch c.Kind {
	case ops.Write:
		err = s.write(c)
	case ops.Attrs:
		err = s.setAttrs(c)
	case ops.Mkdir:
		err = s.mkdir(c)
	case ops.Symlink:
		err = s.symlink(c)
	case ops.Remove:
		err = s.remove(c)
	case ops.Run:
		return fmt.Errorf("%s cannot run commands", s.name)
	default:
		return fmt.Errorf("unknown change kind %q", c.Kind)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	return nil
}

// write replaces the file through a temporary file in the same directory,
// with mode and owner set before the rename.
func (s *System) write(c *ops.Change) error {
	hp, err := s.hostPath(c.Path, false)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(hp), ".pibake-*")
	if err != nil {
		return unwrapPathError(err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename, a no-op
	if _, err := f.Write(c.Content); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := s.chmodChown(tmp, c.Mode, c.UID, c.GID); err != nil {
		return err
	}
	if err := os.Rename(tmp, hp); err != nil {
		return unwrapPathError(err)
	}
	return s.moveOwner(tmp, hp)
}

// setAttrs follows a final symbolic link (as chmod does), inside the root.
func (s *System) setAttrs(c *ops.Change) error {
	hp, err := s.hostPath(c.Path, true)
	if err != nil {
		return err
	}
	return s.chmodChown(hp, c.Mode, c.UID, c.GID)
}

func (s *System) mkdir(c *ops.Change) error {
	hp, err := s.hostPath(c.Path, false)
	if err != nil {
		return err
	}
	if err := os.Mkdir(hp, 0o700); err != nil {
		return unwrapPathError(err)
	}
	return s.chmodChown(hp, c.Mode, c.UID, c.GID)
}

func (s *System) symlink(c *ops.Change) error {
	hp, err := s.hostPath(c.Path, false)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(hp), fmt.Sprintf(".pibake-link-%d", os.Getpid()))
	os.Remove(tmp)
	if err := os.Symlink(filepath.FromSlash(c.Target), tmp); err != nil {
		return unwrapPathError(err)
	}
	if err := s.chown(tmp, c.UID, c.GID); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, hp); err != nil {
		os.Remove(tmp)
		return unwrapPathError(err)
	}
	return s.moveOwner(tmp, hp)
}

func (s *System) remove(c *ops.Change) error {
	hp, err := s.hostPath(c.Path, false)
	if err != nil {
		return err
	}
	if hp == s.root || hp == string(filepath.Separator) {
		return errors.New("refusing to remove the root")
	}
	if err := os.RemoveAll(hp); err != nil {
		return unwrapPathError(err)
	}
	return s.forgetOwner(hp)
}

// chmodChown sets the owner first: chown clears setuid and setgid bits.
// On a filesystem that keeps neither (FAT) it does nothing: the ops ask
// for nothing there, and a new file gets what the mount gives.
func (s *System) chmodChown(hp string, mode ops.Mode, uid, gid int) error {
	if fixedModes(hp) {
		return nil
	}
	if err := s.chown(hp, uid, gid); err != nil {
		return err
	}
	return unwrapPathError(os.Chmod(hp, mode.FileMode()))
}

// chown sets the owner. Without root, it records it in the side file
// instead (fakeroot-style: what this user owns reads as root's).
func (s *System) chown(hp string, uid, gid int) error {
	if s.owners == nil {
		return unwrapPathError(os.Lchown(hp, uid, gid))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.key(hp)
	_, had := s.owners.ids[k]
	if uid == 0 && gid == 0 {
		if !had {
			return nil
		}
		delete(s.owners.ids, k)
	} else {
		s.owners.ids[k] = [2]int{uid, gid}
	}
	return s.owners.save()
}

// Run implements ops.Runner: the command runs on this machine, as root
// unless e.User says otherwise.
func (h *Host) Run(ctx context.Context, e *ops.Exec) (*ops.ExecResult, error) {
	argv := e.Argv
	if len(argv) == 0 {
		argv = []string{"/bin/sh", "-e", "-c", e.Script}
	}
	if e.User != "" && e.User != "root" {
		argv = append([]string{"runuser", "-u", e.User, "--"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = e.Dir
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.Env = append([]string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8",
		"HOME=/root",
	}, e.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := &ops.ExecResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
	case err != nil:
		return nil, err
	}
	return res, nil
}

// unwrapPathError drops the host path from an *fs.PathError, so messages
// name target paths only (the caller adds the target path).
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
