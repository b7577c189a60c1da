package fat_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/image/fat"
	"github.com/pibake/pibake/image/mbr"
)

// The real tools judge what this package writes: dosfstools makes and
// checks filesystems, mtools reads them back, sfdisk partitions disks.

// tool finds a test tool (dosfstools and sfdisk live in /usr/sbin).
func tool(t testing.TB, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	if runtime.GOOS == "linux" {
		t.Fatalf("%s is not installed (Debian package %s; make deps installs it)", name, pkg)
	}
	t.Skipf("%s (from %s) is not installed on this %s machine", name, pkg, runtime.GOOS)
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func run(t testing.TB, argv ...string) []byte {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "TZ=UTC")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return out
}

// image is a FAT32 filesystem in a file: a bare one (offset 0) or the
// first partition of a disk image.
type image struct {
	path         string
	offset, size int64
}

// mtoolsPath is the image as mtools' -i option takes it.
func (img image) mtoolsPath() string {
	if img.offset == 0 {
		return img.path
	}
	return fmt.Sprintf("%s@@%d", img.path, img.offset)
}

// layout makes an empty FAT32 filesystem labelled bootfs, as Raspberry Pi
// OS's is, with 512-byte clusters so that small tests span many.
type layout struct {
	name string
	make func(t testing.TB) image
}

var layouts = []layout{
	{"bare", func(t testing.TB) image { return bareFAT(t, 48<<20, 1) }},
	{"disk", diskFAT},
}

// bareFAT makes a size-byte FAT32 filesystem file with sectorsPerCluster.
func bareFAT(t testing.TB, size int64, sectorsPerCluster int) image {
	t.Helper()
	mkfs := tool(t, "mkfs.vfat", "dosfstools")
	p := filepath.Join(t.TempDir(), "boot.fat")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	run(t, mkfs, "-F", "32", "-n", "bootfs", "-s", fmt.Sprint(sectorsPerCluster), p)
	return image{path: p, size: size}
}

// diskFAT makes a disk image laid out as Raspberry Pi OS's, scaled down:
// an MBR, p1 FAT32 at sector 16384 (48 MiB), p2 Linux after it.
func diskFAT(t testing.TB) image {
	t.Helper()
	sfdisk := tool(t, "sfdisk", "fdisk")
	mkfs := tool(t, "mkfs.vfat", "dosfstools")
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 64<<20); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sfdisk, "--no-reread", "--no-tell-kernel", "-q", p)
	cmd.Stdin = strings.NewReader("label: dos\nlabel-id: 0x1a2b3c4d\nstart=16384, size=98304, type=c\nstart=114688, type=83\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	run(t, mkfs, "-F", "32", "-n", "bootfs", "-s", "1", "--offset", "16384", p, fmt.Sprint(98304/2))
	// Find the partition as pibake will: through its partition table.
	table, err := mbr.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	l, err := table.RaspberryPi()
	if err != nil {
		t.Fatal(err)
	}
	if l.Boot.Offset != 16384*512 || l.Boot.Size != 98304*512 {
		t.Fatalf("boot partition at %d, %d bytes; want sector 16384, 48 MiB", l.Boot.Offset, l.Boot.Size)
	}
	return image{path: p, offset: l.Boot.Offset, size: l.Boot.Size}
}

// open opens img's filesystem with a fixed clock.
func open(t testing.TB, img image) *fat.FS {
	t.Helper()
	f, err := os.OpenFile(img.path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fsys, err := fat.Open(f, img.offset, img.size, &fat.Options{Now: func() time.Time {
		return time.Date(2026, 5, 4, 12, 30, 42, 0, time.UTC)
	}})
	if err != nil {
		t.Fatalf("Open(%s): %v", img.path, err)
	}
	return fsys
}

// fsck runs fsck.vfat -n on img's filesystem (copied out of a disk image
// first) and fails unless it exits 0 and reports nothing but its summary.
func fsck(t testing.TB, img image) {
	t.Helper()
	fsckTool := tool(t, "fsck.vfat", "dosfstools")
	target := img.path
	if img.offset != 0 {
		target = filepath.Join(t.TempDir(), "partition.fat")
		extract(t, img, target)
	}
	cmd := exec.Command(fsckTool, "-n", target)
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) != 2 {
		t.Fatalf("fsck.vfat -n: %v\n%s", err, out)
	}
}

