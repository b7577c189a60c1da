// Package systemtest is one test suite for every ops.System: a directory,
// this machine, an image, a Pi over SSH. Each target's tests call Run with
// a function that gives an empty root, so that all targets agree on what
// reads return and what changes do (as restic tests all its backends).
package systemtest

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/pibake/pibake/ops"
)

// Run runs the suite. open returns a System over an empty, writable root.
func Run(t *testing.T, open func(t *testing.T) ops.System) {
	run(t, open, "")
}

// RunLive runs the suite on a live host, whose root is not empty, inside
// a fresh directory dir for each test (made through the System itself;
// its parent must exist). The suite sees dir as its root: paths, and
// absolute link targets, are mapped. LinksStayInside is not run: on a live
// host, links are resolved by its kernel from its real root, so there is
// no inside to stay in.
func RunLive(t *testing.T, open func(t *testing.T) ops.System, dir string) {
	run(t, open, dir)
}

func run(t *testing.T, open func(t *testing.T) ops.System, dir string) {
	for _, tc := range []struct {
		name   string
		test   func(t *testing.T, s ops.System)
		chroot bool // about a root tree: not for a live host
	}{
		{"DirAndFile", testDirAndFile, false},
		{"Replace", testReplace, false},
		{"Attrs", testAttrs, false},
		{"AttrsThroughLink", testAttrsThroughLink, false},
		{"Links", testLinks, false},
		{"WriteReplacesLink", testWriteReplacesLink, false},
		{"LinksStayInside", testLinksStayInside, true},
		{"ReadDir", testReadDir, false},
		{"Remove", testRemove, false},
		{"NotExist", testNotExist, false},
		{"SpecialModes", testSpecialModes, false},
		{"BigFile", testBigFile, false},
		{"Cancelled", testCancelled, false},
	} {
		if dir != "" && tc.chroot {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if dir != "" {
				s = under(t, s, dir)
			}
			tc.test(t, s)
		})
	}
}

func apply(t *testing.T, s ops.System, changes ...*ops.Change) {
	t.Helper()
	for _, c := range changes {
		if err := s.Apply(context.Background(), c); err != nil {
			t.Fatalf("Apply(%s): %v", c, err)
		}
	}
}

func lstat(t *testing.T, s ops.System, p string) *ops.FileInfo {
	t.Helper()
	fi, err := s.Lstat(p)
	if err != nil {
		t.Fatalf("Lstat(%s): %v", p, err)
	}
	return fi
}

func readFile(t *testing.T, s ops.System, p string) string {
	t.Helper()
	b, err := s.ReadFile(p)
	if err != nil {
		t.Fatalf("ReadFile(%s): %v", p, err)
	}
	return string(b)
}

func checkInfo(t *testing.T, fi *ops.FileInfo, name string, typ fs.FileMode, mode ops.Mode, uid, gid int) {
	t.Helper()
	if fi.Name != name || fi.Mode.Type() != typ || ops.ModeOf(fi.Mode) != mode || fi.UID != uid || fi.GID != gid {
		t.Errorf("FileInfo = {%s %v %s %d:%d}, want {%s %v %s %d:%d}",
			fi.Name, fi.Mode.Type(), ops.ModeOf(fi.Mode), fi.UID, fi.GID, name, typ, mode, uid, gid)
	}
}

func testDirAndFile(t *testing.T, s ops.System) {
	apply(t, s,
		&ops.Change{Kind: ops.Mkdir, Path: "/a", Mode: 0o750, UID: 1000, GID: 1001},
		&ops.Change{Kind: ops.Write, Path: "/a/f", Content: []byte("hello\n"), Mode: 0o640, UID: 1000, GID: 1001},
	)
	checkInfo(t, lstat(t, s, "/a"), "a", fs.ModeDir, 0o750, 1000, 1001)
	fi := lstat(t, s, "/a/f")
	checkInfo(t, fi, "f", 0, 0o640, 1000, 1001)
	if fi.Size != 6 {
		t.Errorf("Size = %d, want 6", fi.Size)
	}
	if got := readFile(t, s, "/a/f"); got != "hello\n" {
		t.Errorf("ReadFile = %q, want %q", got, "hello\n")
	}
	if _, err := s.ReadFile("/a"); err == nil {
		t.Error("ReadFile of a directory succeeded")
	}
}

