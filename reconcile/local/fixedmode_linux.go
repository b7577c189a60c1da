package local

import "syscall"

// Filesystems that keep no Unix modes or owners (statfs f_type).
const (
	msdosMagic = 0x4d44
	exfatMagic = 0x2011bab0
)

// fixedModes reports whether the filesystem holding the host path hp keeps
// no modes or owners (the Pi's FAT boot partition).
func fixedModes(hp string) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(hp, &st); err != nil {
		return false
	}
	return st.Type == msdosMagic || st.Type == exfatMagic
}
