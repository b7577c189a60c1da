//go:build linux

// Package testhost gives tests a throw-away Debian bookworm host: a root
// tree made once by debootstrap and cached, and per test a copy-on-write
// overlay of it that commands can run in (chroot). Tests apply recipes
// there with real apt, pip, git and systemctl, and judge the result.
//
// The template holds what the tests install offline: the .debs of
// i2c-tools and python3-smbus in apt's cache, a wheelhouse at /srv/wheels
// named by /etc/pip.conf (a tiny real wheel called smbus2), git and
// python3-venv.
//
// [Host.SSHD] reaches a host over its real OpenSSH sshd with no network and
// no port: `sshd -i` run in a loopback-only network namespace as the
// client's ProxyCommand, one process per connection; [SSHD.Listen] runs a
// listening sshd instead, for a host reached through another (ProxyJump).
//
// It needs root (overlay mounts, chroot, ip netns) and, the first time, debootstrap
// and access to deb.debian.org; `make test` installs debootstrap. The
// template is kept in $PIBAKE_TEST_CACHE (default ~/.cache/pibake-test).
package testhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// version names the template; bump it when the build below changes.
const version = "bookworm-v1"

var packages = []string{
	"openssh-server", "systemd-sysv", "sudo", "iproute2", "kmod",
	"python3-venv", "git", "locales", "ca-certificates",
}

// offlineDebs are downloaded into the template's apt cache, uninstalled,
// so that tests can install them with no network.
var offlineDebs = []string{"i2c-tools", "python3-smbus"}

// Host is a throw-away root for one test.
type Host struct {
	// Root is the host path of the test's root tree.
	Root string
}

// Skip skips t unless the process can mount and chroot.
func Skip(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the throw-away Debian host is an overlay mount used with chroot")
	}
}

// CacheDir is where the template lives.
func CacheDir() (string, error) {
	if d := os.Getenv("PIBAKE_TEST_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "pibake-test"), nil
}

// Template returns the cached template root, building it first if needed
// (about a minute). Concurrent test processes wait for one build.
func Template(t testing.TB) string {
	t.Helper()
	Skip(t)
	dir, err := Ensure(context.Background(), func(format string, args ...any) { t.Logf(format, args...) })
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// Ensure builds the template unless it is cached, and returns its path.
func Ensure(ctx context.Context, logf func(string, ...any)) (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	final := filepath.Join(cache, version)
	lock, err := os.OpenFile(filepath.Join(cache, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("locking %s: %w", cache, err)
	}
	if _, err := os.Stat(filepath.Join(final, "etc", "pip.conf")); err == nil {
		return final, nil
	}
	logf("building the Debian test root in %s (once; about a minute)", final)
	start := time.Now()
	tmp := final + ".tmp"
	os.RemoveAll(tmp)
	if err := build(ctx, tmp); err != nil {
		return "", fmt.Errorf("building the Debian test root: %w", err)
	}
	os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	logf("built the Debian test root in %s", time.Since(start).Round(time.Second))
	return final, nil
}

func build(ctx context.Context, root string) error {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return errors.New("debootstrap is not installed (make test installs it: apt-get install debootstrap)")
	}
	if err := run(ctx, "", "debootstrap", "--variant=minbase", "--include="+strings.Join(packages, ","),
		"bookworm", root, "http://deb.debian.org/debian"); err != nil {
		return err
	}
	if err := withProc(root, func() error {
		return run(ctx, "", append([]string{"chroot", root, "apt-get", "install", "--download-only", "-y", "-q"}, offlineDebs...)...)
	}); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(root, "srv", "wheels"), 0o755); err != nil {
		return err
	}
	if err := run(ctx, "", "chroot", root, "python3", "-c", wheelScript); err != nil {
		return fmt.Errorf("making the test wheel: %w", err)
	}
	return os.WriteFile(filepath.Join(root, "etc", "pip.conf"),
		[]byte("[global]\nno-index = true\nfind-links = /srv/wheels\n"), 0o644)
}

// wheelScript writes a small but real wheel, smbus2 0.4.3, so that pip can
// install "smbus2" with no network.
const wheelScript = `
import base64, hashlib, zipfile
name, ver = "smbus2", "0.4.3"
files = {
    name + "/__init__.py": "__version__ = '%s'\nclass SMBus:\n    def __init__(self, bus=None):\n        self.bus = bus\n" % ver,
    "%s-%s.dist-info/METADATA" % (name, ver): "Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: test stand-in\n" % (name, ver),
    "%s-%s.dist-info/WHEEL" % (name, ver): "Wheel-Version: 1.0\nGenerator: pibake-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = "%s-%s.dist-info/RECORD" % (name, ver)
lines = []
with zipfile.ZipFile("/srv/wheels/%s-%s-py3-none-any.whl" % (name, ver), "w") as z:
    for path, text in files.items():
        data = text.encode()
        z.writestr(path, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append("%s,sha256=%s,%d" % (path, digest, len(data)))
    lines.append(record + ",,")
    z.writestr(record, "\n".join(lines) + "\n")
`

// New mounts a fresh copy-on-write view of the template for t, with /proc
// mounted inside; both go away when t ends.
func New(t testing.TB) *Host {
	t.Helper()
	lower := Template(t)
	dir := t.TempDir()
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "root")
	for _, d := range []string{upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := syscall.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Fatalf("mounting the test root overlay: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(merged, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", merged, err)
		}
	})
	proc := filepath.Join(merged, "proc")
	if err := syscall.Mount("proc", proc, "proc", 0, ""); err != nil {
		t.Fatalf("mounting /proc in the test root: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(proc, syscall.MNT_DETACH) })
	return &Host{Root: merged}
}

// Run runs argv inside the host (chroot) and returns its combined output;
// a non-zero exit is an error that includes the output.
func (h *Host) Run(ctx context.Context, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "chroot", append([]string{h.Root}, argv...)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/root"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("chroot %s: %w\n%s", strings.Join(argv, " "), err, out.Bytes())
	}
	return out.Bytes(), nil
}

// Path is the host path of the target path p.
func (h *Host) Path(p string) string {
	return filepath.Join(h.Root, filepath.FromSlash(p))
}

// WriteFile writes a file into the host.
func (h *Host) WriteFile(t testing.TB, p string, content []byte, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(h.Path(p)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.Path(p), content, mode); err != nil {
		t.Fatal(err)
	}
}

func withProc(root string, f func() error) error {
	proc := filepath.Join(root, "proc")
	if err := syscall.Mount("proc", proc, "proc", 0, ""); err != nil {
		return fmt.Errorf("mounting %s: %w", proc, err)
	}
	defer syscall.Unmount(proc, syscall.MNT_DETACH)
	return f()
}

func run(ctx context.Context, dir string, argv ...string) error {
	return RunTail(ctx, dir, nil, argv...)
}

// RunTail runs argv in dir (the current directory if "") with env added to
// this process's environment; a failure is an error that holds the end of
// what the command printed. For the builders of test roots.
func RunTail(ctx context.Context, dir string, env []string, argv ...string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		tail := out.String()
		if len(tail) > 4000 {
			tail = "..." + tail[len(tail)-4000:]
		}
		return fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, tail)
	}
	return nil
}
