//go:build linux

package imagetest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestProfiles(t *testing.T) {
	for _, p := range Profiles() {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			img := Build(t, Spec{Profile: p})

			// The features the package doc promises, spelled out rather
			// than read back from p.Features.
			want := map[Profile]map[string]bool{
				PiGen:   {"64bit": false, "metadata_csum": true, "metadata_csum_seed": false, "orphan_file": false, "huge_file": false, "uninit_bg": false},
				E2fs147: {"64bit": true, "metadata_csum": true, "metadata_csum_seed": true, "orphan_file": true, "huge_file": true, "uninit_bg": false},
				Bit64:   {"64bit": true, "metadata_csum": true, "metadata_csum_seed": false, "orphan_file": false, "huge_file": true, "uninit_bg": false},
				NoCsum:  {"metadata_csum": false, "metadata_csum_seed": false, "orphan_file": false, "uninit_bg": true},
			}[p]
			have := Features(t, img)
			for f, on := range want {
				if have[f] != on {
					t.Errorf("feature %s on = %v, want %v", f, have[f], on)
				}
			}
			sb := Dumpe2fs(t, img)
			for k, v := range map[string]string{"Block size": "4096", "Filesystem volume name": "rootfs", "Block count": "262144", "Filesystem state": "clean"} {
				if sb[k] != v {
					t.Errorf("dumpe2fs: %s = %q, want %q", k, sb[k], v)
				}
			}

			for _, ino := range Stat(t, img, "/etc", "/usr/bin") {
				if !ino.Indexed() {
					t.Errorf("%s flags = %#x, want the htree index flag", ino.Path, ino.Flags)
				}
			}
			if out := Debugfs(t, img, "htree /etc")[0]; !strings.Contains(out, "Root node dump:") {
				t.Errorf("debugfs htree /etc:\n%s", out)
			}

			checkLayout(t, img)
			E2fsck(t, img)
			FsckVfat(t, img)
		})
	}
}

// checkLayout judges the MBR and what names the disk: sfdisk must agree with
// the Image, and fstab and cmdline.txt name its partitions.
func checkLayout(t *testing.T, img *Image) {
	t.Helper()
	out, err := exec.Command("sfdisk", "--json", img.Path).Output()
	if err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	var table struct {
		PartitionTable struct {
			Label, ID  string
			Partitions []struct {
				Start, Size int64
				Type        string
			}
		}
	}
	if err := json.Unmarshal(out, &table); err != nil {
		t.Fatal(err)
	}
	pt := table.PartitionTable
	got := fmt.Sprintf("%s %s %v", pt.Label, pt.ID, pt.Partitions)
	want := fmt.Sprintf("dos 0x%08x [{%d %d c} {%d %d 83}]", img.DiskID,
		img.Boot.Offset/512, img.Boot.Size/512, img.Root.Offset/512, img.Root.Size/512)
	if got != want {
		t.Errorf("sfdisk: %s, want %s", got, want)
	}
	if id, err := DiskIDAt(img.Path); err != nil || id != img.DiskID {
		t.Errorf("DiskIDAt = %08x, %v; want %08x", id, err, img.DiskID)
	}
	if info, err := os.Stat(img.Path); err != nil || info.Size() != img.Size() {
		t.Errorf("image size = %v, %v; want %d", info.Size(), err, img.Size())
	}

	fstab := string(ReadFile(t, img, "/etc/fstab"))
	for _, want := range []string{"PARTUUID=" + img.Boot.PartUUID + "  /boot/firmware", "PARTUUID=" + img.Root.PartUUID + "  /  "} {
		if !strings.Contains(fstab, want) {
			t.Errorf("/etc/fstab does not have %q:\n%s", want, fstab)
		}
	}
	if cmdline := string(BootFile(t, img, "/cmdline.txt")); !strings.Contains(cmdline, "root=PARTUUID="+img.Root.PartUUID+" ") {
		t.Errorf("cmdline.txt does not name root=PARTUUID=%s: %s", img.Root.PartUUID, cmdline)
	}
	if entries := ListDir(t, img, "/boot/firmware"); len(entries) != 0 {
		t.Errorf("/boot/firmware holds %v, want an empty mount point", entries)
	}
	if sb := Dumpe2fs(t, img); sb["Filesystem volume name"] != "rootfs" {
		t.Errorf("root label = %q", sb["Filesystem volume name"])
	}
	if out, err := exec.Command("fatlabel", extractBootPartition(t, img)).Output(); err != nil || strings.TrimSpace(string(out)) != "bootfs" {
		t.Errorf("fatlabel = %q, %v; want bootfs", out, err)
	}
}

