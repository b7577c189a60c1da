package fat_test

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/pibake/pibake/image/fat"
)

func Example() {
	// A boot partition as its own file (testdata/README says how it was
	// made); in a disk image, pass the partition's offset and size from
	// package image/mbr instead of 0 and the file size.
	tmp, err := os.MkdirTemp("", "pibake-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	file := filepath.Join(tmp, "bootfs.img")
	size, err := gunzip("testdata/bootfs.img.gz", file)
	if err != nil {
		panic(err)
	}
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	fsys, err := fat.Open(f, 0, size, nil)
	if err != nil {
		panic(err)
	}

	config, err := fsys.ReadFile("/CONFIG.TXT") // names ignore case
	if err != nil {
		panic(err)
	}
	if err := fsys.WriteFile("/config.txt", append(config, "dtparam=i2c_arm=on\n"...), fat.FileMode); err != nil {
		panic(err)
	}
	if err := fsys.MkdirAll("/overlays", fat.DirMode); err != nil {
		panic(err)
	}
	if err := fsys.WriteFile("/overlays/My Sensor.dtbo", []byte("\xd0\x0d\xfe\xed"), fat.FileMode); err != nil {
		panic(err)
	}
	if err := fsys.Chmod("/config.txt", 0o644); err != nil {
		fmt.Println(err)
	}

	for _, dir := range []string{"/", "/overlays"} {
		list, err := fsys.ReadDir(dir)
		if err != nil {
			panic(err)
		}
		for _, fi := range list {
			short := fi.Sys().(*fat.Attributes).ShortName
			fmt.Printf("%s %-16s %-12s %d\n", fi.Mode(), path.Join(dir, fi.Name()), short, fi.Size())
		}
	}
	// Output:
	// chmod /config.txt: mode 0644: unsupported operation: FAT has no permission bits; files are 0755 (0555 with the read-only attribute) and directories 0755, as Raspberry Pi OS mounts them
	// -rwxr-xr-x /config.txt      CONFIG.TXT   44
	// drwxr-xr-x /overlays        OVERLAYS     0
	// -rwxr-xr-x /overlays/My Sensor.dtbo MYSENS~1.DTB 4
}

func gunzip(from, to string) (int64, error) {
	in, err := os.Open(from)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	z, err := gzip.NewReader(in)
	if err != nil {
		return 0, err
	}
	out, err := os.Create(to)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	return io.Copy(out, z)
}
