// Package opstest helps test operations against a real directory target
// holding a Raspberry Pi OS-shaped root (testdata/rootfs): copy it, plan an
// op, apply its file changes, and check that a second plan is empty.
//
// It applies file changes only: exec changes need a live target, and are
// tested against a real Debian root elsewhere.
package opstest

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/reconcile/local"
)

// Now is the clock every Env made here reads.
var Now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Testdata is the repository's testdata directory.
func Testdata() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata")
}

// CopyRoot copies testdata/rootfs to dst (which must not exist) and applies
// testdata/rootfs.manifest: empty directories, modes and owners that git
// does not keep.
func CopyRoot(dst string) error {
	src := filepath.Join(Testdata(), "rootfs")
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return err
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case rel == ".":
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		case d.IsDir():
			return os.Mkdir(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, info.Mode().Perm()&0o755|0o644)
	})
	if err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return applyManifest(dst, filepath.Join(Testdata(), "rootfs.manifest"))
}

func applyManifest(dst, manifest string) error {
	f, err := os.Open(manifest)
	if err != nil {
		return err
	}
	defer f.Close()
	sys, err := local.Dir(dst)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		bad := fmt.Errorf("%s:%d: want: dir|file PATH MODE UID:GID", manifest, n)
		if len(fields) != 4 {
			return bad
		}
		mode, err := ops.ParseMode(fields[2])
		if err != nil {
			return fmt.Errorf("%s:%d: %w", manifest, n, err)
		}
		u, g, ok := strings.Cut(fields[3], ":")
		uid, err1 := strconv.Atoi(u)
		gid, err2 := strconv.Atoi(g)
		if !ok || err1 != nil || err2 != nil {
			return bad
		}
		p := fields[1]
		if fields[0] == "dir" {
			if err := os.MkdirAll(filepath.Join(dst, filepath.FromSlash(p)), 0o755); err != nil {
				return err
			}
		}
		c := &ops.Change{Kind: ops.Attrs, Path: p, Mode: mode, UID: uid, GID: gid}
		if err := sys.Apply(context.Background(), c); err != nil {
			return fmt.Errorf("%s:%d: %w", manifest, n, err)
		}
	}
	return sc.Err()
}

// Root returns a fresh copy of testdata/rootfs as a directory target, and
// the host directory it lives in.
func Root(t testing.TB) (*local.System, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "root")
	if err := CopyRoot(dir); err != nil {
		t.Fatal(err)
	}
	sys, err := local.Dir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return sys, dir
}

// Env is an Env over sys with the fixed clock Now and no earlier changes.
func Env(sys ops.System) *ops.Env {
	env := &ops.Env{Sys: sys, Now: Now, Changed: func(string) bool { return false }}
	if r, ok := sys.(ops.Runner); ok {
		env.Runner = r
	}
	return env
}

// Plan validates and plans op, as the engine does, and fails the test on
// error.
func Plan(t testing.TB, env *ops.Env, op ops.Op) []*ops.Change {
	t.Helper()
	changes, err := ops.Plan(context.Background(), env, op)
	if err != nil {
		t.Fatalf("%s(%s).Plan: %v", op.Kind(), op.Summary(), err)
	}
	return changes
}

// Apply plans op and applies its file changes; it returns all planned
// changes, exec changes included (those are not run).
func Apply(t testing.TB, env *ops.Env, op ops.Op) []*ops.Change {
	t.Helper()
	changes := Plan(t, env, op)
	for _, c := range changes {
		if c.Kind == ops.Run {
			continue
		}
		if err := env.Sys.Apply(context.Background(), c); err != nil {
			t.Fatalf("%s(%s): applying %s: %v", op.Kind(), op.Summary(), c, err)
		}
	}
	return changes
}

// Converge applies op and checks that a second plan has no file changes
// left (exec changes remain, since they could not run). It returns the
// changes the first plan made.
func Converge(t testing.TB, env *ops.Env, op ops.Op) []*ops.Change {
	t.Helper()
	first := Apply(t, env, op)
	for _, c := range Plan(t, env, op) {
		if c.Kind != ops.Run {
			t.Errorf("%s(%s) does not converge: after applying, plan still has %s", op.Kind(), op.Summary(), c)
		}
	}
	return first
}

// Files returns the non-exec changes in changes, as their String forms.
func Files(changes []*ops.Change) []string {
	var out []string
	for _, c := range changes {
		if c.Kind != ops.Run {
			out = append(out, c.String())
		}
	}
	return out
}

// ExecLines returns the exec changes in changes as their plan lines,
// live-only ones marked " [live]".
func ExecLines(changes []*ops.Change) []string {
	var out []string
	for _, e := range Execs(changes) {
		line := e.String()
		if e.LiveOnly {
			line += " [live]"
		}
		out = append(out, line)
	}
	return out
}

// Execs returns the exec changes in changes.
func Execs(changes []*ops.Change) []*ops.Exec {
	var out []*ops.Exec
	for _, c := range changes {
		if c.Kind == ops.Run {
			out = append(out, c.Exec)
		}
	}
	return out
}
