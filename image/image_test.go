//go:build linux

package image_test

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
	"testing"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/image/imagetest"
	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/systemtest"
)

// blankImage makes a disk image laid out like Raspberry Pi OS with both
// filesystems empty: FAT32 (40 MiB) and ext4 (64 MiB).
func blankImage(t *testing.T) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "blank.img")
	const bootStart, bootSectors, rootStart, rootSectors = 2048, 81920, 83968, 131072
	run(t, "", "truncate", "-s", fmt.Sprint((rootStart+rootSectors)*512), img)
	script := fmt.Sprintf("label: dos\nlabel-id: 0x0badcafe\nstart=%d, size=%d, type=c\nstart=%d, size=%d, type=83\n", bootStart, bootSectors, rootStart, rootSectors)
	run(t, script, "sfdisk", "-q", img)
	run(t, "", "mkfs.vfat", "-F", "32", "-s", "1", "-n", "bootfs", "--offset", fmt.Sprint(bootStart), img, fmt.Sprint(bootSectors/2))
	run(t, "", "mkfs.ext4", "-q", "-F", "-b", "4096", "-L", "rootfs", "-E", fmt.Sprintf("offset=%d", rootStart*512), img, fmt.Sprintf("%dk", rootSectors/2))
	return img
}

func run(t *testing.T, stdin string, argv ...string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

// TestSystem runs the suite every target passes, on the image's root, and
// judges each image afterwards with e2fsck.
func TestSystem(t *testing.T) {
	systemtest.Run(t, func(t *testing.T) ops.System {
		path := blankImage(t)
		im, err := image.Open(path, image.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := im.Close(); err != nil {
				t.Error(err)
			}
			cmd := exec.Command("e2fsck", "-fn", fmt.Sprintf("%s?offset=%d", path, 83968*512))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("e2fsck -fn after the suite: %v\n%s", err, out)
			}
		})
		return im
	})
}