func extractBootPartition(t *testing.T, img *Image) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bootfs")
	if err := copySparseFile(p, img.Path, img.Boot.Offset, img.Boot.Size); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSmall(t *testing.T) {
	img := Build(t, Spec{Small: true, Profile: NoCsum, DiskID: 0xdeadbeef})
	if img.DiskID != 0xdeadbeef || img.Root.Size != SmallRootSize || img.Root.PartUUID != "deadbeef-02" {
		t.Errorf("Small image: %+v", img)
	}
	sb := Dumpe2fs(t, img)
	if sb["Block count"] != fmt.Sprint(SmallRootSize/4096) {
		t.Errorf("Block count = %s, want %d", sb["Block count"], SmallRootSize/4096)
	}
	checkLayout(t, img)
	E2fsck(t, img)
	FsckVfat(t, img)
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Error(args ...any)         { r.failures = append(r.failures, fmt.Sprint(args...)) }
func (r *recorder) Errorf(f string, a ...any) { r.failures = append(r.failures, fmt.Sprintf(f, a...)) }

// A judge that cannot fail is worthless: damage copies of good images and
// see each judge fail, saying why.
func TestJudgesFail(t *testing.T) {
	for _, p := range Profiles() {
		t.Run("groupdesc-"+string(p), func(t *testing.T) {
			img := Build(t, Spec{Profile: p})
			descSize := int64(32)
			if Features(t, img)["64bit"] {
				descSize = 64
			}
			// Group 1's bg_free_blocks_count_lo: the descriptor table is
			// block 1, right after the superblock's block.
			flip(t, img.Path, img.Root.Offset+4096+descSize+0x0c, 2)
			assertFails(t, img, E2fsck, "e2fsck finds the root filesystem", "Group descriptor 1 checksum")
		})
	}

	t.Run("fat2", func(t *testing.T) {
		img := Build(t, Spec{})
		bpb, err := readAt(img.Path, img.Boot.Offset, 512)
		if err != nil {
			t.Fatal(err)
		}
		reserved := int64(binary.LittleEndian.Uint16(bpb[14:]))
		fatSectors := int64(binary.LittleEndian.Uint32(bpb[36:]))
		// Entry 5 of the second FAT: a cluster in use.
		flip(t, img.Path, img.Boot.Offset+(reserved+fatSectors)*512+5*4, 2)
		assertFails(t, img, FsckVfat, "fsck.vfat finds the boot filesystem", "FATs differ")
	})

	t.Run("fat-bigger-than-partition", func(t *testing.T) {
		img := Build(t, Spec{})
		img.Boot.Size -= 1 << 20
		assertFails(t, img, FsckVfat, "overruns partition 1")
	})

	t.Run("ext4-bigger-than-partition", func(t *testing.T) {
		img := Build(t, Spec{})
		img.Root.Size -= 1 << 20
		assertFails(t, img, E2fsck, "overruns partition 2")
	})

	// e2fsck reads the partition through ?offset=, not the disk: the disk
	// start is an MBR, and the same tool without the offset fails.
	t.Run("offset", func(t *testing.T) {
		img := Build(t, Spec{})
		out, err := exec.Command("e2fsck", "-fn", img.Path).CombinedOutput()
		if err == nil || !bytes.Contains(out, []byte("Bad magic number")) {
			t.Errorf("e2fsck -fn on the whole disk: %v\n%s", err, out)
		}
		moved := *img
		moved.Root.Offset += 4096
		assertFails(t, &moved, E2fsck, "no ext4 superblock")
	})
}

func flip(t *testing.T, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] ^= 0x5a
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func assertFails(t *testing.T, img *Image, judge func(testing.TB, *Image), wants ...string) {
	t.Helper()
	r := &recorder{TB: t}
	judge(r, img)
	if len(r.failures) == 0 {
		t.Fatalf("the judge passed a damaged image")
	}
	msg := strings.Join(r.failures, "\n")
	for _, want := range wants {
		if !strings.Contains(msg, want) {
			t.Errorf("the judge's failure does not say %q:\n%s", want, msg)
		}
	}
}

// The fixture holds what RootExtras promises, read with debugfs without
// the kernel, so this runs without root once the image is cached.
func TestRootExtras(t *testing.T) {
	img := Build(t, Spec{})
	extras := RootExtras()
	var paths, regular []string
	for _, f := range extras {
		paths = append(paths, f.Path)
		if f.HardLink == "" && f.Mode.IsRegular() {
			regular = append(regular, f.Path)
		}
	}
	inodes := Lookup(t, img, paths...)
	contents := ReadFiles(t, img, regular...)
	byPath := map[string]File{}
	for _, f := range extras {
		byPath[f.Path] = f
		if f.HardLink != "" {
			if inodes[f.Path].Number != inodes[f.HardLink].Number || inodes[f.Path].Links != 2 {
				t.Errorf("%s: inode %d links %d, want a second link to %s (inode %d)", f.Path,
					inodes[f.Path].Number, inodes[f.Path].Links, f.HardLink, inodes[f.HardLink].Number)
			}
			continue
		}
		ino := inodes[f.Path]
		got := fmt.Sprintf("%v %d:%d %q", ino.FileMode(), ino.UID, ino.GID, ino.Target)
		want := fmt.Sprintf("%v %d:%d %q", f.Mode, f.UID, f.GID, f.Target)
		if got != want {
			t.Errorf("%s: %s, want %s", f.Path, got, want)
		}
		if f.Mode.IsRegular() && !bytes.Equal(contents[f.Path], f.Data) {
			t.Errorf("%s: content differs (%d bytes, want %d)", f.Path, len(contents[f.Path]), len(f.Data))
		}
	}

	bin := Lookup(t, img, "/bin", SlowSymlink, "/no/such/file")
	if b := bin["/bin"]; b == nil || !b.FastSymlink || b.Target != "usr/bin" || b.FileMode() != fs.ModeSymlink|0o777 {
		t.Errorf("/bin = %+v, want a fast symlink to usr/bin", b)
	}
	if s := bin[SlowSymlink]; s == nil || s.FastSymlink || s.Target != byPath[SlowSymlink].Target || s.Size != int64(len(s.Target)) {
		t.Errorf("%s = %+v, want a slow symlink", SlowSymlink, s)
	}
	if bin["/no/such/file"] != nil {
		t.Errorf("Lookup(/no/such/file) = %+v, want nil", bin["/no/such/file"])
	}

	lists := ListDirs(t, img, "/etc", "/usr/bin", "/home")
	if n := len(lists["/usr/bin"]); n != UsrBinExtras+3 {
		t.Errorf("/usr/bin has %d entries, want %d", n, UsrBinExtras+3)
	}
	if n := len(lists["/etc"]); n < EtcExtras+20 {
		t.Errorf("/etc has %d entries, want more than %d", n, EtcExtras+20)
	}
	if home := lists["/home"]; len(home) != 1 || home[0].Name != "pi" || home[0].Mode != 0o40700 || home[0].UID != 1000 {
		t.Errorf("/home = %+v, want pi, 0700, 1000", home)
	}
	// What testdata/rootfs.manifest sets survives mkfs.ext4 -d.
	for _, ino := range Stat(t, img, "/etc/shadow", "/tmp", "/home/pi/.bashrc") {
		t.Logf("%s %v %d:%d", ino.Path, ino.FileMode(), ino.UID, ino.GID)
	}
	shadow, tmp := Stat(t, img, "/etc/shadow")[0], Stat(t, img, "/tmp")[0]
	if shadow.Mode != 0o100640 || shadow.GID != 42 || tmp.Mode != 0o41777 {
		t.Errorf("/etc/shadow %o gid %d, /tmp %o; want 100640 gid 42, 41777", shadow.Mode, shadow.GID, tmp.Mode)
	}
}

func TestBootFiles(t *testing.T) {
	img := Build(t, Spec{})
	files, err := BootFiles(img.DiskID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, f := range files {
		want[f.Path] = digest(f.Data)
	}
	got := map[string]string{}
	for p, e := range Tree(t, ExtractBoot(t, img)) {
		if e.Mode.IsRegular() {
			got[p] = e.SHA256
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("boot partition (-BootFiles +mcopy):\n%s", diff)
	}
	if got, want := BootDir(t, img, "/overlays"), []string{"README", "vc4-kms-v3d.dtbo", "dwc2.dtbo", "i2c-rtc.dtbo", "overlay_map.dtb"}; !sameSet(got, want) {
		t.Errorf("BootDir(/overlays) = %q, want %q", got, want)
	}
	if !slices.Contains(BootDir(t, img, "/"), "overlays/") {
		t.Errorf("BootDir(/) = %q, want overlays/ in it", BootDir(t, img, "/"))
	}
	if config := BootFile(t, img, "/config.txt"); !bytes.Contains(config, []byte("#dtparam=i2c_arm=on\n")) {
		t.Errorf("config.txt:\n%s", config)
	}

}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// Copying a cached image is what every image test pays: it must stay fast.
func TestCopyIsFast(t *testing.T) {
	master := cached(t, Spec{}, false)
	start := time.Now()
	img, err := master.CopyTo(filepath.Join(t.TempDir(), "copy.img"))
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	var st syscall.Stat_t
	if err := syscall.Stat(img.Path, &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("copied a %d MiB image (%d MiB of data) in %s", img.Size()>>20, st.Blocks*512>>20, elapsed)
	if st.Blocks*512 > img.Size()/8 {
		t.Errorf("the copy holds %d bytes of %d: not sparse", st.Blocks*512, img.Size())
	}
	start = time.Now()
	E2fsck(t, img)
	t.Logf("e2fsck -fn in %s", time.Since(start))
	start = time.Now()
	FsckVfat(t, img)
	t.Logf("fsck.vfat -n (extract and check) in %s", time.Since(start))
}

func TestCopySparse(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	const size = 40 << 20
	want := make([]byte, size)
	for _, off := range []int64{0, 5<<20 + 123, 17 << 20, size - 10} {
		chunk := bytes.Repeat([]byte{byte(off), 0xa5}, 5)
		copy(want[off:], chunk)
		if _, err := f.WriteAt(chunk, off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	for _, r := range []struct{ off, size int64 }{{0, size}, {4 << 20, 20 << 20}, {5<<20 + 125, 3}, {30 << 20, 10 << 20}} {
		dst := filepath.Join(dir, fmt.Sprintf("dst-%d-%d", r.off, r.size))
		if err := copySparseFile(dst, src, r.off, r.size); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[r.off:r.off+r.size]) {
			t.Errorf("copySparseFile(%d, %d) differs from the source", r.off, r.size)
		}
	}
}

func TestBuildXZ(t *testing.T) {
	spec := Spec{Small: true}
	path := BuildXZ(t, spec)
	img := Build(t, spec)
	cmd := exec.Command("xz", "-dc", path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	f, err := os.Open(img.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, want := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := int64(0); ; off += int64(len(got)) {
		n, err1 := io.ReadFull(out, got)
		m, err2 := io.ReadFull(f, want)
		if n != m || !bytes.Equal(got[:n], want[:m]) {
			t.Fatalf("xz -dc %s differs from the image in the MiB at byte %d", path, off)
		}
		if err1 != nil || err2 != nil {
			if err1 != io.ErrUnexpectedEOF && err1 != io.EOF {
				t.Fatalf("xz -dc %s: %v", path, err1)
			}
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("xz -dc %s: %v", path, err)
	}
}

func TestParseStat(t *testing.T) {
	const dev = `Inode: 20   Type: character special    Mode:  0620   Flags: 0x0
Generation: 0    Version: 0x00000000:00000000
User:     0   Group:     5   Project:     0   Size: 0
File ACL: 0
Links: 1   Blockcount: 0
`
	ino, err := parseStat("/dev/tty1", dev)
	if err != nil {
		t.Fatal(err)
	}
	if ino.Mode != 0o20620 || ino.GID != 5 || ino.FileMode() != fs.ModeDevice|fs.ModeCharDevice|0o620 {
		t.Errorf("parseStat = %+v", ino)
	}
	if _, err := parseStat("/x", "Inode: 20   Type: regular    Mode:  0644   Flags: 0x80000\n"); err == nil {
		t.Errorf("parseStat of a truncated stat: no error")
	}
}

func ExampleLayout() {
	img, err := Layout(Spec{Profile: PiGen, DiskID: 0x1234abcd})
	if err != nil {
		panic(err)
	}
	fmt.Println(img.Name())
	fmt.Println(img.Boot.Offset, img.Boot.Size, img.Boot.PartUUID)
	fmt.Println(img.Root.Offset, img.Root.Size, img.Root.PartUUID)
	// Output:
	// pigen-1234abcd-boot512M-root1024M
	// 8388608 536870912 1234abcd-01
	// 545259520 1073741824 1234abcd-02
}
