//go:build linux

package ext4

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKernelMount has Linux itself read back what this package wrote: the
// final word on whether the filesystem is right.
func TestKernelMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a loop mount needs root (mount -o loop); run the tests as root to include the kernel's judgement")
	}
	src, _ := sourceTree(t)
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			img := mkfs(t, p, 64, src)
			index(t, img)
			fsys, _ := openImage(t, img, Options{})
			writeSample(t, fsys)
			fsck(t, img)

			dir := t.TempDir()
			if out, err := exec.Command("mount", "-o", "loop,ro", "-t", "ext4", img, dir).CombinedOutput(); err != nil {
				t.Fatalf("mount -o loop,ro: %v\n%s", err, out)
			}
			defer func() {
				if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
					t.Errorf("umount: %v\n%s", err, out)
				}
			}()
			ro, _ := openImage(t, img, Options{ReadOnly: true})
			compareWithKernel(t, ro, dir)
		})
		t.Run(p.name+"/kernel-writes-after-us", func(t *testing.T) {
			// The kernel must be able to carry on where we left off:
			// grow our htree and linear directories and extent trees.
			img := mkfs(t, p, 64, src)
			index(t, img)
			fsys, _ := openImage(t, img, Options{})
			writeSample(t, fsys)
			dir := t.TempDir()
			if out, err := exec.Command("mount", "-o", "loop", "-t", "ext4", img, dir).CombinedOutput(); err != nil {
				t.Fatalf("mount -o loop: %v\n%s", err, out)
			}
			for i := range 300 {
				os.WriteFile(filepath.Join(dir, "many", fmt.Sprintf("kernel-%d", i)), []byte("k"), 0o644)
				os.WriteFile(filepath.Join(dir, "grown", fmt.Sprintf("kernel-%d", i)), []byte("k"), 0o644)
			}
			f, err := os.OpenFile(filepath.Join(dir, "big"), os.O_APPEND|os.O_WRONLY, 0)
			if err == nil {
				f.Write(bytes.Repeat([]byte("tail"), 1<<18))
				f.Close()
			}
			os.Remove(filepath.Join(dir, "home/pi/odd"))
			os.RemoveAll(filepath.Join(dir, "home/sub"))
			if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
				t.Fatalf("umount: %v\n%s", err, out)
			}
			fsck(t, img)
			ro, _ := openImage(t, img, Options{ReadOnly: true})
			if data, err := ro.ReadFile("/many/kernel-299"); err != nil || string(data) != "k" {
				t.Errorf("reading what the kernel wrote after us: %q, %v", data, err)
			}
		})
	}
}

// writeSample makes one of every kind of change.
func writeSample(t *testing.T, fsys *FS) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mtime := time.Date(2024, 2, 29, 12, 34, 56, 789012345, time.UTC)
	attr := Attr{Mode: 0o644, UID: 1000, GID: 1000, Mtime: mtime}
	must(fsys.MkdirAll("/home/pi/.ssh", Attr{Mode: 0o700, UID: 1000, GID: 1000}))
	must(fsys.WriteFile("/home/pi/.ssh/authorized_keys", strings.NewReader("ssh-ed25519 AAAA test\n"), Attr{Mode: 0o600, UID: 1000, GID: 1000, Mtime: mtime}))
	must(fsys.WriteFile("/small.txt", strings.NewReader("replaced\n"), attr))
	must(fsys.WriteFile("/setuid", strings.NewReader("#!/bin/sh\n"), Attr{Mode: 0o755 | fs.ModeSetuid, UID: 70000, GID: 80000, Mtime: mtime}))
	big := make([]byte, 20<<20+5)
	for i := range big {
		big[i] = byte(i ^ i>>11)
	}
	must(fsys.WriteFile("/big", bytes.NewReader(big), attr))
	must(fsys.Symlink("small.txt", "/fast", attr))
	must(fsys.Symlink(strings.Repeat("../", 30)+"small.txt", "/slow", attr))
	must(fsys.Rename("/odd", "/home/pi/odd"))
	must(fsys.Rename("/dir/sub", "/home/sub"))
	must(fsys.Remove("/empty"))
	for i := range 400 {
		must(fsys.WriteFile(fmt.Sprintf("/many/new-%d-%s", i, strings.Repeat("z", i%100)), strings.NewReader(fmt.Sprint(i)), attr))
	}
	for i := 0; i < 600; i += 2 {
		must(fsys.Remove(fmt.Sprintf("/many/entry-%04d-with-a-longer-name", i)))
	}
	must(fsys.Mkdir("/grown", Attr{Mode: 0o755}))
	for i := range 300 {
		must(fsys.WriteFile(fmt.Sprintf("/grown/file-%03d", i), strings.NewReader(fmt.Sprint(i)), attr))
	}
	must(fsys.Chmod("/sticky", 0o1777|fs.ModeSticky))
	must(fsys.Chown("/owned", 4321, 8765))
	must(fsys.Chtimes("/block", mtime, mtime))
}

// compareWithKernel walks the kernel's mount and this package's view
// together.
func compareWithKernel(t *testing.T, fsys *FS, mnt string) {
	t.Helper()
	seen := 0
	err := filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(mnt, p)
		name := path.Clean("/" + filepath.ToSlash(rel))
		seen++
		want, err := os.Lstat(p)
		if err != nil {
			return err
		}
		got, err := fsys.Lstat(name)
		if err != nil {
			t.Errorf("kernel has %s, we: %v", name, err)
			return nil
		}
		st := want.Sys().(*syscall.Stat_t)
		if got.Mode() != want.Mode() || got.UID() != int(st.Uid) || got.GID() != int(st.Gid) ||
			got.Nlink() != int(st.Nlink) || got.Ino() != uint32(st.Ino) || !got.ModTime().Equal(want.ModTime()) {
			t.Errorf("%s: kernel %v %d:%d links %d ino %d %v; we %v %d:%d links %d ino %d %v", name,
				want.Mode(), st.Uid, st.Gid, st.Nlink, st.Ino, want.ModTime(),
				got.Mode(), got.UID(), got.GID(), got.Nlink(), got.Ino(), got.ModTime())
		}
		switch {
		case want.Mode().IsRegular():
			kdata, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			data, err := fsys.ReadFile(name)
			if err != nil || !bytes.Equal(data, kdata) || int64(len(kdata)) != got.Size() {
				t.Errorf("%s: kernel reads %d bytes, we %d (%v)", name, len(kdata), len(data), err)
			}
		case want.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			if got.LinkTarget() != target {
				t.Errorf("%s: kernel -> %q, we -> %q", name, target, got.LinkTarget())
			}
		case want.IsDir():
			kents, _ := os.ReadDir(p)
			ents, err := fsys.ReadDir(name)
			if err != nil || len(ents) != len(kents) {
				t.Errorf("%s: kernel lists %d entries, we %d (%v)", name, len(kents), len(ents), err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 1000 {
		t.Errorf("the mount shows only %d paths", seen)
	}
}