// TestPiImage opens a Raspberry Pi OS-shaped image: the boot partition
// appears at /boot/firmware, as its fstab says, and changes on both
// partitions pass e2fsck and fsck.vfat and read back with debugfs and
// mtools.
func TestPiImage(t *testing.T) {
	for _, profile := range imagetest.Profiles() {
		t.Run(string(profile), func(t *testing.T) {
			img := imagetest.Build(t, imagetest.Spec{Profile: profile, Small: true})
			im, err := image.Open(img.Path, image.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := im.BootMount(); got != "/boot/firmware" {
				t.Errorf("BootMount = %q, want /boot/firmware", got)
			}
			config, err := im.ReadFile("/boot/firmware/config.txt")
			if err != nil || !bytes.Contains(config, []byte("dtparam=audio=on")) {
				t.Fatalf("ReadFile(/boot/firmware/config.txt) = %.40q, %v", config, err)
			}
			fi, err := im.Lstat("/boot/firmware")
			if err != nil || !fi.IsDir() || !fi.FixedMode {
				t.Errorf("Lstat(/boot/firmware) = %+v, %v; want the FAT root, FixedMode", fi, err)
			}
			fi, err = im.Lstat("/etc/shadow")
			if err != nil || ops.ModeOf(fi.Mode) != 0o640 || fi.GID != 42 || fi.FixedMode {
				t.Errorf("Lstat(/etc/shadow) = %+v, %v; want 0640 root:shadow", fi, err)
			}
			ctx := context.Background()
			for _, c := range []*ops.Change{
				{Kind: ops.Write, Path: "/etc/hostname", Content: []byte("robot1\n"), Mode: 0o644},
				{Kind: ops.Write, Path: "/boot/firmware/config.txt", Content: append(config, "dtparam=i2c_arm=on\n"...), Mode: 0o755},
				{Kind: ops.Write, Path: "/boot/firmware/ssh", Mode: 0o644},
				{Kind: ops.Mkdir, Path: "/boot/firmware/pibake", Mode: 0o755},
				{Kind: ops.Write, Path: "/boot/firmware/pibake/note.txt", Content: []byte("hello\n"), Mode: 0o644},
				{Kind: ops.Mkdir, Path: "/home/robot", Mode: 0o700, UID: 1001, GID: 1001},
				{Kind: ops.Write, Path: "/home/robot/.profile", Content: []byte("# profile\n"), Mode: 0o644, UID: 1001, GID: 1001},
				{Kind: ops.Symlink, Path: "/etc/localtime", Target: "/usr/share/zoneinfo/Europe/London"},
				{Kind: ops.Attrs, Path: "/etc/hostname", Mode: 0o600, UID: 0, GID: 0},
				{Kind: ops.Remove, Path: "/etc/sudoers.d"},
				{Kind: ops.Remove, Path: "/boot/firmware/overlays"},
			} {
				if err := im.Apply(ctx, c); err != nil {
					t.Fatalf("Apply(%s): %v", c, err)
				}
			}
			if err := im.Apply(ctx, &ops.Change{Kind: ops.Symlink, Path: "/boot/firmware/l", Target: "config.txt"}); err == nil {
				t.Error("a symbolic link on the FAT partition was accepted")
			}
			if err := im.Close(); err != nil {
				t.Fatal(err)
			}

			imagetest.E2fsck(t, img)
			imagetest.FsckVfat(t, img)
			got := imagetest.Stat(t, img, "/etc/hostname", "/home/robot", "/home/robot/.profile", "/etc/localtime")
			for i, want := range []struct {
				mode     uint32
				uid, gid uint32
			}{{0o100600, 0, 0}, {0o40700, 1001, 1001}, {0o100644, 1001, 1001}, {0o120777, 0, 0}} {
				if got[i].Mode != want.mode || got[i].UID != want.uid || got[i].GID != want.gid {
					t.Errorf("debugfs stat %s = %o %d:%d, want %o %d:%d", got[i].Path, got[i].Mode, got[i].UID, got[i].GID, want.mode, want.uid, want.gid)
				}
			}
			if got[3].Target != "/usr/share/zoneinfo/Europe/London" {
				t.Errorf("/etc/localtime -> %q", got[3].Target)
			}
			if b := imagetest.ReadFile(t, img, "/etc/hostname"); string(b) != "robot1\n" {
				t.Errorf("/etc/hostname = %q", b)
			}
			if gone := imagetest.Lookup(t, img, "/etc/sudoers.d"); gone["/etc/sudoers.d"] != nil {
				t.Error("/etc/sudoers.d is still there")
			}
			if b := imagetest.BootFile(t, img, "/config.txt"); !bytes.HasSuffix(b, []byte("dtparam=i2c_arm=on\n")) {
				t.Errorf("config.txt on the FAT ends %q", b[max(0, len(b)-40):])
			}
			if b := imagetest.BootFile(t, img, "/pibake/note.txt"); string(b) != "hello\n" {
				t.Errorf("pibake/note.txt = %q", b)
			}
			for _, name := range imagetest.BootDir(t, img, "/") {
				if strings.EqualFold(name, "overlays") {
					t.Error("/boot/firmware/overlays is still there")
				}
			}
		})
	}
}

// TestOpenErrors: what is not a Pi image says so, naming the file.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notImage := filepath.Join(dir, "notes.txt")
	os.WriteFile(notImage, bytes.Repeat([]byte("not a disk image\n"), 100), 0o644)
	if _, err := image.Open(notImage, image.Options{}); err == nil || !strings.Contains(err.Error(), notImage) {
		t.Errorf("Open(text file) = %v, want an error naming it", err)
	}
	if _, err := image.Open(filepath.Join(dir, "missing.img"), image.Options{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want not exist", err)
	}
	// Read-only opening writes nothing, even when asked to.
	img := imagetest.Build(t, imagetest.Spec{Small: true})
	before := imagetest.SHA256(t, img.Path)
	im, err := image.Open(img.Path, image.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Apply(context.Background(), &ops.Change{Kind: ops.Write, Path: "/etc/x", Mode: 0o644}); err == nil {
		t.Error("a write to a read-only image succeeded")
	}
	im.Close()
	if after := imagetest.SHA256(t, img.Path); after != before {
		t.Error("a read-only open changed the image")
	}
}
