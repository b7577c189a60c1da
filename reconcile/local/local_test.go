package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/systemtest"
)

func TestDirSystem(t *testing.T) {
	systemtest.Run(t, func(t *testing.T) ops.System {
		s, err := Dir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestFakeroot runs the suite the way a non-root user's directory target
// works: ownership is kept in the side file, never set on the host.
func TestFakeroot(t *testing.T) {
	systemtest.Run(t, func(t *testing.T) ops.System {
		return fakeroot(t, t.TempDir())
	})
}

func fakeroot(t *testing.T, dir string) *System {
	t.Helper()
	s, err := Dir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.owners == nil {
		s.owners = &ownerDB{file: filepath.Join(s.root, ownerFile), euid: os.Geteuid()}
		if err := s.owners.load(); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestFakerootPersists: a second run over the same directory (a plan after
// an apply) sees the ownership the first recorded.
func TestFakerootPersists(t *testing.T) {
	dir := t.TempDir()
	s := fakeroot(t, dir)
	ctx := context.Background()
	for _, c := range []*ops.Change{
		{Kind: ops.Mkdir, Path: "/home", Mode: 0o755},
		{Kind: ops.Mkdir, Path: "/home/pi", Mode: 0o700, UID: 1000, GID: 1000},
		{Kind: ops.Write, Path: "/home/pi/f", Content: []byte("x"), Mode: 0o600, UID: 1000, GID: 1000},
	} {
		if err := s.Apply(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Lstat(filepath.Join(dir, "home", "pi", "f")); err != nil || fileOwnerUID(fi) != os.Geteuid() {
		t.Errorf("fakeroot set a real owner on the host file")
	}
	again := fakeroot(t, dir)
	fi, err := again.Lstat("/home/pi/f")
	if err != nil {
		t.Fatal(err)
	}
	if fi.UID != 1000 || fi.GID != 1000 {
		t.Errorf("after reopening, owner = %d:%d, want 1000:1000", fi.UID, fi.GID)
	}
	if err := again.Apply(ctx, &ops.Change{Kind: ops.Remove, Path: "/home/pi"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "/home/pi") {
		t.Errorf("removed paths are still in %s:\n%s", ownerFile, b)
	}
	if err := again.Apply(ctx, &ops.Change{Kind: ops.Symlink, Path: "/rootlink", Target: "/"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/rootlink"} {
		list, err := again.ReadDir(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, fi := range list {
			if fi.Name == ownerFile {
				t.Errorf("ReadDir(%s) shows the side file %s", p, ownerFile)
			}
		}
	}
}

func fileOwnerUID(fi os.FileInfo) int {
	uid, _ := fileOwner(fi)
	return uid
}

// TestHostRuns: the local machine runs commands, as root or as a user,
// with a clean environment, and reports exit codes without an error.
func TestHostRuns(t *testing.T) {
	h := NewHost()
	ctx := context.Background()
	dir := t.TempDir()
	res, err := h.Run(ctx, &ops.Exec{Script: "echo out; echo err >&2; touch " + filepath.Join(dir, "done") + "; exit 3"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" {
		t.Errorf("Run = exit %d, stdout %q, stderr %q; want 3, out, err", res.ExitCode, res.Stdout, res.Stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "done")); err != nil {
		t.Errorf("script did not run: %v", err)
	}
	t.Setenv("PIBAKE_LEAK", "1")
	res, err = h.Run(ctx, &ops.Exec{Argv: []string{"sh", "-c", "echo ${PIBAKE_LEAK:-clean} $FOO"}, Env: []string{"FOO=bar"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res.Stdout); got != "clean bar\n" {
		t.Errorf("environment: got %q, want %q", got, "clean bar\n")
	}
	if os.Geteuid() == 0 {
		res, err = h.Run(ctx, &ops.Exec{Argv: []string{"id", "-un"}, User: "nobody"})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(res.Stdout)); got != "nobody" {
			t.Errorf("User nobody ran as %q (stderr %s)", got, res.Stderr)
		}
	}
	if _, err := h.Run(ctx, &ops.Exec{Argv: []string{"/no/such/command"}}); err == nil {
		t.Error("running a missing command gave no error")
	}
}

func TestDirErrors(t *testing.T) {
	if _, err := Dir(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Dir(missing) error = %v, want one naming the path", err)
	}
	s, err := Dir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(context.Background(), &ops.Change{Kind: ops.Run, Exec: &ops.Exec{Argv: []string{"true"}}}); err == nil {
		t.Error("a directory target ran a command")
	}
	if err := s.Apply(context.Background(), &ops.Change{Kind: ops.Remove, Path: "/"}); err == nil {
		t.Error("removing / succeeded")
	}
}
