//go:build linux

package imagetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// rootDev names the root partition for e2fsprogs: the unix I/O manager
// reads "?offset=N" after the file name.
func rootDev(img *Image) string { return fmt.Sprintf("%s?offset=%d", img.Path, img.Root.Offset) }

// CheckRoot checks the ext4 root partition: its filesystem must fit the
// partition, and `e2fsck -fn` must exit 0. The error holds e2fsck's output.
func CheckRoot(ctx context.Context, img *Image) error {
	sb, err := readAt(img.Path, img.Root.Offset+1024, 1024)
	if err != nil {
		return err
	}
	if magic := binary.LittleEndian.Uint16(sb[56:]); magic != 0xef53 {
		return fmt.Errorf("%s: no ext4 superblock at byte %d (partition %d): magic %#04x", img.Path, img.Root.Offset+1024, img.Root.Number, magic)
	}
	blocks := uint64(binary.LittleEndian.Uint32(sb[4:]))
	if binary.LittleEndian.Uint32(sb[96:])&0x80 != 0 { // INCOMPAT_64BIT
		blocks |= uint64(binary.LittleEndian.Uint32(sb[0x150:])) << 32
	}
	if size := blocks << (10 + binary.LittleEndian.Uint32(sb[24:])); size > uint64(img.Root.Size) {
		return fmt.Errorf("%s: the ext4 filesystem (%d bytes) overruns partition %d (%d bytes)", img.Path, size, img.Root.Number, img.Root.Size)
	}
	if _, err := run(ctx, "e2fsck", "-fn", rootDev(img)); err != nil {
		return fmt.Errorf("e2fsck finds the root filesystem of %s damaged: %w", img.Path, err)
	}
	return nil
}

// E2fsck fails t, with e2fsck's output, unless the root filesystem of img
// is clean by `e2fsck -fn` and fits its partition.
func E2fsck(t testing.TB, img *Image) {
	t.Helper()
	if err := CheckRoot(t.Context(), img); err != nil {
		t.Error(err)
	}
}

// Dumpe2fs returns the superblock of img's root as `dumpe2fs -h` prints
// it: "Block count" → "262144", "Filesystem features" → "has_journal ...".
func Dumpe2fs(t testing.TB, img *Image) map[string]string {
	t.Helper()
	sb, err := dumpe2fs(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

func dumpe2fs(ctx context.Context, img *Image) (map[string]string, error) {
	out, err := exec.CommandContext(ctx, "dumpe2fs", "-h", rootDev(img)).Output()
	if err != nil {
		return nil, fmt.Errorf("dumpe2fs -h %s: %w%s", rootDev(img), err, stderrOf(err))
	}
	sb := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, " ") {
			sb[k] = strings.TrimSpace(v)
		}
	}
	if sb["Filesystem magic number"] != "0xEF53" {
		return nil, fmt.Errorf("dumpe2fs -h %s: no ext4 superblock:\n%s", rootDev(img), out)
	}
	return sb, nil
}

// Features returns the features that are on in img's root filesystem.
func Features(t testing.TB, img *Image) map[string]bool {
	t.Helper()
	return features(Dumpe2fs(t, img))
}

func features(sb map[string]string) map[string]bool {
	on := map[string]bool{}
	for _, f := range strings.Fields(sb["Filesystem features"]) {
		on[f] = true
	}
	return on
}

// Inode flags (i_flags) tests look at.
const (
	IndexFlag      = 0x1000     // EXT4_INDEX_FL: an htree directory
	HugeFileFlag   = 0x40000    // EXT4_HUGE_FILE_FL
	ExtentsFlag    = 0x80000    // EXT4_EXTENTS_FL
	InlineDataFlag = 0x10000000 // EXT4_INLINE_DATA_FL
)

// An Inode is what debugfs's stat says about a path.
type Inode struct {
	Path   string
	Number uint32
	// Mode is st_mode: type bits and permissions, 0o100644, 0o40755.
	Mode     uint32
	UID, GID uint32
	Size     int64
	Links    uint32
	// Flags are i_flags (IndexFlag, ExtentsFlag, ...).
	Flags uint32
	// Target is a symlink's target; FastSymlink says it lives in the inode.
	Target      string
	FastSymlink bool
}

