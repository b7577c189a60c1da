//go:build linux

package ext4

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestWriteBasics(t *testing.T) {
	src, _ := sourceTree(t)
	extra := []profile{
		{name: "no-filetype", blockSize: 4096, features: "^filetype", groupBlocks: 4096},
		{name: "no-dir_index", blockSize: 2048, features: "^dir_index,^metadata_csum,uninit_bg"},
	}
	for _, p := range append(profiles, extra...) {
		t.Run(p.name, func(t *testing.T) {
			img := mkfs(t, p, 48, src)
			index(t, img)
			fsys, _ := openImage(t, img, Options{})
			mtime := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
			attr := Attr{Mode: 0o640, UID: 1000, GID: 1000, Mtime: mtime}
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(fsys.WriteFile("/new.txt", strings.NewReader("new\n"), attr))
			must(fsys.WriteFile("/small.txt", strings.NewReader("replaced\n"), attr))
			must(fsys.MkdirAll("/a/b/c", Attr{Mode: 0o755}))
			must(fsys.Symlink("../../new.txt", "/a/b/fast", Attr{}))
			must(fsys.Symlink(strings.Repeat("x/", 50), "/a/b/slow", Attr{}))
			big := bytes.Repeat([]byte("0123456789abcdef"), 300000)
			must(fsys.WriteFile("/a/big", bytes.NewReader(big), attr))
			must(fsys.Remove("/big"))
			must(fsys.Remove("/dir/sub/deep/file"))
			must(fsys.Remove("/dir/sub/deep"))
			must(fsys.Rename("/odd", "/a/b/c/odd"))
			must(fsys.Rename("/a/b/c", "/c"))
			must(fsys.Chmod("/new.txt", 0o4755))
			must(fsys.Chown("/new.txt", 70000, 80000))
			for i := range 300 {
				must(fsys.WriteFile("/many/added-"+strings.Repeat("y", i%50)+"-"+string(rune('a'+i%26))+"-"+itoa(i), strings.NewReader(itoa(i)), attr))
			}
			for i := range 200 {
				must(fsys.Remove("/many/entry-" + pad4(i) + "-with-a-longer-name"))
			}
			if err := fsys.Remove("/a"); !errors.Is(err, syscall.ENOTEMPTY) {
				t.Errorf("Remove(non-empty dir) = %v, want ENOTEMPTY", err)
			}
			if err := fsys.Mkdir("/a", Attr{}); !errors.Is(err, fs.ErrExist) {
				t.Errorf("Mkdir(existing) = %v, want ErrExist", err)
			}
			fsck(t, img)
			out := debugfs(t, img, "cat /new.txt", "cat /small.txt", "stat /new.txt", "stat /a/b/fast", "stat /a/b/slow")
			for _, want := range []string{"new\n", "replaced\n", "Mode:  04755", "User: 70000   Group: 80000", "Fast link dest: \"../../new.txt\""} {
				if !strings.Contains(out, want) {
					t.Errorf("debugfs output lacks %q:\n%s", want, out)
				}
			}
			got, err := fsys.ReadFile("/a/big")
			if err != nil || !bytes.Equal(got, big) {
				t.Errorf("ReadFile(/a/big) = %d bytes, %v", len(got), err)
			}
		})
	}
}

func itoa(i int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(i)) }
func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}
func pad4(i int) string { s := fmtInt(i); return strings.Repeat("0", 4-len(s)) + s }

