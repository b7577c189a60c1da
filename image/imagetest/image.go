//go:build linux

package imagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pibake/pibake/ops/opstest"
	"github.com/pibake/pibake/reconcile/testhost"
)

// version names the cached images; bump it when what Make builds changes.
// (Changes to testdata/rootfs and to e2fsprogs' version are noticed
// without a bump.)
const version = "img-v1"

// Layout constants, as pi-gen has them.
const (
	SectorSize      = 512
	BootOffset      = 16384 * SectorSize // 8 MiB
	DefaultBootSize = 512 << 20
	DefaultRootSize = 1 << 30
	// SmallRootSize is the root of a Small spec: two block groups, the
	// second one partial, as the last group of a real root usually is.
	SmallRootSize = 160 << 20
)

// shippedDiskID is the disk identifier testdata/rootfs names; fixtures use
// another, so that a test sees whether something was rewritten.
const shippedDiskID = 0x8a438930

// A Spec says which image to build. The zero Spec is a pigen image of the
// default sizes.
type Spec struct {
	// Profile is how the ext4 root is made; empty means PiGen.
	Profile Profile
	// DiskID is the MBR disk identifier; 0 means one derived from the rest
	// of the spec, so that cached images are stable.
	DiskID uint32
	// BootSize and RootSize are the partition sizes in bytes, whole MiB;
	// 0 means DefaultBootSize, and DefaultRootSize or (Small)
	// SmallRootSize.
	BootSize, RootSize int64
	// Small asks for a SmallRootSize root, for tests that fill the
	// filesystem or want it quick.
	Small bool
}

// A Partition is where a filesystem lives in an image.
type Partition struct {
	Number int
	// Offset and Size are in bytes.
	Offset, Size int64
	// PartUUID is how fstab and cmdline.txt name it: "1234abcd-02".
	PartUUID string
}

// An Image is a disk image file laid out as Raspberry Pi OS is.
type Image struct {
	Path string
	// Spec is the spec it was built from, defaults filled in.
	Spec   Spec
	DiskID uint32
	// Boot is the FAT32 partition, Root the ext4 one.
	Boot, Root Partition
}

// ErrNeedRoot is returned when an image must be built and the process is
// not root.
var ErrNeedRoot = errors.New("building a test image needs root: the staged root tree is chowned (uid 1000, gid 42) before mkfs.ext4 -d copies it")

// Layout returns the image spec describes, with no Path: its disk
// identifier, partitions and size, as Make would build it.
func Layout(spec Spec) (*Image, error) {
	if spec.Profile == "" {
		spec.Profile = PiGen
	}
	if err := spec.Profile.valid(); err != nil {
		return nil, err
	}
	if spec.BootSize == 0 {
		spec.BootSize = DefaultBootSize
	}
	if spec.RootSize == 0 {
		spec.RootSize = DefaultRootSize
		if spec.Small {
			spec.RootSize = SmallRootSize
		}
	}
	for _, s := range []int64{spec.BootSize, spec.RootSize} {
		if s <= 0 || s%(1<<20) != 0 {
			return nil, fmt.Errorf("partition size %d is not a whole number of MiB", s)
		}
	}
	if spec.DiskID == 0 {
		h := fnv.New32a()
		fmt.Fprintf(h, "pibake fixture %s %d %d", spec.Profile, spec.BootSize, spec.RootSize)
		spec.DiskID = h.Sum32()
		if spec.DiskID == 0 || spec.DiskID == shippedDiskID {
			spec.DiskID ^= 0x5eed5eed
		}
	}
	img := &Image{
		Spec:   spec,
		DiskID: spec.DiskID,
		Boot:   Partition{Number: 1, Offset: BootOffset, Size: spec.BootSize},
		Root:   Partition{Number: 2, Offset: BootOffset + spec.BootSize, Size: spec.RootSize},
	}
	img.Boot.PartUUID = fmt.Sprintf("%08x-01", img.DiskID)
	img.Root.PartUUID = fmt.Sprintf("%08x-02", img.DiskID)
	return img, nil
}

// Size is the image file's size in bytes.
func (img *Image) Size() int64 { return img.Root.Offset + img.Root.Size }

// Name describes the image in a few words: "pigen-1234abcd-boot512M-root1024M".
func (img *Image) Name() string {
	return fmt.Sprintf("%s-%08x-boot%dM-root%dM", img.Spec.Profile, img.DiskID, img.Boot.Size>>20, img.Root.Size>>20)
}

// CopyTo copies the image to a new file at path, keeping holes, and
// returns the copy.
func (img *Image) CopyTo(path string) (*Image, error) {
	if err := copySparseFile(path, img.Path, 0, img.Size()); err != nil {
		return nil, fmt.Errorf("copying image %s: %w", img.Path, err)
	}
	c := *img
	c.Path = path
	return &c, nil
}

