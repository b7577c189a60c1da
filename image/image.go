// Package image opens a Raspberry Pi OS disk image (.img) and presents it
// as one root filesystem, the way the Pi sees it: the ext4 root partition,
// with the FAT32 boot partition mounted where the image's own /etc/fstab
// says (/boot/firmware on Bookworm and later, /boot before). It edits both
// in place, in pure Go, without root or loop mounts, and is an ops.System,
// so recipes plan and apply against it like any other target; exec
// changes are for the Pi (see ops.Runner), never run here.
//
// An .xz image (Raspberry Pi OS as published) opens read-only, through a
// decompressed temporary copy; to edit one, bake it (CopyBase, then
// OpenFile). OpenDisk opens an image held elsewhere: an Overlay edits a
// base that is only read, holding the changes in memory.
//
// Limits: MBR images with a FAT32 boot partition followed by a Linux root
// partition (the Raspberry Pi OS layout); no GPT. The boot partition keeps
// no modes, owners or symbolic links: its entries read as root's, 0755
// (FileInfo.FixedMode), and links there are refused.
package image

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/pibake/pibake/image/ext4"
	"github.com/pibake/pibake/image/fat"
	"github.com/pibake/pibake/image/mbr"
)

// Options say how to open an image.
type Options struct {
	// ReadOnly opens the file for reading only; nothing is ever written.
	ReadOnly bool
}

// Image is an open disk image.
type Image struct {
	path string
	// disk holds the image: a file, or an Overlay; size is its size.
	disk   Disk
	size   int64
	table  *mbr.Table
	layout *mbr.Layout
	boot   *fat.FS
	root   *ext4.FS
	// temp is a decompressed copy of an .xz image, removed on Close.
	temp string
	// bootMount is where the boot partition is mounted in the root
	// ("/boot/firmware"), or "" when the root's fstab does not mount it.
	bootMount string
}

