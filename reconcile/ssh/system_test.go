//go:build linux

package ssh

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/systemtest"
	"github.com/pibake/pibake/reconcile/testhost"
)

// testHost is a throw-away host reached over its real sshd.
type testHost struct {
	*testhost.Host
	sshd *testhost.SSHD
}

func newTestHost(t *testing.T) *testHost {
	t.Helper()
	testhost.Skip(t)
	h := testhost.New(t)
	return &testHost{Host: h, sshd: h.SSHD(t)}
}

// open connects as user and starts the System; it is closed when t ends.
func (h *testHost) open(t *testing.T, user string, o SystemOptions) *Remote {
	t.Helper()
	r, err := Open(context.Background(), user+"@"+h.sshd.Alias, OpenOptions{
		Dial:         DialOptions{ConfigFile: h.sshd.Config, AgentSocket: "none"},
		SudoPassword: o.SudoPassword,
		Remember:     o.Remember,
		Trace:        o.Trace,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestSystemSmoke(t *testing.T) {
	h := newTestHost(t)
	ctx := context.Background()
	s := h.open(t, "pi", SystemOptions{})
	fi, err := s.Lstat("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", fi)
	b, err := s.ReadFile("/etc/shadow")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("shadow %d bytes", len(b))
	list, err := s.ReadDir("/etc/ssh")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries", len(list))
	if err := s.Apply(ctx, &ops.Change{Kind: ops.Write, Path: "/etc/pibake-test", Content: []byte("hello\n"), Mode: 0o640, UID: 0, GID: 4}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(h.Path("/etc/pibake-test"))
	if err != nil || string(got) != "hello\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	res, err := s.Run(ctx, &ops.Exec{Argv: []string{"id", "-u"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "0\n" || res.ExitCode != 0 {
		t.Errorf("a command as pi through sudo: id -u said %q (exit %d), want root's 0", res.Stdout, res.ExitCode)
	}
}

// TestSystemSuite: the suite every target passes, over real sshd, logged
// in as a user who becomes root through sudo.
func TestSystemSuite(t *testing.T) {
	s := newTestHost(t).open(t, "pi", SystemOptions{})
	systemtest.RunLive(t, func(t *testing.T) ops.System { return s }, "/srv/systemtest")
}

// TestSudo: a user whose sudo wants a password gets a clear error without
// one, is let in with the right one, and told so with a wrong one.
func TestSudo(t *testing.T) {
	h := newTestHost(t)
	h.sshd.RequireSudoPassword(t, "s3cret")
	ctx := context.Background()
	open := func(pw []byte) (*Remote, error) {
		r, err := Open(ctx, "pi@"+h.sshd.Alias, OpenOptions{
			Dial:         DialOptions{ConfigFile: h.sshd.Config, AgentSocket: "none"},
			SudoPassword: pw,
		})
		if err == nil {
			t.Cleanup(func() { r.Close() })
		}
		return r, err
	}
	r, err := open(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Lstat("/etc")
	if err == nil || !strings.Contains(err.Error(), "sudo needs a password") || !strings.Contains(err.Error(), "--sudo-password") {
		t.Errorf("sudo -n with a password needed: error %v", err)
	}
	if _, err := open([]byte("wrong")); err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Errorf("a wrong sudo password: error %v", err)
	}
	r, err = open([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := r.ReadFile("/etc/shadow"); err != nil || len(b) == 0 {
		t.Errorf("reading /etc/shadow as root through sudo: %d bytes, %v", len(b), err)
	}
}

// TestQueries: queries batched with reads get their own answers, and a
// Close after a normal run is not an error.
func TestQueries(t *testing.T) {
	s := newTestHost(t).open(t, "root", SystemOptions{})
	ctx := context.Background()
	pass := func(view ops.System) error {
		q := view.(ops.Querier)
		for _, argv := range [][]string{{"echo", "one"}, {"sh", "-c", "echo two >&2; exit 3"}} {
			if _, err := q.Query(ctx, argv); err != nil {
				return err
			}
		}
		_, err := view.Lstat("/etc/hostname")
		return err
	}
	if err := s.Prefetch(ctx, func(view ops.System) error { pass(view); return nil }); err != nil {
		t.Fatal(err)
	}
	before := s.RoundTrips()
	one, err := s.Query(ctx, []string{"echo", "one"})
	if err != nil || string(one.Stdout) != "one\n" || one.ExitCode != 0 {
		t.Errorf("echo one: %+v, %v", one, err)
	}
	two, err := s.Query(ctx, []string{"sh", "-c", "echo two >&2; exit 3"})
	if err != nil || string(two.Stderr) != "two\n" || two.ExitCode != 3 {
		t.Errorf("sh -c 'echo two >&2; exit 3': %+v, %v", two, err)
	}
	if n := s.RoundTrips() - before; n != 0 {
		t.Errorf("prefetched queries cost %d more round trips", n)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestHint: a hinted pattern brings the directories leading to its
// matches, their listings and contents in the batch of the first round,
// whatever the names hold; the walk an op then makes costs nothing more.
func TestHint(t *testing.T) {
	s := newTestHost(t).open(t, "root", SystemOptions{Trace: t.Logf})
	ctx := context.Background()
	venv := "/opt/a b'c*"
	site := venv + "/lib/python3.11/site-packages"
	if _, err := s.Run(ctx, &ops.Exec{Argv: []string{"sh", "-e", "-c", `
mkdir -p "$1/x-1.dist-info" "$1/y_2.dist-info" "$1/old.egg-info"
printf 'Name: x\nVersion: 1\n' > "$1/x-1.dist-info/METADATA"
printf 'Name: y\nVersion: 2\n' > "$1/y_2.dist-info/METADATA"
printf 'Name: old\nVersion: 0.1\n' > "$1/old.egg-info/PKG-INFO"
mkdir -p "$2/lib/python3.9"`, "sh", site, "/opt/other"}}); err != nil {
		t.Fatal(err)
	}
	// walk reads as pip.venv does: list lib, then site-packages, then
	// each METADATA or PKG-INFO.
	walk := func(view ops.System, venv string) (map[string]string, error) {
		got := map[string]string{}
		libs, err := view.ReadDir(venv + "/lib")
		if err != nil {
			return nil, err
		}
		for _, lib := range libs {
			site := venv + "/lib/" + lib.Name + "/site-packages"
			entries, err := view.ReadDir(site)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				meta := site + "/" + e.Name + "/METADATA"
				if strings.HasSuffix(e.Name, ".egg-info") {
					meta = site + "/" + e.Name + "/PKG-INFO"
				}
				b, err := view.ReadFile(meta)
				if err != nil {
					return nil, err
				}
				got[e.Name] = string(b)
			}
		}
		return got, nil
	}
	hints := func(venv string) []string {
		site := venv + "/lib/python3*/site-packages"
		return []string{site + "/*.dist-info/METADATA", site + "/*.egg-info/PKG-INFO"}
	}
	before := s.RoundTrips()
	err := s.Prefetch(ctx, func(view ops.System) error {
		for _, v := range []string{venv, "/opt/other", "/opt/none"} {
			view.(ops.Hinter).Hint(hints(v)...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.RoundTrips() - before; n != 1 {
		t.Errorf("Prefetch with hints took %d round trips, want 1", n)
	}
	before = s.RoundTrips()
	got, err := walk(s, venv)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"x-1.dist-info": "Name: x\nVersion: 1\n",
		"y_2.dist-info": "Name: y\nVersion: 2\n",
		"old.egg-info":  "Name: old\nVersion: 0.1\n",
	}
	if !maps.Equal(got, want) {
		t.Errorf("walk = %q, want %q", got, want)
	}
	if other, err := walk(s, "/opt/other"); err != nil || len(other) != 0 {
		t.Errorf("walk /opt/other = %q, %v; want nothing", other, err)
	}
	if _, err := walk(s, "/opt/none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("walk /opt/none: %v, want not exist", err)
	}
	if n := s.RoundTrips() - before; n != 0 {
		t.Errorf("reads after the hints cost %d round trips, want 0", n)
	}
}
