package fat_test

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"github.com/pibake/pibake/image/fat"
)

// overlay is a Device over an image in memory whose writes stay in the
// overlay, so that each fuzz run starts from the same filesystem.
type overlay struct {
	base    []byte
	written map[int64][]byte // 512-byte sectors
}

func (o *overlay) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(o.base)) {
		return 0, errors.New("read past the end")
	}
	copy(p, o.base[off:])
	for sector, s := range o.written {
		from, to := max(sector*512, off), min(sector*512+512, off+int64(len(p)))
		if from < to {
			copy(p[from-off:to-off], s[from-sector*512:])
		}
	}
	return len(p), nil
}

func (o *overlay) WriteAt(p []byte, off int64) (int, error) {
	for i, b := range p {
		pos := off + int64(i)
		if pos >= int64(len(o.base)) {
			return i, errors.New("write past the end")
		}
		s, ok := o.written[pos/512]
		if !ok {
			s = append([]byte(nil), o.base[pos/512*512:][:512]...)
			o.written[pos/512] = s
		}
		s[pos%512] = b
	}
	return len(p), nil
}

// FuzzRootDirectory puts arbitrary bytes in the root directory's cluster
// and the FAT's first sector of a real filesystem, then lists, reads and
// changes it: errors are fine, panics and hangs are not.
func FuzzRootDirectory(f *testing.F) {
	img := bareFAT(f, 40<<20, 1)
	mcopy := tool(f, "mcopy", "mtools")
	src := f.TempDir() + "/Config Backup 1.txt"
	os.WriteFile(src, []byte(sized(1200)), 0o644)
	run(f, mcopy, "-i", img.path, src, "::/Config Backup 1.txt")
	run(f, mcopy, "-i", img.path, src, "::/config.txt")
	base, err := os.ReadFile(img.path)
	if err != nil {
		f.Fatal(err)
	}
	raw := readFSInfo(f, img)
	fat1 := int64(binary.LittleEndian.Uint16(base[14:])) * 512
	fat2 := fat1 + int64(binary.LittleEndian.Uint32(base[36:]))*512
	root := raw.dataStart + int64(raw.rootCluster-2)*raw.clusterSize
	f.Add(append([]byte(nil), base[root:root+512]...), []byte{})
	f.Add([]byte{0x41, 'a', 0, 0x0f}, []byte{0xf8, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0x0f, 3, 0, 0, 0, 2, 0, 0, 0})
	f.Fuzz(func(t *testing.T, dirBytes, fatBytes []byte) {
		dev := &overlay{base: base, written: map[int64][]byte{}}
		dev.WriteAt(dirBytes[:min(len(dirBytes), 512)], root)
		dev.WriteAt(fatBytes[:min(len(fatBytes), 512)], fat1)
		dev.WriteAt(fatBytes[:min(len(fatBytes), 512)], fat2)
		fsys, err := fat.Open(dev, 0, img.size, nil)
		if err != nil {
			return // e.g. the FAT copies now differ
		}
		list, err := fsys.ReadDir("/")
		if err != nil {
			return
		}
		for _, fi := range list {
			fsys.Stat("/" + fi.Name())
			fsys.ReadFile("/" + fi.Name())
			fsys.ReadDir("/" + fi.Name())
		}
		fsys.WriteFile("/new file.txt", []byte(sized(3000)), fat.FileMode)
		fsys.Mkdir("/new dir", fat.DirMode)
		for _, fi := range list {
			fsys.Rename("/"+fi.Name(), "/new dir/"+fi.Name())
			fsys.Remove("/new dir/" + fi.Name())
		}
	})
}
