package fat_test

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/pibake/pibake/image/fat"
)

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name    string
		make    func(t *testing.T) image
		wantErr error
		wantMsg string
	}{
		{
			name: "zeros",
			make: func(t *testing.T) image {
				p := t.TempDir() + "/zeros"
				os.WriteFile(p, make([]byte, 1<<20), 0o644)
				return image{path: p, size: 1 << 20}
			},
			wantErr: fat.ErrNotFAT32, wantMsg: "no FAT boot sector",
		},
		{
			name: "FAT16",
			make: func(t *testing.T) image {
				p := t.TempDir() + "/fat16"
				os.WriteFile(p, nil, 0o644)
				os.Truncate(p, 32<<20)
				run(t, tool(t, "mkfs.vfat", "dosfstools"), "-F", "16", p)
				return image{path: p, size: 32 << 20}
			},
			wantErr: fat.ErrNotFAT32, wantMsg: "a FAT12 or FAT16 filesystem (only FAT32 is supported)",
		},
		{
			name: "FAT copies differ",
			make: func(t *testing.T) image {
				img := bareFAT(t, 48<<20, 1)
				_, second := fatOffsets(t, img)
				patch(t, img, second+3*4, []byte{0xff, 0xff, 0xff, 0x0f}) // cluster 3 in use in one copy
				return img
			},
			wantErr: fat.ErrCorrupt, wantMsg: "FAT copy 2 differs from the first",
		},
		{
			name: "partition smaller than the filesystem",
			make: func(t *testing.T) image {
				img := bareFAT(t, 48<<20, 1)
				img.size = 40 << 20
				return img
			},
			wantErr: fat.ErrCorrupt, wantMsg: "the boot sector says 50331648 bytes but the partition has 41943040",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := tt.make(t)
			f, err := os.OpenFile(img.path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, err = fat.Open(f, img.offset, img.size, nil)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Open: %v, want %v saying %q", err, tt.wantErr, tt.wantMsg)
			}
		})
	}
}

// TestCorruptChain checks that a looping or broken cluster chain is an
// error, not a hang or a panic.
func TestCorruptChain(t *testing.T) {
	img := bareFAT(t, 48<<20, 1)
	fsys := open(t, img)
	if err := fsys.WriteFile("/loop.bin", []byte(sized(2000)), fat.FileMode); err != nil {
		t.Fatal(err)
	}
	// 4 clusters of 512 bytes, allocated contiguously: point the last
	// back at the first, in both FATs.
	fi, err := fsys.Stat("/loop.bin")
	if err != nil {
		t.Fatal(err)
	}
	c := fi.Sys().(*fat.Attributes).FirstCluster
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, c)
	first, second := fatOffsets(t, img)
	for _, fatStart := range []int64{first, second} {
		patch(t, img, fatStart+int64(c+3)*4, b)
	}
	fsys = open(t, img)
	if _, err := fsys.ReadFile("/loop.bin"); !errors.Is(err, fat.ErrCorrupt) {
		t.Errorf("ReadFile of a looping chain: %v, want ErrCorrupt", err)
	}
	if err := fsys.Remove("/loop.bin"); !errors.Is(err, fat.ErrCorrupt) {
		t.Errorf("Remove of a looping chain: %v, want ErrCorrupt", err)
	}
}

// TestRaspberryPiOSSize works on a boot partition as pi-gen makes it:
// 512 MiB, mkdosfs -n bootfs -F 32 -s 4 (2 KiB clusters).
func TestRaspberryPiOSSize(t *testing.T) {
	img := bareFAT(t, 512<<20, 4)
	fsys := open(t, img)
	want := newTree()
	write("/config.txt", "# For more options and information see\n[all]\n")(t, fsys, want)
	write("/cmdline.txt", "console=serial0,115200 console=tty1 root=PARTUUID=1a2b3c4d-02 rootfstype=ext4 fsck.repair=yes rootwait\n")(t, fsys, want)
	write("/kernel8.img", sized(9<<20))(t, fsys, want)
	mkdirAll("/overlays")(t, fsys, want)
	for _, name := range []string{"vc4-kms-v3d", "vc4-kms-v3d-pi5", "i2c-rtc", "disable-bt", "dwc2", "gpio-fan", "w1-gpio", "spi1-3cs"} {
		write("/overlays/"+name+".dtbo", sized(3000))(t, fsys, want)
	}
	write("/overlays/README", sized(40000))(t, fsys, want)
	write("/kernel8.img", sized(8<<20))(t, fsys, want)
	check(t, img, want)
}

func patch(t *testing.T, img image, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(img.path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, img.offset+off); err != nil {
		t.Fatal(err)
	}
}

// fatOffsets is where img's two FATs start.
func fatOffsets(t *testing.T, img image) (first, second int64) {
	t.Helper()
	f, err := os.Open(img.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	boot := make([]byte, 512)
	if _, err := f.ReadAt(boot, img.offset); err != nil {
		t.Fatal(err)
	}
	bps := int64(binary.LittleEndian.Uint16(boot[11:]))
	first = int64(binary.LittleEndian.Uint16(boot[14:])) * bps
	return first, first + int64(binary.LittleEndian.Uint32(boot[36:]))*bps
}
