//go:build linux

package imagetest

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/pibake/pibake/ops/opstest"
)

// A File is something the fixture puts into an image, beyond what
// testdata/rootfs holds.
type File struct {
	// Path is absolute within its partition, slash-separated:
	// "/etc/fstab", "/overlays/README".
	Path string
	// Mode holds the type and permission bits.
	Mode fs.FileMode
	// UID and GID own the file (ext4 only).
	UID, GID int
	// Data is a regular file's content.
	Data []byte
	// Target is a symlink's target.
	Target string
	// HardLink, when set, names an earlier File this one shares an inode
	// with; Data and Mode are that file's.
	HardLink string
}

// Counts of the files RootExtras adds; enough to give each directory
// several blocks, so that e2fsck -D indexes it.
const (
	EtcExtras    = 300
	UsrBinExtras = 400
)

// SlowSymlink is a symlink in /usr/bin whose target is too long for the
// inode (60 bytes or more), so it lives in a data block.
const SlowSymlink = "/usr/bin/fixture-long-link"

// Stems of realistic length, so that directory entries vary in size as they
// do in a real /etc and /usr/bin.
var (
	etcStems = []string{"ld", "apt", "cron", "dbus-1", "hosts.allow", "ssh_config", "logrotate",
		"NetworkManager", "systemd-resolved", "ca-certificates", "bash_completion",
		"modprobe.d-blacklist", "dhcpcd.conf", "rpi-eeprom-update", "avahi-daemon",
		"wpa_supplicant", "console-setup", "X11-Xsession.options", "security-limits", "udev-rules"}
	binStems = []string{"x", "ar", "cut", "gawk", "dpkg", "python3", "ssh-keygen", "systemctl",
		"journalctl", "update-alternatives", "raspi-config", "vcgencmd", "pinctrl",
		"systemd-analyze", "x86_64-linux-gnu-objdump", "dpkg-query", "locale", "rpicam-hello",
		"nm-online", "timedatectl"}
)

// RootExtras lists what the fixture adds to the ext4 root, in creation order.
func RootExtras() []File {
	rng := rand.New(rand.NewPCG(1, 2))
	var files []File
	for i := range EtcExtras {
		f := File{
			Path: fmt.Sprintf("/etc/%s-%03d.fixture", etcStems[i%len(etcStems)], i),
			Mode: 0o644,
		}
		f.Data = []byte(fmt.Sprintf("# pibake fixture %d\nkey%d = value%d\n", i, i, i))
		switch {
		case i%25 == 7:
			f.Mode, f.GID = 0o640, 42
		case i%37 == 11:
			// Several blocks of text, like a long config file.
			f.Data = bytes.Repeat(f.Data, 9000/len(f.Data))
		case i == 150:
			f.Mode, f.UID, f.GID = 0o600, 1000, 1000
		}
		files = append(files, f)
	}
	lastRegular := ""
	for i := range UsrBinExtras {
		f := File{Path: fmt.Sprintf("/usr/bin/%s-%03d", binStems[i%len(binStems)], i), Mode: 0o755}
		switch {
		case i%10 == 9:
			f.Mode, f.Target = fs.ModeSymlink|0o777, filepath.Base(lastRegular)
		case i == 100:
			f.Mode = fs.ModeSetuid | 0o755
		case i == 101:
			f.Mode, f.GID = fs.ModeSetgid|0o755, 42
		case i == 200:
			// A bigger binary: random, so that it does not compress.
			f.Data = make([]byte, 200<<10)
			copy(f.Data, "\x7fELF\x02\x01\x01")
			fillRandom(rng, f.Data[16:])
		}
		if f.Target == "" && f.Data == nil {
			f.Data = []byte(fmt.Sprintf("#!/bin/sh\n# pibake fixture %d\nexec true\n", i))
		}
		if f.Target == "" {
			lastRegular = f.Path
		}
		files = append(files, f)
	}
	files = append(files,
		File{Path: SlowSymlink, Mode: fs.ModeSymlink | 0o777,
			Target: "../lib/pibake-fixture/a/path/long/enough/not/to/fit/in/the/sixty/bytes/of/i_block/tool"},
		File{Path: "/usr/bin/fixture-hardlink", HardLink: "/usr/bin/x-000"},
	)
	return files
}