func testReplace(t *testing.T, s ops.System) {
	apply(t, s,
		&ops.Change{Kind: ops.Write, Path: "/f", Content: []byte("a long first version\n"), Mode: 0o644},
		&ops.Change{Kind: ops.Write, Path: "/f", Content: []byte("short\n"), Mode: 0o600, UID: 5, GID: 6},
	)
	if got := readFile(t, s, "/f"); got != "short\n" {
		t.Errorf("after replace, ReadFile = %q", got)
	}
	checkInfo(t, lstat(t, s, "/f"), "f", 0, 0o600, 5, 6)
	apply(t, s, &ops.Change{Kind: ops.Write, Path: "/f", Mode: 0o644})
	if got := readFile(t, s, "/f"); got != "" {
		t.Errorf("after emptying, ReadFile = %q", got)
	}
}

func testAttrs(t *testing.T, s ops.System) {
	apply(t, s,
		&ops.Change{Kind: ops.Write, Path: "/f", Content: []byte("x"), Mode: 0o644},
		&ops.Change{Kind: ops.Mkdir, Path: "/d", Mode: 0o755},
		&ops.Change{Kind: ops.Attrs, Path: "/f", Mode: 0o600, UID: 1000, GID: 1000},
		&ops.Change{Kind: ops.Attrs, Path: "/d", Mode: 0o700, UID: 7, GID: 8},
	)
	checkInfo(t, lstat(t, s, "/f"), "f", 0, 0o600, 1000, 1000)
	checkInfo(t, lstat(t, s, "/d"), "d", fs.ModeDir, 0o700, 7, 8)
	if got := readFile(t, s, "/f"); got != "x" {
		t.Errorf("Attrs changed content to %q", got)
	}
}

func testLinks(t *testing.T, s ops.System) {
	apply(t, s,
		&ops.Change{Kind: ops.Mkdir, Path: "/a", Mode: 0o755},
		&ops.Change{Kind: ops.Write, Path: "/a/f", Content: []byte("data"), Mode: 0o644},
		&ops.Change{Kind: ops.Symlink, Path: "/a/rel", Target: "f"},
		&ops.Change{Kind: ops.Symlink, Path: "/abs", Target: "/a/f"},
		&ops.Change{Kind: ops.Symlink, Path: "/dirlink", Target: "/a"},
		&ops.Change{Kind: ops.Symlink, Path: "/dangling", Target: "/nowhere"},
	)
	fi := lstat(t, s, "/a/rel")
	if !fi.IsSymlink() || fi.Target != "f" {
		t.Errorf("Lstat(/a/rel) = %v -> %q, want a link to f", fi.Mode, fi.Target)
	}
	for _, p := range []string{"/a/rel", "/abs", "/dirlink/f", "/dirlink/rel"} {
		if got := readFile(t, s, p); got != "data" {
			t.Errorf("ReadFile(%s) = %q, want %q", p, got, "data")
		}
		st, err := s.Stat(p)
		if err != nil || !st.IsRegular() {
			t.Errorf("Stat(%s) = %v, %v; want a regular file", p, st, err)
		}
	}
	if fi := lstat(t, s, "/dirlink/rel"); !fi.IsSymlink() {
		t.Errorf("Lstat through a directory link followed the last element")
	}
	if _, err := s.Stat("/dangling"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(dangling link) error = %v, want not exist", err)
	}
	apply(t, s, &ops.Change{Kind: ops.Symlink, Path: "/abs", Target: "/a/rel"})
	if fi := lstat(t, s, "/abs"); fi.Target != "/a/rel" {
		t.Errorf("replaced link points to %q, want /a/rel", fi.Target)
	}
}

