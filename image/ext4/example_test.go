//go:build linux

package ext4_test

import (
	"fmt"
	"io/fs"
	"log"
	"os"
	"strings"

	"github.com/pibake/pibake/image/ext4"
)

// Edit the root filesystem of an image in place: here the filesystem
// starts at byte 0 of the file; for a partition, wrap the file in an
// io.SectionReader-like type implementing ReadAt and WriteAt at the
// partition's offset.
func ExampleOpen() {
	file, err := os.OpenFile("rootfs.img", os.O_RDWR, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		log.Fatal(err)
	}
	fsys, err := ext4.Open(file, st.Size(), ext4.Options{})
	if err != nil {
		log.Fatal(err) // ErrUnsupported, ErrNeedsRecovery, ErrCorrupt say why
	}
	defer fsys.Close()

	attr := ext4.Attr{Mode: 0o644}
	if err := fsys.WriteFile("/etc/hostname", strings.NewReader("pibake\n"), attr); err != nil {
		log.Fatal(err)
	}
	if err := fsys.MkdirAll("/home/pi/.ssh", ext4.Attr{Mode: 0o700, UID: 1000, GID: 1000}); err != nil {
		log.Fatal(err)
	}
	if err := fsys.Symlink("/lib/systemd/system/ssh.service", "/etc/systemd/system/multi-user.target.wants/ssh.service", ext4.Attr{}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(fsys.Statfs().FreeBlocks)
}

// Read through the fs.FS view: fs.WalkDir, fs.ReadFile, templates, http.FS
// all work on it.
func ExampleFS_IOFS() {
	file, err := os.Open("rootfs.img")
	if err != nil {
		log.Fatal(err)
	}
	defer file.Close()
	st, _ := file.Stat()
	fsys, err := ext4.Open(file, st.Size(), ext4.Options{ReadOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	fs.WalkDir(fsys.IOFS(), "etc", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			fmt.Println(p)
		}
		return err
	})
}

// Copy only what the filesystem uses, for flashing.
func ExampleFS_UsedRanges() {
	file, err := os.Open("rootfs.img")
	if err != nil {
		log.Fatal(err)
	}
	defer file.Close()
	st, _ := file.Stat()
	fsys, err := ext4.Open(file, st.Size(), ext4.Options{ReadOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	ranges, err := fsys.UsedRanges()
	if err != nil {
		log.Fatal(err)
	}
	var used int64
	for _, r := range ranges {
		used += r.Len
	}
	fmt.Printf("%d of %d bytes to write\n", used, st.Size())
}
