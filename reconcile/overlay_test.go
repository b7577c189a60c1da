package reconcile

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/opstest"
)

// query is one read of a System, written as its answer.
type query struct {
	op   string // lstat, stat, read, readdir
	path string
	want string // "" when only the real target's answer is compared
}

func ask(sys ops.System, q query) string {
	var (
		out string
		err error
	)
	switch q.op {
	case "lstat", "stat":
		var fi *ops.FileInfo
		if q.op == "lstat" {
			fi, err = sys.Lstat(q.path)
		} else {
			fi, err = sys.Stat(q.path)
		}
		if err == nil {
			out = describeInfo(fi)
		}
	case "read":
		var b []byte
		b, err = sys.ReadFile(q.path)
		out = string(b)
	case "readdir":
		var list []*ops.FileInfo
		list, err = sys.ReadDir(q.path)
		var names []string
		for _, fi := range list {
			names = append(names, describeInfo(fi))
		}
		out = strings.Join(names, ", ")
	default:
		panic("unknown query " + q.op)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "error: not exist"
	case err != nil:
		return "error: " + cause(err).Error()
	}
	return out
}

func describeInfo(fi *ops.FileInfo) string {
	switch {
	case fi.IsSymlink():
		return fmt.Sprintf("link %s → %s", fi.Name, fi.Target)
	case fi.IsDir():
		return fmt.Sprintf("dir %s %s %d:%d", fi.Name, ops.ModeOf(fi.Mode), fi.UID, fi.GID)
	}
	return fmt.Sprintf("file %s %s %d:%d %d", fi.Name, ops.ModeOf(fi.Mode), fi.UID, fi.GID, fi.Size)
}

