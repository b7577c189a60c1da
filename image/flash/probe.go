package flash

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
)

// probeFilesystem recognises the filesystems a Raspberry Pi OS card holds
// (ext2/3/4, FAT, swap) from the first 4 KiB of a partition and returns
// their type and label, or "", "" for anything else.
func probeFilesystem(r io.ReaderAt) (fsType, label string) {
	b := make([]byte, 4096)
	if n, _ := r.ReadAt(b, 0); n < len(b) {
		return "", ""
	}
	if sb := b[1024:2048]; binary.LittleEndian.Uint16(sb[0x38:]) == 0xEF53 {
		const compatJournal, incompatExtents = 0x4, 0x40
		fsType = "ext2"
		if binary.LittleEndian.Uint32(sb[0x60:])&incompatExtents != 0 {
			fsType = "ext4"
		} else if binary.LittleEndian.Uint32(sb[0x5C:])&compatJournal != 0 {
			fsType = "ext3"
		}
		return fsType, cString(sb[0x78 : 0x78+16])
	}
	if string(b[4086:4096]) == "SWAPSPACE2" {
		return "swap", cString(b[1052 : 1052+16])
	}
	if b[510] == 0x55 && b[511] == 0xAA {
		for _, at := range []struct{ kind, label int }{{82, 71}, {54, 43}} {
			if strings.HasPrefix(string(b[at.kind:at.kind+8]), "FAT") {
				label := strings.TrimRight(string(b[at.label:at.label+11]), " ")
				if label == "NO NAME" {
					label = ""
				}
				return "vfat", label
			}
		}
	}
	return "", ""
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
