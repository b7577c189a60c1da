//go:build linux

package ext4

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var long = flag.Bool("long", false, "run many more property-test sequences (also EXT4_LONG=1)")

// node is what the model expects at a path.
type node struct {
	kind     byte // 'f' file, 'd' directory, 'l' symlink
	perm     uint16
	uid, gid int
	data     []byte
	target   string
	mtime    time.Time // checked for files and symlinks
}

type model map[string]*node

func (m model) clone() model {
	c := make(model, len(m))
	for k, v := range m {
		n := *v
		c[k] = &n
	}
	return c
}

func (m model) paths(kinds string) []string {
	var out []string
	for p, n := range m {
		if p != "/" && p != "/lost+found" && strings.IndexByte(kinds, n.kind) >= 0 {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func (m model) children(dir string) []string {
	var out []string
	for p := range m {
		if p != "/" && path.Dir(p) == dir {
			out = append(out, p)
		}
	}
	return out
}

// baseTree makes the source tree every sequence starts from: a small
// root with an htree-indexed /etc, and its model.
func baseTree(t testing.TB) (string, model) {
	dir := t.TempDir()
	m := model{"/": {kind: 'd', perm: 0o755}}
	mtime := time.Date(2023, 3, 4, 5, 6, 7, 0, time.UTC)
	add := func(p string, n *node) {
		full := filepath.Join(dir, p)
		switch n.kind {
		case 'd':
			os.MkdirAll(full, 0o755)
		case 'f':
			os.WriteFile(full, n.data, 0o644)
		case 'l':
			os.Symlink(n.target, full)
		}
		os.Lchown(full, n.uid, n.gid) // before chmod: chown clears setuid
		if n.kind != 'l' {
			os.Chmod(full, fs.FileMode(n.perm&0o777)|unixModeBits(n.perm))
		}
		n.mtime = mtime
		if n.kind != 'l' {
			os.Chtimes(full, mtime, mtime)
		} else if fi, err := os.Lstat(full); err == nil {
			n.mtime = fi.ModTime().Truncate(time.Second) // mkfs -d keeps seconds only
		}
		m[p] = n
	}
	add("/etc", &node{kind: 'd', perm: 0o755})
	for i := range 300 {
		add(fmt.Sprintf("/etc/conf-%03d.conf", i), &node{kind: 'f', perm: 0o644, data: []byte(fmt.Sprintf("setting=%d\n", i))})
	}
	add("/home", &node{kind: 'd', perm: 0o755})
	add("/home/pi", &node{kind: 'd', perm: 0o750, uid: 1000, gid: 1000})
	add("/home/pi/.bashrc", &node{kind: 'f', perm: 0o644, uid: 1000, gid: 1000, data: []byte("# bashrc\n")})
	add("/usr", &node{kind: 'd', perm: 0o755})
	add("/usr/bin", &node{kind: 'd', perm: 0o755})
	add("/usr/bin/sudo", &node{kind: 'f', perm: 0o4755, data: bytes.Repeat([]byte{0x7f, 'E', 'L', 'F'}, 5000)})
	add("/bin", &node{kind: 'l', perm: 0o777, target: "usr/bin"})
	if os.Geteuid() != 0 {
		// Without root, mkfs -d records our own ids.
		for _, n := range m {
			n.uid, n.gid = os.Getuid(), os.Getgid()
		}
	}
	return dir, m
}

// copyImage copies only what a filesystem uses into a fresh sparse file.
func copyImage(t testing.TB, src string, ranges []Range, size int64) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(t.TempDir(), "img")
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := out.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for _, r := range ranges {
		if _, err := io.Copy(io.NewOffsetWriter(out, r.Off), io.NewSectionReader(in, r.Off, r.Len)); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

type sequence struct {
	t     *testing.T
	rng   *rand.Rand
	fsys  *FS
	m     model
	log   []string
	bs    int
	depth *atomic.Int32 // deepest extent tree seen for this profile
}

func (s *sequence) logf(format string, args ...any) {
	s.log = append(s.log, fmt.Sprintf(format, args...))
}

func (s *sequence) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("%s\noperations:\n  %s", fmt.Sprintf(format, args...), strings.Join(s.log, "\n  "))
}

func (s *sequence) pick(ps []string) string {
	if len(ps) == 0 {
		return ""
	}
	return ps[s.rng.IntN(len(ps))]
}

func (s *sequence) name(dir string) string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789._-"
	for {
		n := 1 + s.rng.IntN(20)
		switch r := s.rng.IntN(100); {
		case r < 5:
			n = 100 + s.rng.IntN(156)
		case r < 30:
			n = 20 + s.rng.IntN(80)
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = chars[s.rng.IntN(len(chars))]
		}
		p := path.Join(dir, string(b))
		if string(b) != "." && string(b) != ".." && s.m[p] == nil && p != "/lost+found" {
			return p
		}
	}
}

func (s *sequence) content() []byte {
	var n int
	switch r := s.rng.IntN(100); {
	case r < 10:
		n = 0
	case r < 60:
		n = 1 + s.rng.IntN(5000)
	case r < 95:
		n = 5000 + s.rng.IntN(300<<10)
	default:
		n = 1<<20 + s.rng.IntN(6<<20)
	}
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := s.rng.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func (s *sequence) attr() (Attr, uint16) {
	perm := uint16(s.rng.IntN(0o1000))
	if s.rng.IntN(10) == 0 {
		perm |= []uint16{0o4000, 0o2000, 0o1000}[s.rng.IntN(3)]
	}
	uid, gid := s.rng.IntN(3)*1000, s.rng.IntN(3)*1000
	if s.rng.IntN(10) == 0 {
		uid, gid = 65536+s.rng.IntN(1<<20), 65536+s.rng.IntN(1<<20)
	}
	mtime := time.Unix(1e9+s.rng.Int64N(1e9), s.rng.Int64N(1e9)).UTC()
	return Attr{Mode: fs.FileMode(perm), UID: uid, GID: gid, Mtime: mtime}, perm
}

func (s *sequence) must(err error, op string) {
	s.t.Helper()
	if err != nil {
		s.fatalf("%s: %v", op, err)
	}
}

func (s *sequence) expect(err, want error, op string) {
	s.t.Helper()
	if !errors.Is(err, want) {
		s.fatalf("%s: error %v, want %v", op, err, want)
	}
}

func (s *sequence) create(p string) {
	a, perm := s.attr()
	data := s.content()
	s.logf("WriteFile(%q, %d bytes, %o %d:%d)", p, len(data), perm, a.UID, a.GID)
	s.must(s.fsys.WriteFile(p, bytes.NewReader(data), a), "WriteFile "+p)
	s.m[p] = &node{kind: 'f', perm: perm, uid: a.UID, gid: a.GID, data: data, mtime: a.Mtime}
}

// step runs one random operation.
func (s *sequence) step() {
	dirs := s.m.paths("d")
	dirs = append(dirs, "/")
	switch r := s.rng.IntN(100); {
	case r < 25:
		s.create(s.name(s.pick(dirs)))
	case r < 35:
		if p := s.pick(s.m.paths("f")); p != "" {
			s.create(p) // a replacement, longer or shorter
		}
	case r < 43:
		p := s.name(s.pick(dirs))
		a, perm := s.attr()
		s.logf("Mkdir(%q, %o)", p, perm)
		s.must(s.fsys.Mkdir(p, a), "Mkdir "+p)
		s.m[p] = &node{kind: 'd', perm: perm, uid: a.UID, gid: a.GID}
	case r < 51:
		p := s.name(s.pick(dirs))
		target := s.name("")[:1] + strings.Repeat("/t", s.rng.IntN(40))
		if s.rng.IntN(2) == 0 {
			target = strings.Repeat("../", 1+s.rng.IntN(20)) + s.name("x")[2:]
		}
		if len(target) >= s.bs {
			target = target[:s.bs-1]
		}
		a, _ := s.attr()
		s.logf("Symlink(%q, %q)", target, p)
		s.must(s.fsys.Symlink(target, p, a), "Symlink "+p)
		s.m[p] = &node{kind: 'l', perm: 0o777, uid: a.UID, gid: a.GID, target: target, mtime: a.Mtime}
	case r < 63:
		p := s.pick(s.m.paths("fdl"))
		if p == "" {
			return
		}
		s.logf("Remove(%q)", p)
		err := s.fsys.Remove(p)
		if s.m[p].kind == 'd' && len(s.m.children(p)) > 0 {
			s.expect(err, syscall.ENOTEMPTY, "Remove "+p)
			return
		}
		s.must(err, "Remove "+p)
		delete(s.m, p)
	case r < 75:
		s.rename()
	case r < 80:
		p := s.pick(s.m.paths("fd"))
		if p == "" {
			return
		}
		_, perm := s.attr()
		s.logf("Chmod(%q, %o)", p, perm)
		s.must(s.fsys.Chmod(p, fs.FileMode(perm&0o777)|unixModeBits(perm)), "Chmod "+p)
		s.m[p].perm = perm
	case r < 85:
		p := s.pick(s.m.paths("fdl"))
		if p == "" {
			return
		}
		a, _ := s.attr()
		s.logf("Lchown(%q, %d, %d)", p, a.UID, a.GID)
		s.must(s.fsys.Lchown(p, a.UID, a.GID), "Lchown "+p)
		s.m[p].uid, s.m[p].gid = a.UID, a.GID
	case r < 88:
		p := s.pick(s.m.paths("f"))
		if p == "" {
			return
		}
		a, _ := s.attr()
		s.logf("Chtimes(%q, %v)", p, a.Mtime)
		s.must(s.fsys.Chtimes(p, a.Mtime, a.Mtime), "Chtimes "+p)
		s.m[p].mtime = a.Mtime
	case r < 93:
		// Hundreds of inserts into the htree directory (or, when it has
		// been renamed away, into any directory), then removals.
		dir := "/etc"
		if n := s.m[dir]; n == nil || n.kind != 'd' {
			dir = s.pick(dirs)
		}
		n := 50 + s.rng.IntN(250)
		s.logf("burst of %d files into %s", n, dir)
		for range n {
			p := s.name(dir)
			a, perm := s.attr()
			data := []byte(p)
			s.must(s.fsys.WriteFile(p, bytes.NewReader(data), a), "WriteFile "+p)
			s.m[p] = &node{kind: 'f', perm: perm, uid: a.UID, gid: a.GID, data: data, mtime: a.Mtime}
		}
		files := s.m.children(dir)
		slices.Sort(files)
		for range s.rng.IntN(min(len(files), 150)) {
			i := s.rng.IntN(len(files))
			p := files[i]
			files = slices.Delete(files, i, i+1)
			if s.m[p].kind == 'd' && len(s.m.children(p)) > 0 {
				continue
			}
			s.must(s.fsys.Remove(p), "Remove "+p)
			delete(s.m, p)
		}
	default:
		s.invalid()
	}
}

func unixModeBits(perm uint16) fs.FileMode {
	var m fs.FileMode
	if perm&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if perm&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if perm&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// invalid tries something that must fail and change nothing.
func (s *sequence) invalid() {
	switch s.rng.IntN(4) {
	case 0:
		p := s.pick(append(s.m.paths("fdl"), "/"))
		s.logf("Mkdir(existing %q)", p)
		s.expect(s.fsys.Mkdir(p, Attr{}), fs.ErrExist, "Mkdir existing")
	case 1:
		p := s.name("/")
		s.logf("Remove(missing %q)", p)
		s.expect(s.fsys.Remove(p), fs.ErrNotExist, "Remove missing")
	case 2:
		p := s.pick(s.m.paths("d"))
		if p == "" {
			return
		}
		s.logf("WriteFile(directory %q)", p)
		s.expect(s.fsys.WriteFile(p, strings.NewReader("x"), Attr{}), syscall.EISDIR, "WriteFile onto a directory")
	case 3:
		p := s.pick(s.m.paths("f"))
		if p == "" {
			return
		}
		s.logf("Mkdir(under a file %q)", p)
		s.expect(s.fsys.Mkdir(p+"/x", Attr{}), syscall.ENOTDIR, "Mkdir under a file")
	}
}

func (s *sequence) rename() {
	src := s.pick(s.m.paths("fdl"))
	if src == "" {
		return
	}
	var dst string
	if s.m[src].kind != 'd' && s.rng.IntN(3) == 0 {
		dst = s.pick(s.m.paths("fl"))
	}
	if dst == "" || dst == src {
		dirs := append(s.m.paths("d"), "/")
		dst = s.name(s.pick(dirs))
	}
	s.logf("Rename(%q, %q)", src, dst)
	err := s.fsys.Rename(src, dst)
	if s.m[src].kind == 'd' && strings.HasPrefix(dst, src+"/") {
		s.expect(err, syscall.EINVAL, "Rename into itself")
		return
	}
	s.must(err, "Rename")
	delete(s.m, dst)
	for p, n := range s.m {
		if p == src || strings.HasPrefix(p, src+"/") {
			delete(s.m, p)
			s.m[dst+p[len(src):]] = n
		}
	}
}

// fragment fills the filesystem with small files until it is full (which
// must fail with ErrNoSpace and change nothing), frees every other one,
// then writes a file that can only be stored in many extents.
func (s *sequence) fragment() {
	st := s.fsys.Statfs()
	k := max(2, min(16, int(st.FreeBlocks/max(1, st.FreeInodes*3/4))+1))
	s.logf("fragment: fill with %d-block files", k)
	if s.m["/frag"] == nil {
		s.must(s.fsys.Mkdir("/frag", Attr{Mode: 0o755}), "Mkdir /frag")
		s.m["/frag"] = &node{kind: 'd', perm: 0o755}
	}
	var fillers []string
	mtime := time.Unix(1.5e9, 0).UTC()
	for i := 0; ; i++ {
		p := fmt.Sprintf("/frag/f%05d", i)
		data := bytes.Repeat([]byte{byte(i), byte(i >> 8)}, k*s.bs/2)
		err := s.fsys.WriteFile(p, bytes.NewReader(data), Attr{Mode: 0o600, Mtime: mtime})
		if errors.Is(err, ErrNoSpace) {
			if _, err := s.fsys.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
				s.fatalf("a WriteFile that ran out of space left %s behind: %v", p, err)
			}
			break
		}
		s.must(err, "WriteFile "+p)
		s.m[p] = &node{kind: 'f', perm: 0o600, data: data, mtime: mtime}
		fillers = append(fillers, p)
	}
	for i, p := range fillers {
		if i%2 == 0 {
			s.must(s.fsys.Remove(p), "Remove "+p)
			delete(s.m, p)
		}
	}
	size := int(s.fsys.Statfs().FreeBlocks) * s.bs * 7 / 10
	size = min(size, 24<<20)
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7 / 5)
	}
	p := "/frag/big"
	s.logf("WriteFile(%q, %d bytes, fragmented)", p, size)
	if s.m[p] != nil {
		s.must(s.fsys.Remove(p), "Remove "+p)
	}
	s.must(s.fsys.WriteFile(p, bytes.NewReader(data), Attr{Mode: 0o644, Mtime: mtime}), "WriteFile "+p)
	s.m[p] = &node{kind: 'f', perm: 0o644, data: data, mtime: mtime}
	ino, in, err := s.fsys.resolve(p, false)
	s.must(err, "resolve")
	_, _, depth, _ := parseExtentHeader(in.iBlock())
	s.logf("  inode %d extent depth %d", ino, depth)
	if int32(depth) > s.depth.Load() {
		s.depth.Store(int32(depth))
	}
	// Keep the fragmented file, drop most fillers to keep checks quick.
	for i, p := range fillers {
		if i%2 == 1 && i%10 != 1 {
			s.must(s.fsys.Remove(p), "Remove "+p)
			delete(s.m, p)
		}
	}
}

func TestProperty(t *testing.T) {
	needTools(t)
	seqs := 100 // per profile: 500 in all
	if *long || os.Getenv("EXT4_LONG") != "" {
		seqs = 400
	}
	seed0 := uint64(1)
	if v := os.Getenv("EXT4_SEED"); v != "" {
		seed0, _ = strconv.ParseUint(v, 10, 64)
	}
	src, baseModel := baseTree(t)
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			const size = 96 << 20
			base := mkfs(t, p, size>>20, src)
			index(t, base)
			if strings.Contains(p.extended, "lazy_itable_init") {
				scribbleUnusedInodes(t, base)
				fsck(t, base)
			}
			bfs, _ := openImage(t, base, Options{ReadOnly: true})
			ranges, err := bfs.UsedRanges()
			if err != nil {
				t.Fatal(err)
			}
			var depth atomic.Int32
			for i := range seqs {
				seed := seed0*1000003 + uint64(i)
				img := copyImage(t, base, ranges, size)
				runSequence(t, p, img, baseModel.clone(), seed, &depth)
				os.Remove(img)
			}
			if depth.Load() < 1 {
				t.Errorf("no sequence made an extent tree deeper than the inode")
			}
			t.Logf("%d sequences; deepest extent tree: %d", seqs, depth.Load())
		})
	}
}