func testWriteReplacesLink(t *testing.T, s ops.System) {
	apply(t, s,
		&ops.Change{Kind: ops.Write, Path: "/f", Content: []byte("original"), Mode: 0o644},
		&ops.Change{Kind: ops.Symlink, Path: "/l", Target: "/f"},
		&ops.Change{Kind: ops.Write, Path: "/l", Content: []byte("new"), Mode: 0o644},
	)
	if got := readFile(t, s, "/f"); got != "original" {
		t.Errorf("writing a link wrote through it: /f = %q", got)
	}
	if fi := lstat(t, s, "/l"); !fi.IsRegular() {
		t.Errorf("after a write, /l is %v, want a regular file", fi.Mode)
	}
}

// testLinksStayInside: an absolute link, or one with too many "..", means
// the target's own root, never the host's.
func testLinksStayInside(t *testing.T, s ops.System) {
	apply(t, s,
		&ops.Change{Kind: ops.Mkdir, Path: "/etc", Mode: 0o755},
		&ops.Change{Kind: ops.Write, Path: "/etc/hostname", Content: []byte("inside\n"), Mode: 0o644},
		&ops.Change{Kind: ops.Mkdir, Path: "/x", Mode: 0o755},
		&ops.Change{Kind: ops.Symlink, Path: "/x/up", Target: "../../../../etc"},
		&ops.Change{Kind: ops.Symlink, Path: "/x/abs", Target: "/etc"},
	)
	for _, p := range []string{"/x/up/hostname", "/x/abs/hostname"} {
		if got := readFile(t, s, p); got != "inside\n" {
			t.Errorf("ReadFile(%s) = %q, want the target's /etc/hostname", p, got)
		}
	}
}

func testReadDir(t *testing.T, s ops.System) {
	apply(t, s,
		&ops.Change{Kind: ops.Mkdir, Path: "/d", Mode: 0o755},
		&ops.Change{Kind: ops.Write, Path: "/d/b", Content: []byte("bb"), Mode: 0o644},
		&ops.Change{Kind: ops.Write, Path: "/d/a", Content: []byte("a"), Mode: 0o600, UID: 3, GID: 4},
		&ops.Change{Kind: ops.Mkdir, Path: "/d/c", Mode: 0o700},
		&ops.Change{Kind: ops.Symlink, Path: "/d/l", Target: "a"},
	)
	list, err := s.ReadDir("/d")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fi := range list {
		names = append(names, fi.Name)
	}
	if got := strings.Join(names, " "); got != "a b c l" {
		t.Fatalf("ReadDir names = %q, want %q", got, "a b c l")
	}
	checkInfo(t, list[0], "a", 0, 0o600, 3, 4)
	checkInfo(t, list[2], "c", fs.ModeDir, 0o700, 0, 0)
	if !list[3].IsSymlink() || list[3].Target != "a" {
		t.Errorf("ReadDir link entry = %v -> %q", list[3].Mode, list[3].Target)
	}
	if list[1].Size != 2 {
		t.Errorf("ReadDir size of b = %d, want 2", list[1].Size)
	}
	root, err := s.ReadDir("/")
	if err != nil {
		t.Fatal(err)
	}
	var top []string
	for _, fi := range root {
		if fi.Name != "lost+found" { // made by mkfs on an empty ext4
			top = append(top, fi.Name)
		}
	}
	if strings.Join(top, " ") != "d" {
		t.Errorf("ReadDir(/) lists %q, want just d", top)
	}
}