// Clone returns a private copy of img in t's temporary directory.
func (img *Image) Clone(t testing.TB) *Image {
	t.Helper()
	c, err := img.CopyTo(filepath.Join(t.TempDir(), filepath.Base(img.Path)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Build returns a private copy of the image spec describes, which the test
// may change. The image is built once (under a second) and cached; a test
// that would need to build it without root is skipped.
func Build(t testing.TB, spec Spec) *Image {
	t.Helper()
	master := cached(t, spec, false)
	img, err := master.CopyTo(filepath.Join(t.TempDir(), master.Name()+".img"))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// BuildXZ returns a private copy of Build(t, spec)'s image compressed with
// xz, as Raspberry Pi OS is published. Layout(spec) describes what is
// inside. The first call for a spec takes seconds (xz reads the holes as
// zeros); it is cached after.
func BuildXZ(t testing.TB, spec Spec) string {
	t.Helper()
	master := cached(t, spec, true)
	path := filepath.Join(t.TempDir(), master.Name()+".img.xz")
	if err := copySparseFile(path, master.Path+".xz", 0, fileSize(t, master.Path+".xz")); err != nil {
		t.Fatal(err)
	}
	return path
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

func cached(t testing.TB, spec Spec, xz bool) *Image {
	t.Helper()
	img, err := Cached(t.Context(), spec, xz, t.Logf)
	if errors.Is(err, ErrNeedRoot) {
		t.Skipf("%v, and this image is not cached yet", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Cached returns the cached image spec describes, building it first if
// needed, and with xz its .xz too (Path + ".xz"). Concurrent callers, in
// this process or others, wait for one build. The cached file must not be
// changed: copy it (CopyTo) first.
func Cached(ctx context.Context, spec Spec, xz bool, logf func(string, ...any)) (*Image, error) {
	img, err := Layout(spec)
	if err != nil {
		return nil, err
	}
	cache, err := testhost.CacheDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cache, "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	inputs, err := inputsDigest(ctx)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%s-%s-%s", version, img.Name(), inputs)
	img.Path = filepath.Join(dir, key+".img")

	// One lock per image, so that different images build in parallel.
	lock, err := os.OpenFile(filepath.Join(dir, key+".lock"), os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("locking %s: %w", lock.Name(), err)
	}
	if _, err := os.Stat(img.Path); err != nil {
		if os.Geteuid() != 0 {
			return nil, ErrNeedRoot
		}
		logf("building test image %s (once)", img.Path)
		start := time.Now()
		tmp := img.Path + ".tmp"
		os.Remove(tmp)
		if _, err := Make(ctx, tmp, spec); err != nil {
			os.Remove(tmp)
			return nil, err
		}
		if err := os.Rename(tmp, img.Path); err != nil {
			return nil, err
		}
		logf("built test image %s in %s", img.Name(), time.Since(start).Round(time.Millisecond))
	}
	if xz {
		if _, err := os.Stat(img.Path + ".xz"); err != nil {
			logf("compressing test image %s with xz (once)", img.Name())
			start := time.Now()
			tmp := img.Path + ".xz.tmp"
			os.Remove(tmp)
			if err := compressXZ(ctx, tmp, img.Path); err != nil {
				os.Remove(tmp)
				return nil, err
			}
			if err := os.Rename(tmp, img.Path+".xz"); err != nil {
				return nil, err
			}
			logf("compressed test image %s in %s", img.Name(), time.Since(start).Round(time.Millisecond))
		}
	}
	return img, nil
}

// inputsDigest names what the images are made from besides this code:
// testdata/rootfs, its manifest and the e2fsprogs version.
func inputsDigest(ctx context.Context) (string, error) {
	h := sha256.New()
	src := filepath.Join(opstest.Testdata(), "rootfs")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		fmt.Fprintf(h, "%q %o\n", rel, info.Mode())
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "-> %q\n", target)
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%d\n", len(b))
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	manifest, err := os.ReadFile(filepath.Join(opstest.Testdata(), "rootfs.manifest"))
	if err != nil {
		return "", err
	}
	h.Write(manifest)
	// mke2fs -V prints its version on stderr and exits 0.
	out, err := exec.CommandContext(ctx, "mke2fs", "-V").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("mke2fs -V: %w (is e2fsprogs installed?)", err)
	}
	h.Write(out)
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// Make builds the image spec describes at path, which must not exist, and
// checks it with the judges. It needs root (ErrNeedRoot) and takes well
// under a second.
func Make(ctx context.Context, path string, spec Spec) (*Image, error) {
	img, err := Layout(spec)
	if err != nil {
		return nil, err
	}
	img.Path = path
	if os.Geteuid() != 0 {
		return nil, ErrNeedRoot
	}
	for _, tool := range []string{"sfdisk", "mkfs.ext4", "e2fsck", "debugfs", "dumpe2fs", "mkfs.vfat", "fsck.vfat", "mcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("building a test image: %s is not installed (make deps installs it)", tool)
		}
	}
	stage, err := os.MkdirTemp(filepath.Dir(path), ".pibake-stage-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	if err := build(ctx, img, stage); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("building test image %s: %w", img.Name(), err)
	}
	return img, nil
}

func build(ctx context.Context, img *Image, stage string) error {
	root, boot := filepath.Join(stage, "root"), filepath.Join(stage, "boot")
	if err := stageRoot(root, img.DiskID); err != nil {
		return fmt.Errorf("staging the root tree: %w", err)
	}
	if err := stageBoot(boot, img.DiskID); err != nil {
		return fmt.Errorf("staging the boot files: %w", err)
	}
	if err := pack(ctx, img, root, boot); err != nil {
		return err
	}
	return verify(ctx, img)
}

// pack makes img.Path, which must not exist, from the staged trees root
// (copied by mkfs.ext4 -d, owners and all) and boot (copied by mcopy).
func pack(ctx context.Context, img *Image, root, boot string) error {
	f, err := os.OpenFile(img.Path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	err = f.Truncate(img.Size())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}

	table := fmt.Sprintf("label: dos\nlabel-id: 0x%08x\nunit: sectors\n\n"+
		"start=%d, size=%d, type=c\nstart=%d, size=%d, type=83\n",
		img.DiskID, img.Boot.Offset/SectorSize, img.Boot.Size/SectorSize,
		img.Root.Offset/SectorSize, img.Root.Size/SectorSize)
	if _, err := runIn(ctx, []byte(table), nil, "sfdisk", "--no-reread", "--no-tell-kernel", "-q", img.Path); err != nil {
		return err
	}

	// A stable UUID and hash seed per image, so that a rebuilt image has
	// the same htree layout and checksums.
	sum := sha256.Sum256([]byte(img.Name()))
	fsUUID, hashSeed := uuid(sum[:16]), uuid(sum[16:])
	if _, err := run(ctx, "mkfs.ext4", "-q", "-F", "-b", "4096", "-L", "rootfs",
		"-O", img.Spec.Profile.MkfsFeatures(), "-U", fsUUID,
		"-E", fmt.Sprintf("offset=%d,hash_seed=%s", img.Root.Offset, hashSeed),
		"-d", root, img.Path, fmt.Sprint(img.Root.Size/4096)); err != nil {
		return err
	}
	// -D indexes every directory of more than one block (mkfs -d writes
	// them linear); exit 1 means it changed something, as it should.
	if _, err := run(ctx, "e2fsck", "-fyD", rootDev(img)); err != nil && exitCode(err) != 1 {
		return err
	}

	if _, err := run(ctx, "mkfs.vfat", "-F", "32", "-s", "4", "-n", "bootfs",
		"-i", fmt.Sprintf("%08x", img.DiskID^0xb007f5a7), "--offset", fmt.Sprint(img.Boot.Offset/SectorSize),
		img.Path, fmt.Sprint(img.Boot.Size/1024)); err != nil {
		return err
	}
	entries, err := os.ReadDir(boot)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	argv := []string{"mcopy", "-s", "-m", "-Q", "-i", bootDev(img)}
	for _, e := range entries {
		argv = append(argv, filepath.Join(boot, e.Name()))
	}
	_, err = runIn(ctx, nil, mtoolsEnv, append(argv, "::/")...)
	return err
}

// verify checks a fresh image: the promised features, indexed /etc and
// /usr/bin, and both filesystem checks.
func verify(ctx context.Context, img *Image) error {
	sb, err := dumpe2fs(ctx, img)
	if err != nil {
		return err
	}
	if err := checkFeatures(img.Spec.Profile, features(sb)); err != nil {
		return err
	}
	inodes, err := lookup(ctx, img, []string{"/etc", "/usr/bin"})
	if err != nil {
		return err
	}
	for p, ino := range inodes {
		if ino == nil || !ino.Indexed() {
			return fmt.Errorf("%s is not htree-indexed after e2fsck -fyD", p)
		}
	}
	if err := CheckRoot(ctx, img); err != nil {
		return err
	}
	return CheckBoot(ctx, img)
}

func uuid(b []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func compressXZ(ctx context.Context, dst, src string) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, "xz", "-T0", "-c", src)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("xz -T0 -c %s: %w\n%s", src, err, stderr.Bytes())
	}
	return out.Close()
}

// DiskIDAt reads the MBR disk identifier (byte 440) of the image file at path.
func DiskIDAt(path string) (uint32, error) {
	b, err := readAt(path, 440, 4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}