// FileMode returns Mode as an fs.FileMode, comparable with os.Lstat's.
func (i *Inode) FileMode() fs.FileMode { return fileMode(i.Mode) }

// Indexed says whether the inode is an htree directory.
func (i *Inode) Indexed() bool { return i.Flags&IndexFlag != 0 }

// Stat returns the inodes of paths in img's root, read in one debugfs run;
// a path that does not exist fails t.
func Stat(t testing.TB, img *Image, paths ...string) []*Inode {
	t.Helper()
	m := Lookup(t, img, paths...)
	inodes := make([]*Inode, len(paths))
	for i, p := range paths {
		if m[p] == nil {
			t.Fatalf("%s: %s does not exist in the root filesystem", img.Path, p)
		}
		inodes[i] = m[p]
	}
	return inodes
}

// Lookup is Stat that maps a path that does not exist to nil.
func Lookup(t testing.TB, img *Image, paths ...string) map[string]*Inode {
	t.Helper()
	m, err := lookup(t.Context(), img, paths)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func lookup(ctx context.Context, img *Image, paths []string) (map[string]*Inode, error) {
	if err := checkPaths(paths); err != nil {
		return nil, err
	}
	reqs := make([]string, len(paths))
	for i, p := range paths {
		reqs[i] = "stat " + quote(p)
	}
	sections, _, err := debugfsBatch(ctx, img, reqs)
	if err != nil {
		return nil, err
	}
	m := make(map[string]*Inode, len(paths))
	var slow []string
	for i, p := range paths {
		if strings.TrimSpace(sections[i]) == "" {
			m[p] = nil // debugfs said on stderr that it was not found
			continue
		}
		ino, err := parseStat(p, sections[i])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", img.Path, err)
		}
		m[p] = ino
		if ino.Mode&0o170000 == 0o120000 && !ino.FastSymlink {
			slow = append(slow, p)
		}
	}
	if len(slow) > 0 {
		targets, err := readFiles(ctx, img, slow)
		if err != nil {
			return nil, err
		}
		for _, p := range slow {
			m[p].Target = string(targets[p])
		}
	}
	return m, nil
}

var (
	statInode = regexp.MustCompile(`^Inode: (\d+)\s+Type: (.+?)\s+Mode:\s+(\d+)\s+Flags: 0x([0-9a-fA-F]+)`)
	statUser  = regexp.MustCompile(`^User:\s+(\d+)\s+Group:\s+(\d+)(?:\s+Project:\s+\d+)?\s+Size:\s+(\d+)`)
	statLinks = regexp.MustCompile(`^Links: (\d+)`)
)

var typeBits = map[string]uint32{
	"regular": 0o100000, "directory": 0o040000, "symlink": 0o120000, "character special": 0o020000,
	"block special": 0o060000, "FIFO": 0o010000, "socket": 0o140000,
}

// parseStat reads debugfs's stat output for path.
func parseStat(path, out string) (*Inode, error) {
	ino := &Inode{Path: path}
	var seen int
	for _, line := range strings.Split(out, "\n") {
		if m := statInode.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 32)
			bits, ok := typeBits[m[2]]
			if !ok {
				return nil, fmt.Errorf("debugfs stat %s: unknown type %q", path, m[2])
			}
			perm, err1 := strconv.ParseUint(m[3], 8, 32)
			flags, err2 := strconv.ParseUint(m[4], 16, 32)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("debugfs stat %s: cannot read %q", path, line)
			}
			ino.Number, ino.Mode, ino.Flags = uint32(n), bits|uint32(perm), uint32(flags)
			seen |= 1
		} else if m := statUser.FindStringSubmatch(line); m != nil {
			uid, _ := strconv.ParseUint(m[1], 10, 32)
			gid, _ := strconv.ParseUint(m[2], 10, 32)
			size, _ := strconv.ParseInt(m[3], 10, 64)
			ino.UID, ino.GID, ino.Size = uint32(uid), uint32(gid), size
			seen |= 2
		} else if m := statLinks.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 32)
			ino.Links = uint32(n)
			seen |= 4
		} else if rest, ok := strings.CutPrefix(line, "Fast link dest: "); ok {
			ino.Target, ino.FastSymlink = strings.TrimSuffix(strings.TrimPrefix(rest, `"`), `"`), true
		}
	}
	if seen != 7 {
		return nil, fmt.Errorf("debugfs stat %s: cannot read its output:\n%s", path, out)
	}
	return ino, nil
}