func testRemove(t *testing.T, s ops.System) {
	apply(t, s,
		&ops.Change{Kind: ops.Mkdir, Path: "/d", Mode: 0o755},
		&ops.Change{Kind: ops.Mkdir, Path: "/d/e", Mode: 0o755},
		&ops.Change{Kind: ops.Write, Path: "/d/e/f", Content: []byte("x"), Mode: 0o644},
		&ops.Change{Kind: ops.Write, Path: "/g", Content: []byte("x"), Mode: 0o644},
		&ops.Change{Kind: ops.Symlink, Path: "/l", Target: "/g"},
		&ops.Change{Kind: ops.Remove, Path: "/l"},
		&ops.Change{Kind: ops.Remove, Path: "/d"},
	)
	for _, p := range []string{"/l", "/d", "/d/e/f"} {
		if _, err := s.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after Remove, Lstat(%s) error = %v, want not exist", p, err)
		}
	}
	if got := readFile(t, s, "/g"); got != "x" {
		t.Errorf("removing a link removed its target: /g = %q", got)
	}
}

func testNotExist(t *testing.T, s ops.System) {
	for name, f := range map[string]func() error{
		"Lstat":    func() error { _, err := s.Lstat("/missing"); return err },
		"Stat":     func() error { _, err := s.Stat("/missing/deeper"); return err },
		"ReadFile": func() error { _, err := s.ReadFile("/missing"); return err },
		"ReadDir":  func() error { _, err := s.ReadDir("/missing"); return err },
	} {
		if err := f(); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s of a missing path: error = %v, want fs.ErrNotExist", name, err)
		}
	}
	if _, err := s.Lstat("relative"); err == nil {
		t.Error("Lstat of a relative path succeeded")
	}
}

func testSpecialModes(t *testing.T, s ops.System) {
	apply(t, s,
		&ops.Change{Kind: ops.Mkdir, Path: "/tmp", Mode: 0o1777},
		&ops.Change{Kind: ops.Write, Path: "/suid", Content: []byte("#!/bin/sh\n"), Mode: 0o4755},
		&ops.Change{Kind: ops.Mkdir, Path: "/shared", Mode: 0o2775, GID: 100},
	)
	checkInfo(t, lstat(t, s, "/tmp"), "tmp", fs.ModeDir, 0o1777, 0, 0)
	checkInfo(t, lstat(t, s, "/suid"), "suid", 0, 0o4755, 0, 0)
	checkInfo(t, lstat(t, s, "/shared"), "shared", fs.ModeDir, 0o2775, 0, 100)
}

func testBigFile(t *testing.T, s ops.System) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16+7) // just over 1 MiB
	apply(t, s, &ops.Change{Kind: ops.Write, Path: "/big", Content: big, Mode: 0o644})
	got, err := s.ReadFile("/big")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, big) {
		t.Errorf("ReadFile(/big) returned %d bytes, not the %d written", len(got), len(big))
	}
}

func testCancelled(t *testing.T, s ops.System) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Apply(ctx, &ops.Change{Kind: ops.Write, Path: "/f", Mode: 0o644})
	if err == nil {
		t.Error("Apply with a cancelled context succeeded")
	}
	if _, err := s.Lstat("/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a cancelled Apply left /f behind (Lstat error %v)", err)
	}
}

// testAttrsThroughLink: Attrs follows a final link like chmod, and an
// absolute link means the target's own root.
func testAttrsThroughLink(t *testing.T, s ops.System) {
	apply(t, s,
		&ops.Change{Kind: ops.Mkdir, Path: "/etc", Mode: 0o755},
		&ops.Change{Kind: ops.Write, Path: "/etc/f", Content: []byte("x"), Mode: 0o644},
		&ops.Change{Kind: ops.Symlink, Path: "/l", Target: "/etc/f"},
		&ops.Change{Kind: ops.Attrs, Path: "/l", Mode: 0o600, UID: 12, GID: 13},
	)
	checkInfo(t, lstat(t, s, "/etc/f"), "f", 0, 0o600, 12, 13)
}
