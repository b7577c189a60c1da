//go:build linux

package ext4

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"
)

// sourceTree builds a directory for mkfs.ext4 -d with one of everything
// the reader must get right.
func sourceTree(t testing.TB) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	files := map[string][]byte{
		"empty":             nil,
		"small.txt":         []byte("hello\n"),
		"block":             random(4096),
		"odd":               random(4097),
		"big":               random(256<<10 + 123),
		"dir/sub/deep/file": []byte("deep\n"),
		"suid":              []byte("#!/bin/sh\n"),
		"owned":             []byte("owned\n"),
		"highid":            []byte("high ids\n"),
	}
	for i := range 600 {
		files[fmt.Sprintf("many/entry-%04d-with-a-longer-name", i)] = []byte(fmt.Sprintf("%d\n", i))
	}
	var names []string
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	// A sparse file: a hole, data, a hole, data.
	sp, err := os.Create(filepath.Join(dir, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	sp.WriteAt([]byte("in the middle"), 1<<20)
	sp.WriteAt([]byte("at the end"), 5<<20)
	sp.Close()
	names = append(names, "sparse")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(filepath.Join(dir, "suid"), 0o755|os.ModeSetuid))
	must(os.Mkdir(filepath.Join(dir, "sticky"), 0o777))
	must(os.Chmod(filepath.Join(dir, "sticky"), 0o777|os.ModeSticky))
	if os.Geteuid() == 0 {
		must(os.Chown(filepath.Join(dir, "owned"), 1234, 5678))
		must(os.Chown(filepath.Join(dir, "highid"), 70000, 80000))
	}
	must(os.Symlink("small.txt", filepath.Join(dir, "fastlink")))
	must(os.Symlink(strings.Repeat("./", 40)+"small.txt", filepath.Join(dir, "slowlink")))
	must(os.Symlink("dir", filepath.Join(dir, "dirlink")))
	must(os.Symlink("/dir/sub", filepath.Join(dir, "abslink")))
	must(os.Link(filepath.Join(dir, "small.txt"), filepath.Join(dir, "hardlink")))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	must(os.Chtimes(filepath.Join(dir, "odd"), old, old))
	names = append(names, "hardlink")
	return dir, names
}