// ReadFile returns the content of path in img's root, read with debugfs.
func ReadFile(t testing.TB, img *Image, path string) []byte {
	t.Helper()
	return ReadFiles(t, img, path)[path]
}

// ReadFiles returns the contents of paths in img's root, read in one
// debugfs run; a path that does not exist fails t. A symlink's content is
// its target only when the target is slow (outside the inode); use Stat
// for symlinks.
func ReadFiles(t testing.TB, img *Image, paths ...string) map[string][]byte {
	t.Helper()
	m, err := readFiles(t.Context(), img, paths)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readFiles(ctx context.Context, img *Image, paths []string) (map[string][]byte, error) {
	if err := checkPaths(paths); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pibake-debugfs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	reqs := make([]string, len(paths))
	for i, p := range paths {
		reqs[i] = fmt.Sprintf("dump %s %s", quote(p), filepath.Join(dir, strconv.Itoa(i)))
	}
	_, stderr, err := debugfsBatch(ctx, img, reqs)
	if err != nil {
		return nil, err
	}
	m := make(map[string][]byte, len(paths))
	for i, p := range paths {
		b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(i)))
		if err != nil {
			return nil, fmt.Errorf("%s: debugfs cannot read %s from the root filesystem:\n%s", img.Path, p, stderr)
		}
		m[p] = b
	}
	return m, nil
}

// A DirEntry is a directory entry as debugfs's ls -p shows it.
type DirEntry struct {
	Name  string
	Inode uint32
	// Mode is st_mode, type bits included.
	Mode     uint32
	UID, GID uint32
	// Size is a regular file's or symlink's size, 0 for a directory.
	Size int64
}

// ListDir returns the entries of dir in img's root, without "." and "..",
// in on-disk order (hash order in an htree directory).
func ListDir(t testing.TB, img *Image, dir string) []DirEntry {
	t.Helper()
	return ListDirs(t, img, dir)[dir]
}

// ListDirs lists dirs in one debugfs run; a directory that does not exist
// fails t.
func ListDirs(t testing.TB, img *Image, dirs ...string) map[string][]DirEntry {
	t.Helper()
	m, err := listDirs(t.Context(), img, dirs)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func listDirs(ctx context.Context, img *Image, dirs []string) (map[string][]DirEntry, error) {
	if err := checkPaths(dirs); err != nil {
		return nil, err
	}
	reqs := make([]string, len(dirs))
	for i, d := range dirs {
		reqs[i] = "ls -p " + quote(d)
	}
	sections, stderr, err := debugfsBatch(ctx, img, reqs)
	if err != nil {
		return nil, err
	}
	m := make(map[string][]DirEntry, len(dirs))
	for i, d := range dirs {
		var entries []DirEntry
		dots := 0
		for _, line := range strings.Split(sections[i], "\n") {
			if line == "" {
				continue
			}
			// /inode/mode/uid/gid/name/size/
			f := strings.Split(line, "/")
			if len(f) != 8 || f[0] != "" || f[7] != "" {
				return nil, fmt.Errorf("%s: debugfs ls -p %s: cannot read %q", img.Path, d, line)
			}
			ino, err1 := strconv.ParseUint(f[1], 10, 32)
			mode, err2 := strconv.ParseUint(f[2], 8, 32)
			uid, err3 := strconv.ParseUint(f[3], 10, 32)
			gid, err4 := strconv.ParseUint(f[4], 10, 32)
			var size int64
			var err5 error
			if f[6] != "" {
				size, err5 = strconv.ParseInt(f[6], 10, 64)
			}
			if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
				return nil, fmt.Errorf("%s: debugfs ls -p %s: cannot read %q: %w", img.Path, d, line, err)
			}
			if f[5] == "." || f[5] == ".." {
				dots++
				continue
			}
			entries = append(entries, DirEntry{Name: f[5], Inode: uint32(ino), Mode: uint32(mode), UID: uint32(uid), GID: uint32(gid), Size: size})
		}
		if dots == 0 {
			return nil, fmt.Errorf("%s: debugfs cannot list %s in the root filesystem:\n%s", img.Path, d, stderr)
		}
		m[d] = entries
	}
	return m, nil
}

