package fat_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/image/fat"
)

// step is one change to a filesystem and to the tree it should then hold.
type step struct {
	name  string
	apply func(t *testing.T, fsys *fat.FS, want *tree)
}

func write(name, content string) func(*testing.T, *fat.FS, *tree) {
	return func(t *testing.T, fsys *fat.FS, want *tree) {
		t.Helper()
		if err := fsys.WriteFile(name, []byte(content), fat.FileMode); err != nil {
			t.Fatal(err)
		}
		want.Files[name] = content
	}
}

func mkdirAll(name string) func(*testing.T, *fat.FS, *tree) {
	return func(t *testing.T, fsys *fat.FS, want *tree) {
		t.Helper()
		if err := fsys.MkdirAll(name, fat.DirMode); err != nil {
			t.Fatal(err)
		}
		for p := name; p != "/"; p = p[:strings.LastIndex(p, "/")+1] {
			p = strings.TrimSuffix(p, "/")
			if p == "" {
				break
			}
			want.Dirs[p] = true
		}
	}
}

func remove(name string) func(*testing.T, *fat.FS, *tree) {
	return func(t *testing.T, fsys *fat.FS, want *tree) {
		t.Helper()
		if err := fsys.Remove(name); err != nil {
			t.Fatal(err)
		}
		delete(want.Files, name)
		delete(want.Dirs, name)
	}
}

func rename(from, to string) func(*testing.T, *fat.FS, *tree) {
	return func(t *testing.T, fsys *fat.FS, want *tree) {
		t.Helper()
		if err := fsys.Rename(from, to); err != nil {
			t.Fatal(err)
		}
		for p, c := range want.Files {
			if p == from || strings.HasPrefix(p, from+"/") {
				delete(want.Files, p)
				want.Files[to+strings.TrimPrefix(p, from)] = c
			}
		}
		for p := range want.Dirs {
			if p == from || strings.HasPrefix(p, from+"/") {
				delete(want.Dirs, p)
				want.Dirs[to+strings.TrimPrefix(p, from)] = true
			}
		}
	}
}

func sized(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i*7%26)
	}
	return string(b)
}

// TestWrites makes each kind of change on a fresh filesystem, bare and in
// a disk image, and judges it with fsck.vfat -n and mtools.
func TestWrites(t *testing.T) {
	tests := []struct {
		name  string
		steps []func(*testing.T, *fat.FS, *tree)
	}{
		{"create", []func(*testing.T, *fat.FS, *tree){write("/config.txt", "dtparam=audio=on\n")}},
		{"create multi-cluster", []func(*testing.T, *fat.FS, *tree){write("/kernel8.img", sized(5000))}},
		{"overwrite longer", []func(*testing.T, *fat.FS, *tree){write("/cmdline.txt", "console=tty1"), write("/cmdline.txt", sized(3000))}},
		{"overwrite shorter", []func(*testing.T, *fat.FS, *tree){write("/cmdline.txt", sized(3000)), write("/cmdline.txt", "root=PARTUUID=1a2b3c4d-02")}},
		{"overwrite same clusters", []func(*testing.T, *fat.FS, *tree){write("/a.txt", sized(1000)), write("/a.txt", sized(900))}},
		{"empty file", []func(*testing.T, *fat.FS, *tree){write("/ssh", "")}},
		{"truncate to empty", []func(*testing.T, *fat.FS, *tree){write("/ssh", sized(2000)), write("/ssh", "")}},
		{"grow from empty", []func(*testing.T, *fat.FS, *tree){write("/ssh", ""), write("/ssh", sized(2000))}},
		{"mkdir", []func(*testing.T, *fat.FS, *tree){mkdirAll("/overlays")}},
		{"mkdir nested", []func(*testing.T, *fat.FS, *tree){mkdirAll("/a/b/c/d"), write("/a/b/c/d/deep.txt", "deep")}},
		{"remove file", []func(*testing.T, *fat.FS, *tree){write("/big.bin", sized(10000)), remove("/big.bin")}},
		{"remove empty file", []func(*testing.T, *fat.FS, *tree){write("/ssh", ""), remove("/ssh")}},
		{"remove dir", []func(*testing.T, *fat.FS, *tree){mkdirAll("/overlays/sub"), remove("/overlays/sub"), remove("/overlays")}},
		{"remove then create", []func(*testing.T, *fat.FS, *tree){write("/Long File Name.txt", "1"), remove("/Long File Name.txt"), write("/another long name.txt", sized(700))}},
		{"similar long names", []func(*testing.T, *fat.FS, *tree){
			write("/Config Backup 1.txt", "1"), write("/Config Backup 2.txt", "2"), write("/config backup 3.TXT", "3"),
		}},
		{"names losing characters", []func(*testing.T, *fat.FS, *tree){
			write("/foo.json", "1"), write("/foo.jsonx", "2"), write("/a+b.txt", "3"), write("/a_b.txt", "4"),
			write("/.hidden", "5"), write("/with.two.dots", "6"), write("/Mixed.Txt", "7"), write("/MIXED.TXT~", "8"),
		}},
		{"unicode names", []func(*testing.T, *fat.FS, *tree){
			write("/café.txt", "1"), write("/日本語のファイル名.txt", "2"), write("/Ünïcödé Dïr", "3"),
		}},
		{"long name of 255 characters", []func(*testing.T, *fat.FS, *tree){write("/"+strings.Repeat("x", 251)+".txt", "long")}},
		{"many files in one directory", manyFiles("/overlays", 300)},
		{"many files in the root", manyFiles("", 120)},
		{"rename in a directory", []func(*testing.T, *fat.FS, *tree){write("/config.txt", "x"), rename("/config.txt", "/config.txt.bak")}},
		{"rename across directories", []func(*testing.T, *fat.FS, *tree){
			mkdirAll("/a/b"), write("/a/b/f.txt", "f"), mkdirAll("/c"), rename("/a/b", "/c/moved"), rename("/c/moved/f.txt", "/f.txt"),
		}},
		{"rename replacing a file", []func(*testing.T, *fat.FS, *tree){
			write("/config.txt", sized(3000)), write("/.config.txt.pibake", "new"), rename("/.config.txt.pibake", "/config.txt"),
		}},
		{"rename changing case", []func(*testing.T, *fat.FS, *tree){write("/readme.txt", "r"), rename("/readme.txt", "/README.txt")}},
	}
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					img := l.make(t)
					want := newTree()
					fsys := open(t, img)
					for _, s := range tt.steps {
						s(t, fsys, want)
					}
					check(t, img, want)
				})
			}
		})
	}
}