// compareTree checks that every file under src reads back identically
// through fsys.
func compareTree(t *testing.T, fsys *FS, src string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		name := path.Clean("/" + filepath.ToSlash(rel))
		want, err := os.Lstat(p)
		if err != nil {
			return err
		}
		got, err := fsys.Lstat(name)
		if err != nil {
			t.Errorf("Lstat(%q): %v", name, err)
			return nil
		}
		if got.Mode() != want.Mode() {
			t.Errorf("Lstat(%q).Mode() = %v, want %v", name, got.Mode(), want.Mode())
		}
		st := want.Sys().(*syscall.Stat_t)
		if got.UID() != int(st.Uid) || got.GID() != int(st.Gid) {
			t.Errorf("Lstat(%q) owner = %d:%d, want %d:%d", name, got.UID(), got.GID(), st.Uid, st.Gid)
		}
		if got.Nlink() != int(st.Nlink) && !want.IsDir() {
			t.Errorf("Lstat(%q).Nlink() = %d, want %d", name, got.Nlink(), st.Nlink)
		}
		if name != "/" && !got.ModTime().Equal(want.ModTime().Truncate(time.Second)) && !got.ModTime().Equal(want.ModTime()) {
			t.Errorf("Lstat(%q).ModTime() = %v, want %v", name, got.ModTime(), want.ModTime())
		}
		switch {
		case want.Mode().IsRegular():
			data, err := fsys.ReadFile(name)
			wantData, _ := os.ReadFile(p)
			if err != nil || !bytes.Equal(data, wantData) {
				t.Errorf("ReadFile(%q) = %d bytes, %v; want %d bytes", name, len(data), err, len(wantData))
			}
		case want.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			if got, err := fsys.Readlink(name); got != target || err != nil {
				t.Errorf("Readlink(%q) = %q, %v; want %q", name, got, err, target)
			}
			if got.LinkTarget() != target {
				t.Errorf("Lstat(%q).LinkTarget() = %q, want %q", name, got.LinkTarget(), target)
			}
		case want.IsDir():
			wantEnts, _ := os.ReadDir(p)
			gotEnts, err := fsys.ReadDir(name)
			if err != nil {
				t.Errorf("ReadDir(%q): %v", name, err)
				break
			}
			var w, g []string
			for _, e := range wantEnts {
				w = append(w, e.Name()+" "+e.Type().String())
			}
			for _, e := range gotEnts {
				if name == "/" && e.Name() == "lost+found" {
					continue
				}
				g = append(g, e.Name()+" "+e.Type().String())
			}
			if strings.Join(w, ",") != strings.Join(g, ",") {
				t.Errorf("ReadDir(%q) = %v, want %v", name, g, w)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadMkfsContent(t *testing.T) {
	src, names := sourceTree(t)
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			img := mkfs(t, p, 48, src)
			index(t, img)
			fsck(t, img)
			if !strings.Contains(debugfs(t, img, "stat /many"), "Flags: 0x81000") {
				t.Fatalf("fixture: /many is not htree-indexed")
			}
			fsys, _ := openImage(t, img, Options{ReadOnly: true})
			compareTree(t, fsys, src)

			// Symlinks resolve inside the filesystem.
			if data, err := fsys.ReadFile("/dirlink/sub/deep/file"); err != nil || string(data) != "deep\n" {
				t.Errorf("ReadFile through a relative dir symlink = %q, %v", data, err)
			}
			if data, err := fsys.ReadFile("abslink/deep/file"); err != nil || string(data) != "deep\n" {
				t.Errorf("ReadFile through an absolute dir symlink = %q, %v", data, err)
			}
			if fi, err := fsys.Stat("/fastlink"); err != nil || fi.Size() != 6 || fi.Mode()&fs.ModeSymlink != 0 {
				t.Errorf("Stat(/fastlink) = %v, %v; want the 6-byte target", fi, err)
			}
			if _, err := fsys.Stat("/missing/x"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Stat(/missing/x) error = %v, want fs.ErrNotExist", err)
			}
			if _, err := fsys.Stat("/small.txt/x"); !errors.Is(err, syscall.ENOTDIR) {
				t.Errorf("Stat(/small.txt/x) error = %v, want ENOTDIR", err)
			}
			var pe *fs.PathError
			if _, err := fsys.ReadFile("/nope"); !errors.As(err, &pe) {
				t.Errorf("ReadFile(/nope) error %v is not a *fs.PathError", err)
			}
			// Every name in the htree directory is found by hash.
			for i := range 600 {
				name := fmt.Sprintf("/many/entry-%04d-with-a-longer-name", i)
				if data, err := fsys.ReadFile(name); err != nil || string(data) != fmt.Sprintf("%d\n", i) {
					t.Fatalf("ReadFile(%q) = %q, %v", name, data, err)
				}
			}
			// Streaming reads and seeks.
			file, err := fsys.Open("big")
			if err != nil {
				t.Fatal(err)
			}
			want, _ := os.ReadFile(filepath.Join(src, "big"))
			got, err := io.ReadAll(io.LimitReader(file, 100<<10))
			if err != nil || !bytes.Equal(got, want[:100<<10]) {
				t.Errorf("streaming the first 100 KiB of /big: %v", err)
			}
			if p.name != "pi-gen" {
				// Once is enough: testing/fstest reads every file byte by byte.
			} else if err := fstest.TestFS(fsys.IOFS(), names...); err != nil {
				t.Error(err)
			}
			st := fsys.Statfs()
			df := debugfs(t, img, "stats")
			if m := regexp.MustCompile(`Free blocks:\s+(\d+)`).FindStringSubmatch(df); m == nil || m[1] != fmt.Sprint(st.FreeBlocks) {
				t.Errorf("Statfs().FreeBlocks = %d, debugfs says %v", st.FreeBlocks, m)
			}
		})
	}
}