func runSequence(t *testing.T, p profile, img string, m model, seed uint64, depth *atomic.Int32) {
	t.Helper()
	clock := time.Date(2025, 1, 2, 3, 4, 5, 600, time.UTC)
	fsys, file := openImage(t, img, Options{
		Now:  func() time.Time { return clock },
		Rand: rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)}),
	})
	s := &sequence{t: t, rng: rand.New(rand.NewPCG(seed, 7)), fsys: fsys, m: m, bs: p.blockSize, depth: depth}
	s.logf("seed %d (EXT4_SEED reproduces a run), profile %s", seed, p.name)
	if seed%8 == 3 {
		s.fragment()
	}
	for range 5 + s.rng.IntN(35) {
		s.step()
	}
	s.must(fsys.Close(), "Close")
	file.Close()
	s.verify(img)
}

// verify judges the image with e2fsck and debugfs, then with this
// package's reader.
func (s *sequence) verify(img string) {
	t := s.t
	t.Helper()
	if out, err := execOut("e2fsck", "-fn", img); err != nil {
		s.fatalf("e2fsck -fn: %v\n%s", err, out)
	}
	paths := s.m.paths("fdl")
	// Types, modes, owners, sizes and times through debugfs stat.
	cmds := make([]string, 0, len(paths)+1)
	for _, p := range paths {
		cmds = append(cmds, "stat "+p)
	}
	out := debugfs(t, img, cmds...)
	blocks := strings.Split(out, "debugfs: stat ")[1:]
	if len(blocks) != len(paths) {
		s.fatalf("debugfs gave %d stat results for %d paths", len(blocks), len(paths))
	}
	reType := regexp.MustCompile(`Type: (\w+)\s+Mode:\s+(\d+)`)
	reOwner := regexp.MustCompile(`User:\s+(\d+)\s+Group:\s+(\d+)`)
	reSize := regexp.MustCompile(`Size: (\d+)`)
	reMtime := regexp.MustCompile(`mtime: 0x([0-9a-f]+):([0-9a-f]+)`)
	for i, p := range paths {
		b, n := blocks[i], s.m[p]
		if !strings.HasPrefix(b, p+"\n") {
			s.fatalf("debugfs stat out of step at %s:\n%s", p, b)
		}
		tm, om, sm := reType.FindStringSubmatch(b), reOwner.FindStringSubmatch(b), reSize.FindStringSubmatch(b)
		if tm == nil || om == nil || sm == nil {
			s.fatalf("debugfs stat %s:\n%s", p, b)
		}
		wantType := map[byte]string{'f': "regular", 'd': "directory", 'l': "symlink"}[n.kind]
		mode, _ := strconv.ParseUint(tm[2], 8, 16)
		if tm[1] != wantType || uint16(mode) != n.perm {
			s.fatalf("debugfs: %s is %s %s, want %s %04o", p, tm[1], tm[2], wantType, n.perm)
		}
		if om[1] != fmt.Sprint(n.uid) || om[2] != fmt.Sprint(n.gid) {
			s.fatalf("debugfs: %s owned by %s:%s, want %d:%d", p, om[1], om[2], n.uid, n.gid)
		}
		wantSize := len(n.data)
		if n.kind == 'l' {
			wantSize = len(n.target)
		}
		if n.kind != 'd' && sm[1] != fmt.Sprint(wantSize) {
			s.fatalf("debugfs: %s has size %s, want %d", p, sm[1], wantSize)
		}
		if n.kind != 'd' {
			mt := reMtime.FindStringSubmatch(b)
			if mt == nil {
				s.fatalf("debugfs stat %s has no mtime with nanoseconds:\n%s", p, b)
			}
			sec, _ := strconv.ParseUint(mt[1], 16, 32)
			extra, _ := strconv.ParseUint(mt[2], 16, 32)
			got := time.Unix(int64(int32(uint32(sec)))+int64(extra&3)<<32, int64(extra>>2))
			if !got.Equal(n.mtime) {
				s.fatalf("debugfs: %s mtime %v, want %v", p, got, n.mtime)
			}
		}
	}
	// Contents and link targets through debugfs rdump.
	outDir := fastTempDir(t)
	debugfs(t, img, "rdump / "+outDir)
	seen := map[string]bool{}
	filepath.WalkDir(outDir, func(fp string, d fs.DirEntry, err error) error {
		if err != nil {
			s.fatalf("walking the rdump: %v", err)
		}
		rel, _ := filepath.Rel(outDir, fp)
		p := path.Clean("/" + filepath.ToSlash(rel))
		if p == "/" || p == "/lost+found" || strings.HasPrefix(p, "/lost+found/") {
			return nil
		}
		seen[p] = true
		n := s.m[p]
		if n == nil {
			s.fatalf("debugfs rdump has %s, which should not exist", p)
		}
		switch n.kind {
		case 'f':
			data, err := os.ReadFile(fp)
			if err != nil || !bytes.Equal(data, n.data) {
				s.fatalf("debugfs rdump: %s has %d bytes (%v), want %d bytes", p, len(data), err, len(n.data))
			}
		case 'l':
			if target, err := os.Readlink(fp); target != n.target {
				s.fatalf("debugfs rdump: %s -> %q (%v), want %q", p, target, err, n.target)
			}
		}
		return nil
	})
	for _, p := range paths {
		if !seen[p] {
			s.fatalf("debugfs rdump lacks %s", p)
		}
	}
	// And this package's own reader.
	fsys, _ := openImage(t, img, Options{ReadOnly: true})
	for _, p := range paths {
		n := s.m[p]
		fi, err := fsys.Lstat(p)
		if err != nil {
			s.fatalf("Lstat(%q): %v", p, err)
		}
		if uint16(fi.Sys().(*Inode).Mode&0o7777) != n.perm || fi.UID() != n.uid || fi.GID() != n.gid {
			s.fatalf("Lstat(%q) = %v %d:%d, want %04o %d:%d", p, fi.Mode(), fi.UID(), fi.GID(), n.perm, n.uid, n.gid)
		}
		switch n.kind {
		case 'f':
			if data, err := fsys.ReadFile(p); err != nil || !bytes.Equal(data, n.data) {
				s.fatalf("ReadFile(%q) = %d bytes, %v; want %d", p, len(data), err, len(n.data))
			}
		case 'l':
			if fi.LinkTarget() != n.target {
				s.fatalf("Lstat(%q).LinkTarget() = %q, want %q", p, fi.LinkTarget(), n.target)
			}
		case 'd':
			ents, err := fsys.ReadDir(p)
			if err != nil || len(ents) != len(s.m.children(p)) {
				s.fatalf("ReadDir(%q) = %d entries, %v; want %d", p, len(ents), err, len(s.m.children(p)))
			}
		}
	}
}