// Debugfs runs requests (debugfs commands, such as "htree /etc" or
// "stat <2>") against img's root in one read-only debugfs run and returns
// each one's output. What debugfs writes to stderr (errors, such as a path
// not found) goes to t's log.
func Debugfs(t testing.TB, img *Image, requests ...string) []string {
	t.Helper()
	sections, stderr, err := debugfsBatch(t.Context(), img, requests)
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.TrimSpace(stderr); s != "" {
		t.Logf("debugfs said:\n%s", s)
	}
	return sections
}

// debugfsBatch runs requests in one debugfs -f run and splits its stdout
// into the output of each: debugfs echoes each request as
// "debugfs: REQUEST" before running it. Errors go to stderr, which is
// returned whole: stdout is buffered, so lines of the two cannot be
// matched up.
func debugfsBatch(ctx context.Context, img *Image, requests []string) (sections []string, stderr string, err error) {
	if len(requests) == 0 {
		return nil, "", nil
	}
	cmdfile, err := os.CreateTemp("", "pibake-debugfs-*.cmd")
	if err != nil {
		return nil, "", err
	}
	defer os.Remove(cmdfile.Name())
	for _, r := range requests {
		if strings.ContainsAny(r, "\n") {
			return nil, "", fmt.Errorf("debugfs request %q has a newline", r)
		}
		fmt.Fprintln(cmdfile, r)
	}
	if err := cmdfile.Close(); err != nil {
		return nil, "", err
	}
	cmd := exec.CommandContext(ctx, "debugfs", "-f", cmdfile.Name(), rootDev(img))
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		return nil, "", fmt.Errorf("debugfs %s: %w\n%s", rootDev(img), err, errs.Bytes())
	}
	sections = make([]string, len(requests))
	next := 0 // the request whose echo comes next
	for _, line := range strings.SplitAfter(out.String(), "\n") {
		if next < len(requests) && strings.TrimSuffix(line, "\n") == "debugfs: "+requests[next] {
			next++
			continue
		}
		if next == 0 {
			if strings.TrimSpace(line) != "" {
				return nil, "", fmt.Errorf("debugfs %s: output before the first request: %q", rootDev(img), line)
			}
			continue
		}
		sections[next-1] += line
	}
	if next != len(requests) {
		return nil, "", fmt.Errorf("debugfs %s: ran %d of %d requests; the next was %q\n%s", rootDev(img), next, len(requests), requests[next], errs.Bytes())
	}
	// Drop the banner ("debugfs 1.47.0 (5-Feb-2023)"), which is not news.
	stderr = errs.String()
	if first, rest, ok := strings.Cut(stderr, "\n"); ok && strings.HasPrefix(first, "debugfs ") {
		stderr = rest
	}
	return sections, stderr, nil
}

// checkPaths refuses paths debugfs cannot be asked about.
func checkPaths(paths []string) error {
	for _, p := range paths {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\"\n") {
			return fmt.Errorf("debugfs cannot be asked about %q: want an absolute path with no double quote or newline", p)
		}
	}
	return nil
}

// quote makes p one debugfs argument. debugfs has no way to escape a
// double quote, so a path holding one cannot be named.
func quote(p string) string {
	if strings.ContainsAny(p, " \t") {
		return `"` + p + `"`
	}
	return p
}

func stderrOf(err error) string {
	var exit *exec.ExitError
	if errors.As(err, &exit) && len(exit.Stderr) > 0 {
		return "\n" + string(exit.Stderr)
	}
	return ""
}

// fileMode converts st_mode to an fs.FileMode.
func fileMode(mode uint32) fs.FileMode {
	m := fs.FileMode(mode & 0o777)
	switch mode & 0o170000 {
	case 0o040000:
		m |= fs.ModeDir
	case 0o120000:
		m |= fs.ModeSymlink
	case 0o020000:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case 0o060000:
		m |= fs.ModeDevice
	case 0o010000:
		m |= fs.ModeNamedPipe
	case 0o140000:
		m |= fs.ModeSocket
	}
	if mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}