// TestOverlay applies the same changes to an overlay over one copy of the
// Pi-shaped root and to another copy for real, then asks both the same
// questions: the overlay must answer as the target will, and never write.
func TestOverlay(t *testing.T) {
	write := func(p, content string) *ops.Change {
		return &ops.Change{Kind: ops.Write, Path: p, Content: []byte(content), Mode: 0o644}
	}
	tests := []struct {
		name    string
		changes []*ops.Change
		wantErr string // from applying the last change
		queries []query
	}{{
		name: "no changes reads through",
		queries: []query{
			{"read", "/etc/hostname", "raspberrypi\n"},
			{"stat", "/lib/systemd/system/ssh.service", ""},
			{"lstat", "/lib", "link lib → usr/lib"},
			{"readdir", "/", ""},
		},
	}, {
		name:    "write then read",
		changes: []*ops.Change{{Kind: ops.Write, Path: "/etc/robot.conf", Content: []byte("speed=3\n"), Mode: 0o600, UID: 1000, GID: 1000}},
		queries: []query{
			{"read", "/etc/robot.conf", "speed=3\n"},
			{"lstat", "/etc/robot.conf", "file robot.conf 0600 1000:1000 8"},
			{"readdir", "/etc", ""},
			{"read", "/etc/hostname", "raspberrypi\n"},
		},
	}, {
		name:    "write replaces a base file",
		changes: []*ops.Change{write("/etc/hostname", "robot\n")},
		queries: []query{
			{"read", "/etc/hostname", "robot\n"},
			{"stat", "/etc/hostname", "file hostname 0644 0:0 6"},
		},
	}, {
		name:    "write through a base link",
		changes: []*ops.Change{write("/lib/robot.txt", "x\n")},
		queries: []query{
			{"read", "/usr/lib/robot.txt", "x\n"},
			{"readdir", "/usr/lib", ""},
		},
	}, {
		name:    "remove dir then read child",
		changes: []*ops.Change{{Kind: ops.Remove, Path: "/etc/ssh"}},
		queries: []query{
			{"read", "/etc/ssh/sshd_config", "error: not exist"},
			{"lstat", "/etc/ssh/sshd_config.d", "error: not exist"},
			{"lstat", "/etc/ssh", "error: not exist"},
			{"readdir", "/etc", ""},
		},
	}, {
		name: "remove then mkdir hides the old tree",
		changes: []*ops.Change{
			{Kind: ops.Remove, Path: "/etc/ssh"},
			{Kind: ops.Mkdir, Path: "/etc/ssh", Mode: 0o700},
		},
		queries: []query{
			{"readdir", "/etc/ssh", ""},
			{"lstat", "/etc/ssh", "dir ssh 0700 0:0"},
			{"read", "/etc/ssh/sshd_config", "error: not exist"},
		},
	}, {
		name: "mkdir then readdir merges",
		changes: []*ops.Change{
			{Kind: ops.Mkdir, Path: "/etc/robot", Mode: 0o755},
			write("/etc/robot/b.conf", "b"),
			write("/etc/robot/a.conf", "a"),
			{Kind: ops.Symlink, Path: "/etc/robot/current", Target: "a.conf"},
		},
		queries: []query{
			{"readdir", "/etc/robot", "file a.conf 0644 0:0 1, file b.conf 0644 0:0 1, link current → a.conf"},
			{"readdir", "/etc", ""},
			{"read", "/etc/robot/current", "a"},
		},
	}, {
		name:    "absolute symlink then stat through it",
		changes: []*ops.Change{{Kind: ops.Symlink, Path: "/etc/robot-ssh", Target: "/etc/ssh"}},
		queries: []query{
			{"lstat", "/etc/robot-ssh", "link robot-ssh → /etc/ssh"},
			{"stat", "/etc/robot-ssh", "dir robot-ssh 0755 0:0"},
			{"readdir", "/etc/robot-ssh", ""},
			{"read", "/etc/robot-ssh/sshd_config", ""},
		},
	}, {
		name: "absolute link to the root stays in the target",
		changes: []*ops.Change{
			{Kind: ops.Symlink, Path: "/etc/top", Target: "/"},
			write("/etc/top/etc/top/etc/hostname", "robot\n"),
		},
		queries: []query{
			{"readdir", "/etc/top/boot", ""},
			{"read", "/etc/hostname", "robot\n"},
			{"lstat", "/etc/top/etc/top/etc/hostname", "file hostname 0644 0:0 6"},
		},
	}, {
		name:    "relative link with dot-dot",
		changes: []*ops.Change{{Kind: ops.Symlink, Path: "/usr/lib/up", Target: "../../etc"}},
		queries: []query{
			{"read", "/usr/lib/up/hostname", "raspberrypi\n"},
			{"read", "/lib/up/hostname", "raspberrypi\n"},
		},
	}, {
		name:    "link loop",
		changes: []*ops.Change{{Kind: ops.Symlink, Path: "/etc/loop", Target: "loop"}},
		queries: []query{
			{"stat", "/etc/loop", "error: too many levels of symbolic links"},
			{"lstat", "/etc/loop", "link loop → loop"},
		},
	}, {
		name:    "attrs keep the content",
		changes: []*ops.Change{{Kind: ops.Attrs, Path: "/etc/hostname", Mode: 0o600, UID: 1000, GID: 100}},
		queries: []query{
			{"lstat", "/etc/hostname", "file hostname 0600 1000:100 12"},
			{"read", "/etc/hostname", "raspberrypi\n"},
			{"readdir", "/etc", ""},
		},
	}, {
		name:    "attrs on a directory keep its children",
		changes: []*ops.Change{{Kind: ops.Attrs, Path: "/etc/ssh", Mode: 0o700, UID: 0, GID: 0}},
		queries: []query{
			{"lstat", "/etc/ssh", "dir ssh 0700 0:0"},
			{"read", "/etc/ssh/sshd_config", ""},
			{"readdir", "/etc/ssh", ""},
		},
	}, {
		name: "attrs on a written file",
		changes: []*ops.Change{
			write("/etc/robot.conf", "x"),
			{Kind: ops.Attrs, Path: "/etc/robot.conf", Mode: 0o1750, UID: 5, GID: 6},
		},
		queries: []query{
			{"lstat", "/etc/robot.conf", "file robot.conf 1750 5:6 1"},
			{"read", "/etc/robot.conf", "x"},
		},
	}, {
		name: "remove a planned tree",
		changes: []*ops.Change{
			{Kind: ops.Mkdir, Path: "/etc/robot", Mode: 0o755},
			write("/etc/robot/a.conf", "a"),
			{Kind: ops.Remove, Path: "/etc/robot"},
		},
		queries: []query{
			{"lstat", "/etc/robot/a.conf", "error: not exist"},
			{"readdir", "/etc", ""},
		},
	}, {
		name:    "remove a file",
		changes: []*ops.Change{{Kind: ops.Remove, Path: "/etc/hostname"}},
		queries: []query{
			{"read", "/etc/hostname", "error: not exist"},
			{"readdir", "/etc", ""},
		},
	}, {
		name: "write into a removed directory fails",
		changes: []*ops.Change{
			{Kind: ops.Remove, Path: "/etc/ssh"},
			write("/etc/ssh/sshd_config", "x"),
		},
		wantErr: "not exist",
	}, {
		name:    "write with a missing parent fails",
		changes: []*ops.Change{write("/opt/robot/x", "x")},
		wantErr: "not exist",
	}, {
		name:    "mkdir over an existing directory fails",
		changes: []*ops.Change{{Kind: ops.Mkdir, Path: "/etc", Mode: 0o755}},
		wantErr: "file exists",
	}, {
		name:    "write over a directory fails",
		changes: []*ops.Change{write("/etc/ssh", "x")},
		wantErr: "is a directory",
	}, {
		name:    "readdir of a file fails",
		changes: []*ops.Change{write("/etc/robot.conf", "x")},
		queries: []query{
			{"readdir", "/etc/robot.conf", "error: not a directory"},
			{"read", "/etc/robot.conf/x", "error: not a directory"},
		},
	}}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, baseDir := opstest.Root(t)
			real, _ := opstest.Root(t)
			before := Snapshot(t, baseDir)
			o := newOverlay(base)
			for i, c := range tt.changes {
				gotErr := o.Apply(ctx, c)
				realErr := real.Apply(ctx, c)
				if i < len(tt.changes)-1 || tt.wantErr == "" {
					if gotErr != nil || realErr != nil {
						t.Fatalf("Apply(%s) = %v (real target: %v), want no error", c, gotErr, realErr)
					}
					continue
				}
				if gotErr == nil || !errorHas(gotErr, tt.wantErr) || realErr == nil {
					t.Errorf("Apply(%s) = %v (real target: %v), want an error saying %q", c, gotErr, realErr, tt.wantErr)
				}
			}
			for _, q := range tt.queries {
				got := ask(o, q)
				if want := ask(real, q); got != want {
					t.Errorf("%s %s: overlay says %q, the real target %q", q.op, q.path, got, want)
				}
				if q.want != "" && got != q.want {
					t.Errorf("%s %s = %q, want %q", q.op, q.path, got, q.want)
				}
			}
			if after := Snapshot(t, baseDir); after != before {
				t.Errorf("the overlay wrote to its base:\n%s", lineDiff(before, after))
			}
		})
	}
}

func errorHas(err error, s string) bool {
	return strings.Contains(err.Error(), s) || (s == "not exist" && errors.Is(err, fs.ErrNotExist))
}

// Snapshot describes the tree under dir, one line per file: path, mode,
// link target or content hash. Two equal snapshots mean nothing was written.
func Snapshot(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "%s %v", rel, fi.Mode())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " → %s", target)
		case fi.Mode().IsRegular():
			content, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %x", sha256.Sum256(content))
		}
		fmt.Fprintf(&b, " %s\n", fileOwner(fi))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// lineDiff lists the lines only in a or only in b.
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for l := range ma {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for l := range mb {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}
