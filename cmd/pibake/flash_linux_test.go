package main

import (
	"crypto/rand"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pibake/pibake/image/imagetest"
)

// loopDevice attaches a loop device to a new file of size random bytes.
func loopDevice(t *testing.T, size int64) (dev, file string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loop devices need root")
	}
	file = filepath.Join(t.TempDir(), "card")
	b := make([]byte, size)
	rand.Read(b)
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return imagetest.Loop(t, file, false), file
}

// TestFlash bakes the robot recipe, flashes it onto a loop device full of
// random bytes and judges the card with e2fsck, fsck.vfat and the
// recipe's files; checks that only the used blocks were written (the
// kernel's count), that a wrong device is refused and left untouched, and
// that bake --device writes a card with no image file, and that the bake's
// --bmap is accepted by bmaptool.
func TestFlash(t *testing.T) {
	t.Setenv("WIFI_PSK", "correct-horse-battery-staple")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	agent := testAgent(t, "arm64")
	recipe := "../../recipes/examples/robot.star"
	spec := imagetest.Spec{Profile: imagetest.Profiles()[0], Small: true}
	base := imagetest.Build(t, spec).Path
	dir := t.TempDir()
	out, bmapFile := filepath.Join(dir, "robot.img"), filepath.Join(dir, "robot.bmap")
	if code, log := pibake(t, "bake", recipe, "--from", base, "--out", out, "--bmap", bmapFile, "--host-name", "robot7", "--agent", agent); code != 0 {
		t.Fatalf("bake: exit %d\n%s", code, log)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	size := fi.Size()
	judge := func(t *testing.T, card string) {
		img, err := imagetest.Layout(spec)
		if err != nil {
			t.Fatal(err)
		}
		img.Path = card
		checkRobotImage(t, img)
		planInState(t, "plan of the card", recipe, "--target", "image:"+card, "--host-name", "robot7")
	}

	t.Run("refused", func(t *testing.T) {
		small, smallFile := loopDevice(t, size/2)
		dev, file := loopDevice(t, size+8<<20)
		for _, tc := range []struct {
			name, dev, file string
			args            []string
			want            string
		}{
			{"too small", small, smallFile, []string{"--force", "--yes"}, "smaller than the image"},
			{"not removable", dev, file, []string{"--yes"}, "not removable media"},
			{"no terminal", dev, file, []string{"--force"}, "pass --yes"},
			{"a file", file, file, []string{"--force", "--yes"}, "not a block device"},
		} {
			before := imagetest.SHA256(t, tc.file)
			code, log := pibake(t, append([]string{"flash", out, "--device", tc.dev}, tc.args...)...)
			if code == 0 || !strings.Contains(log, tc.want) || !strings.Contains(log, tc.dev) {
				t.Errorf("%s: exit %d, want an error naming %s and saying %q:\n%s", tc.name, code, tc.dev, tc.want, log)
			}
			if imagetest.SHA256(t, tc.file) != before {
				t.Errorf("%s: the refused device changed", tc.name)
			}
		}
	})

	t.Run("flash", func(t *testing.T) {
		dev, card := loopDevice(t, size+8<<20)
		before := imagetest.BytesWritten(t, dev)
		code, log := pibake(t, "flash", out, "--device", dev, "--force", "--yes", "--json")
		if code != 0 {
			t.Fatalf("flash: exit %d\n%s", code, log)
		}
		var ev flashEvent
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, `"type":"flash"`) {
				if err := json.Unmarshal([]byte(line), &ev); err != nil {
					t.Fatal(err)
				}
			}
		}
		written := imagetest.BytesWritten(t, dev) - before
		t.Logf("image %d bytes, %d in use; written %d (kernel: %d), %.0f%% of the image", ev.Size, ev.Used, ev.Written, written, 100*float64(written)/float64(size))
		if ev.Written == 0 || written > ev.Written+1<<20 || written < ev.Used {
			t.Errorf("the kernel counted %d bytes written; flash said %d, with %d in use", written, ev.Written, ev.Used)
		}
		if written > size*3/4 {
			t.Errorf("%d bytes written for an image of %d: not only the used blocks", written, size)
		}
		if ev.Verified < ev.Used {
			t.Errorf("verified %d bytes, fewer than the %d in use", ev.Verified, ev.Used)
		}
		judge(t, card)
	})

	// From an .xz base, as Raspberry Pi OS is published: decompressed
	// once into the cache, then read from there, with the bake's changes
	// in memory and no image file anywhere.
	xzBase := imagetest.BuildXZ(t, spec)
	t.Run("bake --device", func(t *testing.T) {
		dev, card := loopDevice(t, size+8<<20)
		tmp := t.TempDir()
		t.Setenv("TMPDIR", tmp)
		code, log := pibake(t, "bake", recipe, "--from", xzBase, "--device", dev, "--force", "--yes", "--host-name", "robot7", "--agent", agent)
		if code != 0 {
			t.Fatalf("bake --device: exit %d\n%s", code, log)
		}
		held := false
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, "held in memory") {
				t.Log(line)
				held = true
			}
		}
		if !held {
			t.Errorf("bake --device did not say its changes were held in memory:\n%s", log)
		}
		judge(t, card)
		var files []string
		for _, dir := range []string{tmp, filepath.Join(os.Getenv("XDG_CACHE_HOME"), "pibake")} {
			filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					files = append(files, path)
				}
				return nil
			})
		}
		if len(files) != 1 || !strings.HasPrefix(files[0], filepath.Join(os.Getenv("XDG_CACHE_HOME"), "pibake", "bases")) {
			t.Errorf("after bake --device, the files in TMPDIR and pibake's cache are %q, want only the decompressed base", files)
		}
	})

	t.Run("flash .img.xz", func(t *testing.T) {
		dev, card := loopDevice(t, size+8<<20)
		code, log := pibake(t, "flash", xzBase, "--device", dev, "--force", "--yes")
		if code != 0 {
			t.Fatalf("flash: exit %d\n%s", code, log)
		}
		if !strings.Contains(log, "decompressed copy") {
			t.Errorf("flash did not use the decompressed base in the cache:\n%s", log)
		}
		img, err := imagetest.Layout(spec)
		if err != nil {
			t.Fatal(err)
		}
		img.Path = base
		got := *img
		got.Path = card
		imagetest.CheckCopy(t, img, &got)
	})

	t.Run("bmaptool", func(t *testing.T) {
		if _, err := exec.LookPath("bmaptool"); err != nil {
			t.Fatal("bmaptool is not installed (make deps installs bmap-tools)")
		}
		dest := filepath.Join(t.TempDir(), "copy.img")
		if b, err := exec.Command("bmaptool", "copy", "--bmap", bmapFile, out, dest).CombinedOutput(); err != nil {
			t.Fatalf("bmaptool copy: %v\n%s", err, b)
		}
		judge(t, dest)
	})
}