// TestNoSpace checks that running out of blocks or inodes changes
// nothing the filesystem uses and says how much was missing.
func TestNoSpace(t *testing.T) {
	needTools(t)
	img := mkfs(t, profile{name: "small", blockSize: 4096, features: "^64bit,^huge_file,^has_journal", groupBlocks: 1024}, 8, "")
	run(t, "tune2fs", "-r", "0", img) // so that free means usable by anyone
	fsys, file := openImage(t, img, Options{})
	before := func() ([]byte, []Range, Stats) {
		raw, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		r, err := fsys.UsedRanges()
		if err != nil {
			t.Fatal(err)
		}
		return raw, r, fsys.Statfs()
	}
	unchanged := func(what string, raw []byte, ranges []Range, st Stats) {
		t.Helper()
		file.Sync()
		now, _ := os.ReadFile(img)
		for _, r := range ranges {
			if !bytes.Equal(now[r.Off:r.Off+r.Len], raw[r.Off:r.Off+r.Len]) {
				t.Errorf("%s changed used bytes in %d+%d", what, r.Off, r.Len)
			}
		}
		if got := fsys.Statfs(); got != st {
			t.Errorf("%s: Statfs() = %+v, was %+v", what, got, st)
		}
	}

	raw, ranges, st := before()
	huge := bytes.Repeat([]byte("x"), 16<<20)
	err := fsys.WriteFile("/huge", bytes.NewReader(huge), Attr{Mode: 0o644})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("WriteFile(16 MiB, sized) = %v, want ErrNoSpace saying how much is missing", err)
	}
	if now, _ := os.ReadFile(img); !bytes.Equal(now, raw) {
		t.Errorf("a sized WriteFile refused for space wrote to the image")
	}
	err = fsys.WriteFile("/huge", io.MultiReader(bytes.NewReader(huge)), Attr{Mode: 0o644})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("WriteFile(16 MiB, streamed) = %v, want ErrNoSpace saying how many blocks are missing", err)
	}
	t.Logf("out of space: %v", err)
	unchanged("a streamed WriteFile out of space", raw, ranges, st)

	// Use up the inodes with empty files, then one more must fail.
	var i int
	for i = 0; ; i++ {
		err := fsys.WriteFile(fmt.Sprintf("/e%d", i), strings.NewReader(""), Attr{Mode: 0o644})
		if errors.Is(err, ErrNoSpace) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := fsys.Statfs(); st.FreeInodes != 0 {
		t.Errorf("ErrNoSpace with %d inodes free", st.FreeInodes)
	}
	raw, ranges, st = before()
	if err := fsys.Mkdir("/d", Attr{Mode: 0o755}); !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "inodes") {
		t.Errorf("Mkdir with no inodes = %v, want ErrNoSpace about inodes", err)
	}
	unchanged("a Mkdir out of inodes", raw, ranges, st)
	for j := 0; j < i; j += 2 {
		if err := fsys.Remove(fmt.Sprintf("/e%d", j)); err != nil {
			t.Fatal(err)
		}
	}
	fsck(t, img)
}

// TestBlockMappedFiles edits an ext3 filesystem converted to extents
// (tune2fs -O extent): its old files keep their block maps, and must be
// removable, replaceable, and their directories must grow.
func TestBlockMappedFiles(t *testing.T) {
	src, _ := sourceTree(t)
	img := mkfs(t, profile{name: "ext3", blockSize: 1024, features: "^extent,^flex_bg,^64bit,^metadata_csum,^huge_file,^dir_nlink,^extra_isize"}, 48, src)
	run(t, "tune2fs", "-O", "extent", img)
	fsys, _ := openImage(t, img, Options{})
	_, in, err := fsys.resolve("/sparse", false)
	if err != nil || in.hasExtents() {
		t.Fatalf("fixture: /sparse should be block-mapped (%v)", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(fsys.Remove("/sparse")) // double indirect, with holes
	must(fsys.Remove("/big"))
	must(fsys.WriteFile("/block", strings.NewReader("now an extent file\n"), Attr{Mode: 0o644}))
	for i := range 200 {
		must(fsys.WriteFile(fmt.Sprintf("/dir/grown-%03d-%s", i, strings.Repeat("g", 40)), strings.NewReader(fmt.Sprint(i)), Attr{Mode: 0o644}))
	}
	must(fsys.Remove("/many/entry-0001-with-a-longer-name"))
	// /many is a linear directory past its twelve direct blocks: growing
	// it turns its block map into an extent tree.
	for i := range 300 {
		must(fsys.WriteFile(fmt.Sprintf("/many/more-%03d-%s", i, strings.Repeat("m", 60)), strings.NewReader("m"), Attr{Mode: 0o644}))
	}
	_, in, err = fsys.resolve("/many", false)
	if err != nil || !in.hasExtents() || in.hasIndex() {
		t.Errorf("/many after growing: extents %v, indexed %v (%v); want a linear extent-mapped directory", in.hasExtents(), in.hasIndex(), err)
	}
	fsck(t, img)
	ro, _ := openImage(t, img, Options{ReadOnly: true})
	for i := range 200 {
		name := fmt.Sprintf("/dir/grown-%03d-%s", i, strings.Repeat("g", 40))
		if data, err := ro.ReadFile(name); err != nil || string(data) != fmt.Sprint(i) {
			t.Fatalf("ReadFile(%s) = %q, %v", name, data, err)
		}
	}
	if out := debugfs(t, img, "cat /block"); !strings.Contains(out, "now an extent file") {
		t.Errorf("debugfs cat /block:\n%s", out)
	}
}