func extract(t testing.TB, img image, to string) {
	t.Helper()
	src, err := os.Open(img.path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := io.Copy(dst, io.NewSectionReader(src, img.offset, img.size)); err != nil {
		t.Fatal(err)
	}
}

// tree is a filesystem's content as tests compare it: each file's path
// and content, and each directory's path.
type tree struct {
	Files map[string]string
	Dirs  map[string]bool
}

func newTree() *tree { return &tree{Files: map[string]string{}, Dirs: map[string]bool{}} }

// mtoolsTree reads img back with mtools: mcopy -s copies everything out.
func mtoolsTree(t testing.TB, img image) *tree {
	t.Helper()
	mcopy := tool(t, "mcopy", "mtools")
	out := t.TempDir()
	// mdir decides whether there is anything to copy: mcopy fails on an
	// empty root.
	mdir := tool(t, "mdir", "mtools")
	if listing := run(t, mdir, "-b", "-i", img.mtoolsPath(), "::/"); len(bytes.TrimSpace(listing)) > 0 {
		run(t, mcopy, "-s", "-n", "-i", img.mtoolsPath(), "::/*", out)
	}
	got := newTree()
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == out {
			return err
		}
		rel := "/" + filepath.ToSlash(strings.TrimPrefix(p, out+string(filepath.Separator)))
		if d.IsDir() {
			got.Dirs[rel] = true
			return nil
		}
		b, err := os.ReadFile(p)
		got.Files[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// ourTree reads fsys back with this package.
func ourTree(t testing.TB, fsys *fat.FS) *tree {
	t.Helper()
	got := newTree()
	var walk func(dir string)
	walk = func(dir string) {
		list, err := fsys.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, fi := range list {
			p := strings.TrimSuffix(dir, "/") + "/" + fi.Name()
			if fi.IsDir() {
				got.Dirs[p] = true
				walk(p)
				continue
			}
			b, err := fsys.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			got.Files[p] = string(b)
		}
	}
	walk("/")
	return got
}

// check judges img after changes: fsck.vfat is content, and both mtools
// and a freshly opened FS read back exactly want.
func check(t testing.TB, img image, want *tree) {
	t.Helper()
	fsck(t, img)
	if diff := cmp.Diff(want, mtoolsTree(t, img)); diff != "" {
		t.Fatalf("mtools reads back (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, ourTree(t, open(t, img))); diff != "" {
		t.Fatalf("a fresh FS reads back (-want +got):\n%s", diff)
	}
}

// rawFAT is what a test reads of a filesystem's on-disk structures,
// without this package, to check the fields fsck.vfat cares about.
type rawFAT struct {
	free, nextFree uint32 // the FSInfo fields (offsets 488 and 492)
	backupFree     uint32 // the backup FSInfo's free count
	backupNextFree uint32
	fatsEqual      bool     // every FAT copy holds the same bytes
	countedFree    uint32   // free clusters counted in the first FAT
	fat            []uint32 // the first FAT's entries
	clusterSize    int64
	dataStart      int64
	rootCluster    uint32
}

func readFSInfo(t testing.TB, img image) rawFAT {
	t.Helper()
	f, err := os.Open(img.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := io.NewSectionReader(f, img.offset, img.size)
	boot := make([]byte, 512)
	if _, err := r.ReadAt(boot, 0); err != nil {
		t.Fatal(err)
	}
	le16 := func(b []byte, o int) int64 { return int64(binary.LittleEndian.Uint16(b[o:])) }
	le32 := func(b []byte, o int) uint32 { return binary.LittleEndian.Uint32(b[o:]) }
	bps, spc, reserved, copies := le16(boot, 11), int64(boot[13]), le16(boot, 14), int64(boot[16])
	total, fatSectors := int64(le32(boot, 32)), int64(le32(boot, 36))
	info, backup := make([]byte, 512), make([]byte, 512)
	r.ReadAt(info, le16(boot, 48)*bps)
	r.ReadAt(backup, (le16(boot, 50)+le16(boot, 48))*bps)
	raw := rawFAT{
		free: le32(info, 488), nextFree: le32(info, 492),
		backupFree: le32(backup, 488), backupNextFree: le32(backup, 492),
		fatsEqual:   true,
		clusterSize: bps * spc,
		dataStart:   (reserved + copies*fatSectors) * bps,
		rootCluster: le32(boot, 44),
	}
	clusters := (total - reserved - copies*fatSectors) / spc
	first := make([]byte, fatSectors*bps)
	r.ReadAt(first, reserved*bps)
	other := make([]byte, len(first))
	for i := int64(1); i < copies; i++ {
		r.ReadAt(other, (reserved+i*fatSectors)*bps)
		raw.fatsEqual = raw.fatsEqual && bytes.Equal(first, other)
	}
	for c := int64(0); c < clusters+2; c++ {
		v := le32(first, int(c*4)) & 0x0fffffff
		raw.fat = append(raw.fat, v)
		if c >= 2 && v == 0 {
			raw.countedFree++
		}
	}
	return raw
}
