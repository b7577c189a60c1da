//go:build !linux

package local

// fixedModes: outside Linux, pibake does not tell FAT apart; it only runs
// on a Pi (Linux) as a local target.
func fixedModes(hp string) bool { return false }