// TestNameOutsideBMP writes a name with a character outside Unicode's
// basic plane: two UTF-16 units (a surrogate pair) in the long name. mtools
// shows such characters as "_", so this package and fsck judge it.
func TestNameOutsideBMP(t *testing.T) {
	img := layouts[0].make(t)
	fsys := open(t, img)
	want := newTree()
	write("/emoji 🍓.txt", "3")(t, fsys, want)
	fsck(t, img)
	if diff := cmp.Diff(want, ourTree(t, open(t, img))); diff != "" {
		t.Fatalf("a fresh FS reads back (-want +got):\n%s", diff)
	}
}

func manyFiles(dir string, n int) []func(*testing.T, *fat.FS, *tree) {
	var steps []func(*testing.T, *fat.FS, *tree)
	if dir != "" {
		steps = append(steps, mkdirAll(dir))
	}
	for i := range n {
		steps = append(steps, write(fmt.Sprintf("%s/a very long overlay name number %d-overlay.dtbo", dir, i), fmt.Sprint(i)))
	}
	for i := 0; i < n; i += 3 {
		steps = append(steps, remove(fmt.Sprintf("%s/a very long overlay name number %d-overlay.dtbo", dir, i)))
	}
	for i := range n / 2 {
		steps = append(steps, write(fmt.Sprintf("%s/Another Name %d.dtbo", dir, i), sized(i)))
	}
	return steps
}

func TestReadsWhatMtoolsWrote(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			img := l.make(t)
			mmd, mcopy := tool(t, "mmd", "mtools"), tool(t, "mcopy", "mtools")
			src := t.TempDir()
			files := map[string]string{
				"config.txt":          "[all]\ndtparam=i2c_arm=on\n",
				"Config Backup 1.txt": "1",
				"Config Backup 2.txt": "2",
				"kernel8.img":         sized(70000),
				"empty":               "",
			}
			want := newTree()
			run(t, mmd, "-i", img.mtoolsPath(), "::/overlays")
			want.Dirs["/overlays"] = true
			for name, content := range files {
				writeHostFile(t, src+"/"+name, content)
				run(t, mcopy, "-i", img.mtoolsPath(), src+"/"+name, "::/"+name)
				want.Files["/"+name] = content
				run(t, mcopy, "-i", img.mtoolsPath(), src+"/"+name, "::/overlays/"+name)
				want.Files["/overlays/"+name] = content
			}
			fsys := open(t, img)
			if diff := cmp.Diff(want, ourTree(t, fsys)); diff != "" {
				t.Fatalf("FS reads (-want +got):\n%s", diff)
			}
			// Lookups ignore case and accept short names, as the vfat driver.
			for _, name := range []string{"/CONFIG.TXT", "/Overlays/Config.Txt", "/CONFIG~1.TXT", "/config backup 2.TXT"} {
				if _, err := fsys.ReadFile(name); err != nil {
					t.Errorf("ReadFile(%q): %v", name, err)
				}
			}
			// And the filesystem takes changes on top of mtools' entries.
			write("/overlays/Config Backup 3.txt", "3")(t, fsys, want)
			remove("/Config Backup 1.txt")(t, fsys, want)
			write("/config.txt", "new")(t, fsys, want)
			check(t, img, want)
		})
	}
}