// BootFiles lists what the fixture puts on the FAT partition of an image
// with disk identifier diskID: config.txt and cmdline.txt from
// testdata/rootfs/boot/firmware (cmdline.txt naming diskID), and
// firmware-like files of realistic names and sizes.
func BootFiles(diskID uint32) ([]File, error) {
	dir := filepath.Join(opstest.Testdata(), "rootfs", "boot", "firmware")
	config, err := os.ReadFile(filepath.Join(dir, "config.txt"))
	if err != nil {
		return nil, err
	}
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline.txt"))
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(3, 4))
	blob := func(size int, magic string) []byte {
		b := make([]byte, size)
		fillRandom(rng, b)
		copy(b, magic)
		return b
	}
	dtb := func(size int) []byte { return blob(size, "\xd0\x0d\xfe\xed") }
	return []File{
		{Path: "/bootcode.bin", Data: blob(52<<10, "")},
		{Path: "/start4.elf", Data: blob(96<<10, "\x7fELF\x01\x01\x01")},
		{Path: "/fixup4.dat", Data: blob(5<<10, "")},
		{Path: "/kernel8.img", Data: blob(384<<10, "MZ")},
		{Path: "/bcm2711-rpi-4-b.dtb", Data: dtb(54 << 10)},
		{Path: "/bcm2712-rpi-5-b.dtb", Data: dtb(77 << 10)},
		{Path: "/config.txt", Data: config},
		{Path: "/cmdline.txt", Data: RewritePartUUIDs(cmdline, diskID)},
		{Path: "/issue.txt", Data: []byte("Raspberry Pi reference 2025-05-13\nGenerated using pi-gen, https://github.com/RPi-Distro/pi-gen (pibake test fixture)\n")},
		{Path: "/overlays/README", Data: []byte(overlaysReadme)},
		{Path: "/overlays/vc4-kms-v3d.dtbo", Data: dtb(3 << 10)},
		{Path: "/overlays/dwc2.dtbo", Data: dtb(1 << 10)},
		{Path: "/overlays/i2c-rtc.dtbo", Data: dtb(9 << 10)},
		{Path: "/overlays/overlay_map.dtb", Data: dtb(6 << 10)},
	}, nil
}

const overlaysReadme = `Introduction
============

This directory contains Device Tree overlays. Device Tree makes it possible
to support many hardware configurations with a single kernel and without the
need to explicitly load or blacklist kernel modules.

(A pibake test fixture: the .dtbo files here are not real overlays.)
`

var partUUID = regexp.MustCompile(`PARTUUID=[0-9a-fA-F]{8}-`)

// RewritePartUUIDs makes every PARTUUID=xxxxxxxx-NN in b name diskID.
func RewritePartUUIDs(b []byte, diskID uint32) []byte {
	return partUUID.ReplaceAll(b, []byte(fmt.Sprintf("PARTUUID=%08x-", diskID)))
}

func fillRandom(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

// stageRoot lays out the root tree mkfs.ext4 -d copies: testdata/rootfs
// with fstab naming diskID, an empty /boot/firmware, and RootExtras.
func stageRoot(dir string, diskID uint32) error {
	if err := opstest.CopyRoot(dir); err != nil {
		return err
	}
	fstab := filepath.Join(dir, "etc", "fstab")
	b, err := os.ReadFile(fstab)
	if err != nil {
		return err
	}
	if err := os.WriteFile(fstab, RewritePartUUIDs(b, diskID), 0o644); err != nil {
		return err
	}
	firmware := filepath.Join(dir, "boot", "firmware")
	if err := os.RemoveAll(firmware); err != nil {
		return err
	}
	if err := os.Mkdir(firmware, 0o755); err != nil {
		return err
	}
	for _, f := range RootExtras() {
		if err := writeFile(dir, f, true); err != nil {
			return err
		}
	}
	return nil
}

// stageBoot writes BootFiles into dir.
func stageBoot(dir string, diskID uint32) error {
	files, err := BootFiles(diskID)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := writeFile(dir, f, false); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(root string, f File, owners bool) error {
	p := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(f.Path, "/")))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	switch {
	case f.HardLink != "":
		return os.Link(filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(f.HardLink, "/"))), p)
	case f.Mode&fs.ModeSymlink != 0:
		if err := os.Symlink(f.Target, p); err != nil {
			return err
		}
		if owners {
			return os.Lchown(p, f.UID, f.GID)
		}
		return nil
	}
	if err := os.WriteFile(p, f.Data, 0o644); err != nil {
		return err
	}
	if owners {
		if err := os.Chown(p, f.UID, f.GID); err != nil {
			return err
		}
	}
	mode := f.Mode
	if mode == 0 {
		mode = 0o644
	}
	// After chown, which clears set-id bits.
	return os.Chmod(p, mode)
}
