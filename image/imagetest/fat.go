//go:build linux

package imagetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bootDev names the boot partition for mtools: "IMG@@OFFSET".
func bootDev(img *Image) string { return fmt.Sprintf("%s@@%d", img.Path, img.Boot.Offset) }

// CheckBoot checks the FAT boot partition: its filesystem must fit the
// partition, and `fsck.vfat -n` must exit 0 (it exits 1 on any damage,
// including FATs that differ). fsck.vfat cannot start at an offset, so it
// checks a sparse copy of the partition (a few milliseconds).
func CheckBoot(ctx context.Context, img *Image) error {
	bpb, err := readAt(img.Path, img.Boot.Offset, 512)
	if err != nil {
		return err
	}
	if bpb[510] != 0x55 || bpb[511] != 0xaa {
		return fmt.Errorf("%s: no FAT boot sector at byte %d (partition %d)", img.Path, img.Boot.Offset, img.Boot.Number)
	}
	sectors := uint64(binary.LittleEndian.Uint16(bpb[19:]))
	if sectors == 0 {
		sectors = uint64(binary.LittleEndian.Uint32(bpb[32:]))
	}
	if size := sectors * uint64(binary.LittleEndian.Uint16(bpb[11:])); size > uint64(img.Boot.Size) {
		return fmt.Errorf("%s: the FAT filesystem (%d bytes) overruns partition %d (%d bytes)", img.Path, size, img.Boot.Number, img.Boot.Size)
	}
	dir, err := os.MkdirTemp("", "pibake-fsck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	part := filepath.Join(dir, "bootfs")
	if err := copySparseFile(part, img.Path, img.Boot.Offset, img.Boot.Size); err != nil {
		return fmt.Errorf("extracting the boot partition of %s: %w", img.Path, err)
	}
	if _, err := run(ctx, "fsck.vfat", "-n", part); err != nil {
		return fmt.Errorf("fsck.vfat finds the boot filesystem of %s damaged: %w", img.Path, err)
	}
	return nil
}

// FsckVfat fails t, with fsck.vfat's output, unless the boot filesystem of
// img is clean by `fsck.vfat -n` and fits its partition.
func FsckVfat(t testing.TB, img *Image) {
	t.Helper()
	if err := CheckBoot(t.Context(), img); err != nil {
		t.Error(err)
	}
}

// BootFile returns the content of path ("/config.txt") on img's boot
// partition, read with mcopy; a file that does not exist fails t.
func BootFile(t testing.TB, img *Image, path string) []byte {
	t.Helper()
	out, err := mtools(t.Context(), "mcopy", "-n", "-i", bootDev(img), "::"+path, "-")
	if err != nil {
		t.Fatalf("reading %s from the boot partition of %s: %v", path, img.Path, err)
	}
	return out
}

// BootDir lists dir ("/", "/overlays") on img's boot partition with mdir:
// entry names, directories with a trailing slash.
func BootDir(t testing.TB, img *Image, dir string) []string {
	t.Helper()
	out, err := mtools(t.Context(), "mdir", "-b", "-i", bootDev(img), "::"+dir)
	if err != nil {
		t.Fatalf("listing %s on the boot partition of %s: %v", dir, img.Path, err)
	}
	prefix := "::" + strings.TrimSuffix(dir, "/") + "/"
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" {
			continue
		}
		name, ok := strings.CutPrefix(line, prefix)
		if !ok {
			t.Fatalf("mdir -b %s: cannot read %q", dir, line)
		}
		names = append(names, name)
	}
	return names
}

// ExtractBoot copies the whole boot filesystem of img into a new directory
// with mcopy and returns it; compare it with Tree.
func ExtractBoot(t testing.TB, img *Image) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := runIn(t.Context(), nil, mtoolsEnv, "mcopy", "-s", "-m", "-n", "-Q", "-i", bootDev(img), "::/*", dir); err != nil {
		t.Fatalf("extracting the boot partition of %s: %v", img.Path, err)
	}
	return dir
}

// mtools runs an mtools command and returns its stdout; what it says on
// stderr goes into the error.
func mtools(ctx context.Context, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), mtoolsEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, &toolError{argv: argv, err: err, out: stderr.Bytes()}
	}
	return out, nil
}