func TestStat(t *testing.T) {
	img := layouts[0].make(t)
	fsys := open(t, img)
	write("/config.txt", "abc")(t, fsys, newTree())
	mkdirAll("/overlays")(t, fsys, newTree())
	if err := fsys.WriteFile("/locked.txt", []byte("ro"), fat.ReadOnlyFileMode); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		wantName  string
		wantMode  fs.FileMode
		wantSize  int64
		wantShort string
		wantErr   error
	}{
		{"/", "/", fs.ModeDir | 0o755, 0, "", nil},
		{"/config.txt", "config.txt", 0o755, 3, "CONFIG.TXT", nil},
		{"/CONFIG.TXT", "config.txt", 0o755, 3, "CONFIG.TXT", nil},
		{"overlays", "overlays", fs.ModeDir | 0o755, 0, "OVERLAYS", nil},
		{"/locked.txt", "locked.txt", 0o555, 2, "LOCKED.TXT", nil},
		{"/missing", "", 0, 0, "", fs.ErrNotExist},
		{"/config.txt/x", "", 0, 0, "", fat.ErrNotDir},
	}
	for _, tt := range tests {
		fi, err := fsys.Stat(tt.name)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("Stat(%q) error = %v, want %v", tt.name, err, tt.wantErr)
			continue
		}
		if err != nil {
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Path != tt.name {
				t.Errorf("Stat(%q) error = %v, want a PathError naming the path", tt.name, err)
			}
			continue
		}
		attrs := fi.Sys().(*fat.Attributes)
		if fi.Name() != tt.wantName || fi.Mode() != tt.wantMode || fi.Size() != tt.wantSize || attrs.ShortName != tt.wantShort {
			t.Errorf("Stat(%q) = %s %v %d %s, want %s %v %d %s", tt.name, fi.Name(), fi.Mode(), fi.Size(), attrs.ShortName,
				tt.wantName, tt.wantMode, tt.wantSize, tt.wantShort)
		}
	}
}

