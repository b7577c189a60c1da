//go:build linux

package ext4

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var updateFuzzBase = flag.Bool("update-fuzzbase", false, "rebuild testdata/fuzzbase.img.gz with mkfs.ext4")

const fuzzBasePath = "testdata/fuzzbase.img.gz"

// memDev is a device in memory that refuses to go past its end.
type memDev []byte

func (m memDev) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(m)) {
		return 0, io.EOF
	}
	n := copy(p, m[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m memDev) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m)) {
		return 0, fmt.Errorf("write of %d bytes at %d past the end (%d)", len(p), off, len(m))
	}
	return copy(m[off:], p), nil
}

// TestFuzzBaseImage checks (or with -update-fuzzbase rebuilds) the small
// image the fuzz targets corrupt: 1 KiB blocks in four groups, 32-byte
// descriptors, metadata_csum, an htree directory, symlinks and a file
// whose extent tree has a tree block.
func TestFuzzBaseImage(t *testing.T) {
	if *updateFuzzBase {
		src := t.TempDir()
		os.MkdirAll(filepath.Join(src, "many"), 0o755)
		for i := range 100 {
			os.WriteFile(filepath.Join(src, "many", fmt.Sprintf("name-%02d-with-some-length", i)), []byte{byte(i)}, 0o644)
		}
		os.WriteFile(filepath.Join(src, "file"), bytes.Repeat([]byte("data"), 1000), 0o644)
		os.Symlink("file", filepath.Join(src, "fast"))
		os.Symlink(strings.Repeat("./", 40)+"file", filepath.Join(src, "slow"))
		os.Mkdir(filepath.Join(src, "dir"), 0o755)
		os.WriteFile(filepath.Join(src, "dir", "x"), []byte("x"), 0o644)
		img := filepath.Join(t.TempDir(), "img")
		os.WriteFile(img, nil, 0o644)
		os.Truncate(img, 1<<20)
		run(t, "mkfs.ext4", "-q", "-F", "-b", "1024", "-g", "256", "-N", "512", "-U", "6f1c4b1e-53a8-4d5a-9a2f-0b9d3c1e7a42",
			"-E", "hash_seed=1c0ffee0-2b7d-4f6e-8a1b-3c5d7e9f1a2b", "-O", "^64bit,^huge_file,^has_journal,^resize_inode", "-d", src, img)
		index(t, img)
		fsys, _ := openImage(t, img, Options{Now: func() time.Time { return time.Unix(1.7e9, 0) }, Rand: bytes.NewReader(make([]byte, 1<<16))})
		for i := 0; ; i++ {
			if err := fsys.WriteFile(fmt.Sprintf("/dir/f%d", i), bytes.NewReader(make([]byte, 2048)), Attr{Mode: 0o644}); err != nil {
				break
			}
		}
		for i := 0; ; i += 2 {
			if fsys.Remove(fmt.Sprintf("/dir/f%d", i)) != nil {
				break
			}
		}
		if err := fsys.WriteFile("/big", bytes.NewReader(bytes.Repeat([]byte("frag"), 5000)), Attr{Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		fsck(t, img)
		raw, _ := os.ReadFile(img)
		var gz bytes.Buffer
		w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		w.Write(raw)
		w.Close()
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(fuzzBasePath, gz.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := fuzzBase(t)
	fsys, err := Open(memDev(img), int64(len(img)), Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	_, in, err := fsys.resolve("/big", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, depth, _ := parseExtentHeader(in.iBlock()); depth == 0 {
		t.Errorf("/big in the fuzz base has no extent tree block")
	}
	_, in, err = fsys.resolve("/many", false)
	if err != nil || !in.hasIndex() {
		t.Errorf("/many in the fuzz base is not indexed (%v)", err)
	}
	if _, err := exec.LookPath("e2fsck"); err == nil {
		p := filepath.Join(t.TempDir(), "img")
		os.WriteFile(p, img, 0o644)
		fsck(t, p)
	}
}

var (
	fuzzBaseOnce sync.Once
	fuzzBaseImg  []byte
	fuzzBaseErr  error
)

func fuzzBase(t testing.TB) []byte {
	fuzzBaseOnce.Do(func() {
		var f *os.File
		if f, fuzzBaseErr = os.Open(fuzzBasePath); fuzzBaseErr != nil {
			return
		}
		defer f.Close()
		var r *gzip.Reader
		if r, fuzzBaseErr = gzip.NewReader(f); fuzzBaseErr != nil {
			return
		}
		fuzzBaseImg, fuzzBaseErr = io.ReadAll(r)
	})
	if fuzzBaseErr != nil {
		t.Fatalf("reading %s: %v (rebuild with go test -run TestFuzzBaseImage -update-fuzzbase)", fuzzBasePath, fuzzBaseErr)
	}
	return bytes.Clone(fuzzBaseImg)
}

// fuzzFS opens the pristine base to find where things are.
func fuzzFS(t testing.TB, img []byte) *FS {
	fsys, err := Open(memDev(bytes.Clone(img)), int64(len(img)), Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

// exercise reads everything reachable from a (corrupted) image and then
// tries a few changes: errors are expected, panics and hangs are bugs.
func exercise(t *testing.T, img []byte) {
	dev := memDev(img)
	if fsys, err := Open(dev, int64(len(img)), Options{ReadOnly: true}); err == nil {
		walk(fsys)
	}
	fsys, err := Open(dev, int64(len(img)), Options{Now: func() time.Time { return time.Unix(1.7e9, 0) }, Rand: zeroReader{}})
	if err != nil {
		return
	}
	walk(fsys)
	fsys.WriteFile("/new", bytes.NewReader(make([]byte, 3000)), Attr{Mode: 0o644})
	fsys.WriteFile("/many/new-name", strings.NewReader("x"), Attr{Mode: 0o644})
	fsys.WriteFile("/file", strings.NewReader("replaced"), Attr{Mode: 0o644})
	fsys.Mkdir("/dir/sub", Attr{Mode: 0o755})
	fsys.Symlink(strings.Repeat("t", 100), "/many/link", Attr{})
	fsys.Remove("/many/name-07-with-some-length")
	fsys.Remove("/big")
	fsys.Rename("/dir", "/many/dir")
	fsys.Chmod("/fast", 0o600)
	walk(fsys)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func walk(fsys *FS) {
	fsys.Statfs()
	fsys.UsedRanges()
	seen := map[uint32]bool{}
	budget := 300
	var visit func(p string, depth int)
	visit = func(p string, depth int) {
		budget--
		if budget < 0 || depth > 8 {
			return
		}
		fi, err := fsys.Lstat(p)
		if err != nil || seen[fi.Ino()] {
			return
		}
		seen[fi.Ino()] = true
		switch {
		case fi.IsDir():
			ents, _ := fsys.ReadDir(p)
			for _, e := range ents {
				e.Info()
				visit(path.Join(p, e.Name()), depth+1)
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			fsys.Readlink(p)
			fsys.Stat(p)
		default:
			if f, err := fsys.Open(p); err == nil {
				io.Copy(io.Discard, io.LimitReader(f.(io.Reader), 1<<20))
				f.Close()
			}
		}
	}
	visit("/", 0)
}

// Each target overwrites one structure of the base with the fuzzer's bytes
// and then fixes its checksum, so that the parsers behind the checksum
// checks get exercised, not just the checks.

func FuzzSuperblock(f *testing.F) {
	base := fuzzBase(f)
	f.Add(bytes.Clone(base[1024:2048]))
	f.Add(bytes.Clone(base[1024 : 1024+0x68]))
	f.Fuzz(func(t *testing.T, data []byte) {
		img := bytes.Clone(base)
		copy(img[1024:2048], data)
		le.PutUint32(img[1024+sbChecksum:], crc32c(^uint32(0), img[1024:1024+sbChecksum]))
		exercise(t, img)
	})
}

func FuzzGroupDescriptors(f *testing.F) {
	base := fuzzBase(f)
	fsys := fuzzFS(f, base)
	gdt := (int(fsys.sb.firstDataBlock) + 1) * int(fsys.bs)
	f.Add(bytes.Clone(base[gdt : gdt+len(fsys.gdt)]))
	f.Fuzz(func(t *testing.T, data []byte) {
		img := bytes.Clone(base)
		n := copy(img[gdt:gdt+int(fsys.bs)], data)
		sb := fsys.sb
		for g := uint32(0); g < sb.groupCount && int(g*sb.descSize) < n; g++ {
			raw := img[gdt+int(g*sb.descSize) : gdt+int((g+1)*sb.descSize)]
			d := groupDesc{raw: raw, wide: sb.descSize >= 64}
			le.PutUint16(raw[gdChecksum:], sb.descChecksum(g, d, fsys.seed))
		}
		exercise(t, img)
	})
}

// fuzzInodes are the inodes FuzzInode picks from by its first byte.
var fuzzInodes = []string{"/", "/many", "/file", "/slow", "/big", "/dir", "/fast"}

func FuzzInode(f *testing.F) {
	base := fuzzBase(f)
	fsys := fuzzFS(f, base)
	for i, p := range fuzzInodes {
		_, in, err := fsys.resolve(p, false)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte{byte(i)}, in.raw...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		img := bytes.Clone(base)
		ino, _, err := fsys.resolve(fuzzInodes[int(data[0])%len(fuzzInodes)], false)
		if err != nil {
			t.Fatal(err)
		}
		blk, off, _ := fsys.inodeLocation(ino)
		slot := img[blk*fsys.bs+off : blk*fsys.bs+off+uint64(fsys.sb.inodeSize)]
		copy(slot, data[1:])
		in := &inode{raw: slot}
		if in.extraIsize()&3 == 0 && goodOldInodeSize+int(in.extraIsize()) <= len(slot) {
			in.updateChecksum(ino, fsys.seed)
		}
		exercise(t, img)
	})
}

func FuzzExtentTree(f *testing.F) {
	base := fuzzBase(f)
	fsys := fuzzFS(f, base)
	ino, in, err := fsys.resolve("/big", false)
	if err != nil {
		f.Fatal(err)
	}
	m, err := fsys.blockMap(ino, in)
	if err != nil || len(m.meta) == 0 {
		f.Fatalf("/big has no extent tree block (%v)", err)
	}
	tree := m.meta[0]
	f.Add(append(bytes.Clone(in.iBlock()), base[tree*fsys.bs:(tree+1)*fsys.bs]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		img := bytes.Clone(base)
		blk, off, _ := fsys.inodeLocation(ino)
		slot := img[blk*fsys.bs+off : blk*fsys.bs+off+uint64(fsys.sb.inodeSize)]
		n := copy(slot[inBlock:inBlock+iBlockSize], data)
		node := img[tree*fsys.bs : (tree+1)*fsys.bs]
		if len(data) > n {
			copy(node, data[n:])
			if _, _, _, err := parseExtentHeader(node); err == nil && extentTailOffset(node)+4 <= len(node) {
				t := extentTailOffset(node)
				le.PutUint32(node[t:], crc32c(in.csumSeed(ino, fsys.seed), node[:t]))
			}
		}
		(&inode{raw: slot}).updateChecksum(ino, fsys.seed)
		exercise(t, img)
	})
}

// fuzzDirBlocks are the directory blocks FuzzDirectory picks from: the
// root's first block, the htree root of /many, an htree leaf, /dir's.
var fuzzDirBlocks = []struct {
	dir string
	lb  uint32
}{{"/", 0}, {"/many", 0}, {"/many", 1}, {"/dir", 0}}

func FuzzDirectory(f *testing.F) {
	base := fuzzBase(f)
	fsys := fuzzFS(f, base)
	type target struct {
		ino  uint32
		in   *inode
		phys uint64
	}
	var targets []target
	for i, d := range fuzzDirBlocks {
		ino, in, err := fsys.resolve(d.dir, false)
		if err != nil {
			f.Fatal(err)
		}
		m, err := fsys.blockMap(ino, in)
		if err != nil {
			f.Fatal(err)
		}
		buf, phys, ok, err := fsys.dirBlock(ino, m, d.lb)
		if err != nil || !ok {
			f.Fatalf("%s block %d: %v", d.dir, d.lb, err)
		}
		targets = append(targets, target{ino, in, phys})
		f.Add(append([]byte{byte(i)}, buf...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		img := bytes.Clone(base)
		tg := targets[int(data[0])%len(targets)]
		buf := img[tg.phys*fsys.bs : (tg.phys+1)*fsys.bs]
		copy(buf, data[1:])
		if hasDirTail(buf) {
			fsys.sealLeaf(tg.ino, tg.in, buf)
		} else {
			// Perhaps an index block: seal its dx tail where its
			// count/limit say.
			for _, countOff := range []int{dxRootCountOff, dxNodeCountOff} {
				fr := dxFrame{countOff: countOff}
				if lim := fr.limit(buf); lim == fsys.dxLimit(countOff) && fr.count(buf) <= lim {
					fsys.sealDx(&dxTree{ino: tg.ino, dir: tg.in}, &fr, buf)
					break
				}
			}
		}
		exercise(t, img)
	})
}