func execOut(name string, args ...string) (string, error) {
	var b bytes.Buffer
	cmd := execCommand(name, args...)
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

// fastTempDir is a temporary directory in memory when /dev/shm allows:
// debugfs rdump creates hundreds of files per sequence, and file creation
// on a disk filesystem costs more than all the rest of a check.
func fastTempDir(t testing.TB) string {
	if dir, err := os.MkdirTemp("/dev/shm", "ext4test"); err == nil {
		t.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return t.TempDir()
}

// scribbleUnusedInodes fills the never-used tail of every inode table
// not marked ITABLE_ZEROED with garbage, as a disk that was not zeroed
// would hold: allocating there must not expose it to e2fsck.
func scribbleUnusedInodes(t testing.TB, img string) {
	t.Helper()
	fsys, file := openImage(t, img, Options{ReadOnly: true})
	sb := fsys.sb
	garbage := bytes.Repeat([]byte{0xA5, 0x5A, 0xFF, 0x01}, int(sb.inodeSize)/4)
	scribbled := 0
	w, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for g := range sb.groupCount {
		d := fsys.desc(g)
		if d.flags()&bgItableZeroed != 0 {
			continue
		}
		for i := sb.inodesPerGroup - d.itableUnused(); i < sb.inodesPerGroup; i++ {
			blk, off, _ := fsys.inodeLocation(g*sb.inodesPerGroup + i + 1)
			if _, err := w.WriteAt(garbage, int64(blk*fsys.bs+off)); err != nil {
				t.Fatal(err)
			}
			scribbled++
		}
	}
	file.Close()
	if scribbled == 0 {
		t.Fatalf("no unzeroed inode table to scribble on")
	}
}