func TestErrors(t *testing.T) {
	img := layouts[0].make(t)
	fsys := open(t, img)
	write("/config.txt", "abc")(t, fsys, newTree())
	mkdirAll("/overlays/sub")(t, fsys, newTree())
	tests := []struct {
		name    string
		do      func() error
		wantErr error
		wantMsg string
	}{
		{"read missing", func() error { _, err := fsys.ReadFile("/nope.txt"); return err }, fs.ErrNotExist, "read /nope.txt: file does not exist"},
		{"read dir", func() error { _, err := fsys.ReadFile("/overlays"); return err }, fat.ErrIsDir, "read /overlays: is a directory"},
		{"readdir file", func() error { _, err := fsys.ReadDir("/config.txt"); return err }, fat.ErrNotDir, "readdir /config.txt: not a directory"},
		{"write into missing dir", func() error { return fsys.WriteFile("/nope/a.txt", nil, fat.FileMode) }, fs.ErrNotExist, "write /nope/a.txt"},
		{"write over dir", func() error { return fsys.WriteFile("/overlays", nil, fat.FileMode) }, fat.ErrIsDir, "write /overlays: is a directory"},
		{"write 0644", func() error { return fsys.WriteFile("/x.txt", nil, 0o644) }, errors.ErrUnsupported, "write /x.txt: mode 0644: unsupported operation: FAT has no permission bits"},
		{"write bad name", func() error { return fsys.WriteFile("/a:b", nil, fat.FileMode) }, fat.ErrInvalidName, `write /a:b: invalid FAT file name "a:b"`},
		{"write trailing dot", func() error { return fsys.WriteFile("/a.", nil, fat.FileMode) }, fat.ErrInvalidName, "ends in a dot or space"},
		{"mkdir existing", func() error { return fsys.Mkdir("/overlays", fat.DirMode) }, fs.ErrExist, "mkdir /overlays: file already exists"},
		{"mkdir 0700", func() error { return fsys.Mkdir("/private", 0o700) }, errors.ErrUnsupported, "mkdir /private: mode 0700"},
		{"mkdirall through file", func() error { return fsys.MkdirAll("/config.txt/x", fat.DirMode) }, fat.ErrNotDir, "mkdir /config.txt: not a directory"},
		{"remove non-empty", func() error { return fsys.Remove("/overlays") }, fat.ErrNotEmpty, "remove /overlays: directory not empty"},
		{"remove root", func() error { return fsys.Remove("/") }, errors.ErrUnsupported, "remove /"},
		{"remove missing", func() error { return fsys.Remove("/nope") }, fs.ErrNotExist, "remove /nope"},
		{"chmod file 0644", func() error { return fsys.Chmod("/config.txt", 0o644) }, errors.ErrUnsupported, "chmod /config.txt: mode 0644: unsupported operation"},
		{"chmod dir 0700", func() error { return fsys.Chmod("/overlays", 0o700) }, errors.ErrUnsupported, "chmod /overlays: mode 0700"},
		{"chown", func() error { return fsys.Chown("/config.txt", 1000, 1000) }, errors.ErrUnsupported, "chown /config.txt: owner 1000:1000: unsupported operation: FAT has no owners"},
		{"chown missing", func() error { return fsys.Chown("/nope", 0, 0) }, fs.ErrNotExist, "chown /nope"},
		{"rename dir into itself", func() error { return fsys.Rename("/overlays", "/overlays/sub/x") }, errors.ErrUnsupported, "a directory cannot move into itself"},
		{"rename file over dir", func() error { return fsys.Rename("/config.txt", "/overlays") }, fat.ErrIsDir, "rename /config.txt /overlays: is a directory"},
		{"rename dir over file", func() error { return fsys.Rename("/overlays", "/config.txt") }, fat.ErrNotDir, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if !errors.Is(err, tt.wantErr) || !strings.Contains(fmt.Sprint(err), tt.wantMsg) {
				t.Errorf("error = %v, want %v saying %q", err, tt.wantErr, tt.wantMsg)
			}
		})
	}
	// Allowed no-op ownership and modes, and the read-only attribute.
	for _, err := range []error{
		fsys.Chown("/config.txt", 0, 0), fsys.Chown("/overlays", -1, 0),
		fsys.Chmod("/config.txt", 0o755), fsys.Chmod("/overlays", fs.ModeDir|0o755),
		fsys.Chmod("/config.txt", 0o555),
	} {
		if err != nil {
			t.Error(err)
		}
	}
	if fi, err := fsys.Stat("/config.txt"); err != nil || fi.Mode() != 0o555 {
		t.Errorf("after Chmod 0555: Stat = %v, %v; want mode 0555", fi, err)
	}
	// None of that left the filesystem unclean.
	fsck(t, img)
}

func TestNoSpace(t *testing.T) {
	img := layouts[0].make(t)
	fsys := open(t, img)
	want := newTree()
	write("/keep.txt", "keep")(t, fsys, want)
	free := fsys.FreeBytes()
	err := fsys.WriteFile("/huge.bin", make([]byte, free+1), fat.FileMode)
	if !errors.Is(err, fat.ErrNoSpace) {
		t.Fatalf("WriteFile beyond the free space: %v, want ErrNoSpace", err)
	}
	if fsys.FreeBytes() != free {
		t.Errorf("FreeBytes after a failed write = %d, want %d", fsys.FreeBytes(), free)
	}
	// Fill it exactly: every cluster in use, the FSInfo hint says none.
	fill := make([]byte, free)
	copy(fill, "full")
	write("/huge.bin", string(fill))(t, fsys, want)
	if fsys.FreeBytes() != 0 {
		t.Errorf("FreeBytes = %d, want 0", fsys.FreeBytes())
	}
	if err := fsys.WriteFile("/one-more.txt", []byte("x"), fat.FileMode); !errors.Is(err, fat.ErrNoSpace) {
		t.Errorf("WriteFile on a full filesystem: %v, want ErrNoSpace", err)
	}
	fsck(t, img)
	if info := readFSInfo(t, img); info.nextFree != 0xffffffff || info.free != 0 {
		t.Errorf("FSInfo on a full filesystem = %+v, want free 0 and next-free 0xFFFFFFFF", info)
	}
	remove("/huge.bin")(t, fsys, want)
	check(t, img, want)
}

func writeHostFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