// TestReadBlockMapped reads ext2/ext3-style files (direct, indirect and
// double indirect blocks) and refuses to write to such a filesystem.
func TestReadBlockMapped(t *testing.T) {
	src, _ := sourceTree(t)
	img := mkfs(t, profile{name: "ext3", blockSize: 4096, features: "^extent,^flex_bg,^64bit,^metadata_csum,^huge_file,^dir_nlink,^extra_isize"}, 48, src)
	index(t, img)
	fsck(t, img)
	fsys, _ := openImage(t, img, Options{ReadOnly: true})
	compareTree(t, fsys, src)
	file, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if _, err := Open(file, 48<<20, Options{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Open(ext3, writable) error = %v, want ErrUnsupported", err)
	}
}

func TestDirHashMatchesDebugfs(t *testing.T) {
	needTools(t)
	img := mkfs(t, profiles[0], 8, "")
	names := []string{"a", "hello", "hélloworld", "file_with_longish_name_76", strings.Repeat("x", 255), "0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef0"}
	seed := "1c0ffee0-2b7d-4f6e-8a1b-3c5d7e9f1a2b"
	seedWords := [4]uint32{}
	raw := []byte{0x1c, 0x0f, 0xfe, 0xe0, 0x2b, 0x7d, 0x4f, 0x6e, 0x8a, 0x1b, 0x3c, 0x5d, 0x7e, 0x9f, 0x1a, 0x2b}
	for i := range 4 {
		seedWords[i] = le.Uint32(raw[4*i:])
	}
	var cmds []string
	type c struct {
		alg     string
		version int
		name    string
	}
	var cases []c
	for _, alg := range []struct {
		name    string
		version int
	}{{"legacy", hashLegacy}, {"half_md4", hashHalfMD4}, {"tea", hashTEA}} {
		for _, n := range names {
			cases = append(cases, c{alg.name, alg.version, n})
			cmds = append(cmds, fmt.Sprintf("dx_hash -h %s -s %s %s", alg.name, seed, n))
		}
	}
	out := debugfs(t, img, cmds...)
	re := regexp.MustCompile(`Hash of (\S+) is 0x([0-9a-f]+)`)
	ms := re.FindAllStringSubmatch(out, -1)
	if len(ms) != len(cases) {
		t.Fatalf("debugfs gave %d hashes for %d names:\n%s", len(ms), len(cases), out)
	}
	for i, tc := range cases {
		got, err := dirHash(tc.version, seedWords, []byte(tc.name))
		if err != nil {
			t.Fatal(err)
		}
		if want := ms[i][2]; fmt.Sprintf("%x", got) != want {
			t.Errorf("dirHash(%s, %q) = %x, debugfs says %s", tc.alg, tc.name, got, want)
		}
	}
}

// TestOpenRefuses checks that Open refuses, without writing, filesystems
// it must not touch.
func TestOpenRefuses(t *testing.T) {
	needTools(t)
	base := mkfs(t, profiles[0], 16, "")
	pristine, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		mkfs    string // features for a fresh image instead of base
		corrupt func(img []byte)
		want    error
		wantMsg string
	}{
		{name: "needs_recovery", corrupt: func(b []byte) { setSB(b, sbFeatureIncompat, 4, le.Uint32(b[1024+sbFeatureIncompat:])|incompatRecover) }, want: ErrNeedsRecovery, wantMsg: "journal"},
		{name: "errors", corrupt: func(b []byte) { setSB(b, sbState, 2, stateValid|stateErrors) }, want: ErrNeedsRecovery, wantMsg: "errors"},
		{name: "not clean", corrupt: func(b []byte) { setSB(b, sbState, 2, 0) }, want: ErrNeedsRecovery, wantMsg: "cleanly"},
		{name: "orphans", corrupt: func(b []byte) { setSB(b, sbLastOrphan, 4, 12) }, want: ErrNeedsRecovery, wantMsg: "orphan"},
		{name: "inline_data", mkfs: "inline_data", want: ErrUnsupported, wantMsg: "inline_data"},
		{name: "casefold", mkfs: "casefold", want: ErrUnsupported, wantMsg: "casefold"},
		{name: "encrypt", mkfs: "encrypt", want: ErrUnsupported, wantMsg: "encrypt"},
		{name: "bigalloc", mkfs: "bigalloc", want: ErrUnsupported, wantMsg: "bigalloc"},
		{name: "meta_bg", mkfs: "meta_bg,^resize_inode", want: ErrUnsupported, wantMsg: "meta_bg"},
		{name: "quota", mkfs: "quota", want: ErrUnsupported, wantMsg: "quota"},
		{name: "superblock checksum", corrupt: func(b []byte) { b[1024+sbChecksum] ^= 1 }, want: ErrCorrupt, wantMsg: "superblock: checksum"},
		{name: "descriptor checksum", corrupt: func(b []byte) { b[4096+gdChecksum] ^= 1 }, want: ErrCorrupt, wantMsg: "group 0: descriptor checksum"},
		{name: "not ext4", corrupt: func(b []byte) { b[1024+sbMagic] = 0 }, want: ErrCorrupt, wantMsg: "magic"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img")
			if tc.mkfs != "" {
				img = mkfs(t, profile{name: tc.name, blockSize: 4096, features: tc.mkfs}, 16, "")
			} else {
				b := bytes.Clone(pristine)
				tc.corrupt(b)
				if err := os.WriteFile(img, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.ReadFile(img)
			file, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer file.Close()
			_, err = Open(file, int64(len(before)), Options{})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("Open() error = %v, want %v mentioning %q", err, tc.want, tc.wantMsg)
			}
			after, _ := os.ReadFile(img)
			if !bytes.Equal(before, after) {
				t.Errorf("Open() changed the image it refused")
			}
		})
	}
}

// setSB changes a superblock field and re-checksums it, as a corrupting
// tool that knows the format would.
func setSB(img []byte, off, size int, v uint32) {
	sb := img[1024:2048]
	if size == 2 {
		le.PutUint16(sb[off:], uint16(v))
	} else {
		le.PutUint32(sb[off:], v)
	}
	le.PutUint32(sb[sbChecksum:], crc32c(^uint32(0), sb[:sbChecksum]))
}