// Open opens the disk image at path. Errors name the file and say what is
// wrong: not a disk image, a partition table pibake does not understand, a
// filesystem it refuses (see packages mbr, fat and ext4). An .xz image
// (known by its magic bytes) opens only with ReadOnly: it is decompressed
// to a sparse temporary file in os.TempDir ($TMPDIR), removed on Close.
func Open(path string, opts Options) (*Image, error) {
	compressed, err := sniffXZ(path)
	if err != nil {
		return nil, err
	}
	if compressed {
		if !opts.ReadOnly {
			return nil, fmt.Errorf("%s: an .xz image cannot be edited in place: bake a copy (pibake bake RECIPE --from %s --out NEW.img) or decompress it first (xz -dk %s)", path, path, path)
		}
		return openXZ(path)
	}
	flag := os.O_RDWR
	if opts.ReadOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	im, err := open(path, f, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return im, nil
}

// OpenFile opens the disk image in f, which is already open (a bake's
// temporary file, which may have no name); name is only for messages.
// Close on the Image closes f; after an error, f is the caller's still.
func OpenFile(name string, f *os.File, opts Options) (*Image, error) {
	return open(name, f, opts)
}

// A Disk holds a disk image: an *os.File, or an Overlay. OpenDisk opens
// one; Close on the Image then syncs and closes it if it can (a Sync or
// Close method).
type Disk interface {
	io.ReaderAt
	io.WriterAt
}

// OpenDisk opens the disk image of size bytes in d; name is only for
// messages. With ReadOnly nothing is written to d.
func OpenDisk(name string, d Disk, size int64, opts Options) (*Image, error) {
	return openDisk(name, d, size, opts)
}

// sniffXZ says whether the file at path is xz-compressed.
func sniffXZ(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	compressed, err := isXZ(f)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	return compressed, nil
}

// openXZ decompresses the .xz image at path to a sparse temporary file and
// opens that, read-only.
func openXZ(path string) (im *Image, err error) {
	tmp, err := os.CreateTemp("", "pibake-*.img")
	if err != nil {
		return nil, fmt.Errorf("decompressing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := CopyBase(context.Background(), tmp, path, nil); err != nil {
		return nil, err
	}
	if im, err = open(path, tmp, Options{ReadOnly: true}); err != nil {
		return nil, err
	}
	im.temp = tmp.Name()
	return im, nil
}

func open(name string, f *os.File, opts Options) (*Image, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return openDisk(name, f, fi.Size(), opts)
}

func openDisk(name string, f Disk, size int64, opts Options) (*Image, error) {
	table, err := mbr.Read(name, f, size)
	if err != nil {
		return nil, err
	}
	layout, err := table.RaspberryPi()
	if err != nil {
		return nil, err
	}
	im := &Image{path: name, disk: f, size: size, table: table, layout: layout}
	im.boot, err = fat.Open(f, layout.Boot.Offset, layout.Boot.Size, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: boot partition (%d): %w", name, layout.Boot.Number, err)
	}
	root := ext4.Section(f, layout.Root.Offset, layout.Root.Size)
	im.root, err = ext4.Open(root, layout.Root.Size, ext4.Options{ReadOnly: opts.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("%s: root partition (%d): %w", name, layout.Root.Number, err)
	}
	if im.bootMount, err = im.findBootMount(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return im, nil
}

// Path is the image file's name, as given to Open.
func (im *Image) Path() string { return im.path }

// DiskID is the MBR disk identifier (PARTUUIDs are "%08x-NN" of it).
func (im *Image) DiskID() uint32 { return im.table.DiskID }

// BootMount is where the boot partition is mounted ("/boot/firmware"), or
// "" when the image's fstab does not mount it.
func (im *Image) BootMount() string { return im.bootMount }

// Root is the ext4 root filesystem.
func (im *Image) Root() *ext4.FS { return im.root }

// Boot is the FAT32 boot filesystem.
func (im *Image) Boot() *fat.FS { return im.boot }

// Close writes back what is pending and closes the file. After a failed
// write, the image may be inconsistent: keep a copy of what matters (a bake
// works on a copy, never on its input).
func (im *Image) Close() error {
	err := im.root.Close()
	if s, ok := im.disk.(interface{ Sync() error }); ok {
		if serr := s.Sync(); err == nil && serr != nil && !errors.Is(serr, os.ErrInvalid) {
			err = serr
		}
	}
	if c, ok := im.disk.(io.Closer); ok {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	if im.temp != "" {
		if rerr := os.Remove(im.temp); err == nil {
			err = rerr
		}
	}
	if err != nil {
		return fmt.Errorf("closing %s: %w", im.path, err)
	}
	return nil
}

// findBootMount reads the root's /etc/fstab for the vfat boot partition.
// Without an entry it falls back to Raspberry Pi OS's own layout: an
// existing /boot/firmware directory, else nothing.
func (im *Image) findBootMount() (string, error) {
	b, err := im.root.ReadFile("/etc/fstab")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading /etc/fstab: %w", err)
	}
	if mount := bootMountIn(b, im.table.PartUUID(im.layout.Boot.Number)); mount != "" {
		return mount, nil
	}
	if fi, err := im.root.Stat("/boot/firmware"); err == nil && fi.IsDir() {
		return "/boot/firmware", nil
	}
	return "", nil
}

// bootMountIn finds the mount point of the boot partition in fstab: by its
// PARTUUID, its label "bootfs", the SD card's first partition, or the only
// vfat entry.
func bootMountIn(fstab []byte, partUUID string) string {
	var vfat []string
	sc := bufio.NewScanner(bytes.NewReader(fstab))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || strings.HasPrefix(f[0], "#") || !path.IsAbs(f[1]) || f[1] == "/" {
			continue
		}
		mount := path.Clean(f[1])
		switch strings.ToLower(f[0]) {
		case "partuuid=" + strings.ToLower(partUUID), "label=bootfs", "/dev/mmcblk0p1":
			return mount
		}
		if f[2] == "vfat" {
			vfat = append(vfat, mount)
		}
	}
	if len(vfat) == 1 {
		return vfat[0]
	}
	return ""
}
