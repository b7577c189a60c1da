//go:build linux

package ext4

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// profile is a way of making a filesystem with mkfs.ext4.
type profile struct {
	name        string
	blockSize   int
	features    string // -O argument, empty for the defaults
	groupBlocks int    // -g: small groups give small images many groups
	extended    string // more -E options
}

// profiles are the filesystems every test runs against: what Raspberry
// Pi OS ships (pi-gen's mkfs.ext4 -O ^64bit,^huge_file), e2fsprogs 1.47's
// own defaults (Debian's mke2fs.conf leaves out orphan_file and
// metadata_csum_seed), plain 64bit metadata_csum, gdt_csum without
// metadata_csum, and 1 KiB blocks.
//
// Groups are made small so that small images have many, most of them
// uninitialised (BLOCK_UNINIT, INODE_UNINIT); one profile also leaves
// its inode tables unzeroed (lazy_itable_init, no ITABLE_ZEROED).
var profiles = []profile{
	{"pi-gen", 4096, "^64bit,^huge_file", 4096, ""},
	{"e2fsprogs-1.47", 4096, "orphan_file,metadata_csum_seed", 4096, "lazy_itable_init=1,nodiscard"},
	{"64bit", 4096, "", 8192, ""},
	{"gdt_csum", 4096, "^metadata_csum,uninit_bg", 4096, "lazy_itable_init=1,nodiscard"},
	{"1k", 1024, "", 0, ""},
}

func needTools(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"mkfs.ext4", "e2fsck", "debugfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (e2fsprogs): real-tool fixtures and judges need it", tool)
		}
	}
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME=1700000000", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// mkfs makes a sparse image of sizeMiB with profile p, populated from
// dir when it is not empty.
func mkfs(t testing.TB, p profile, sizeMiB int, dir string) string {
	t.Helper()
	needTools(t)
	img := filepath.Join(t.TempDir(), p.name+".img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(sizeMiB)<<20); err != nil {
		t.Fatal(err)
	}
	ext := "hash_seed=1c0ffee0-2b7d-4f6e-8a1b-3c5d7e9f1a2b"
	if p.extended != "" {
		ext += "," + p.extended
	}
	args := []string{"-q", "-F", "-b", fmt.Sprint(p.blockSize), "-U", "6f1c4b1e-53a8-4d5a-9a2f-0b9d3c1e7a42", "-E", ext}
	if p.groupBlocks != 0 {
		args = append(args, "-g", fmt.Sprint(p.groupBlocks))
	}
	if p.features != "" {
		args = append(args, "-O", p.features)
	}
	if dir != "" {
		args = append(args, "-d", dir)
	}
	run(t, "mkfs.ext4", append(args, img)...)
	return img
}

// index builds htree indexes for every big directory, as e2fsck -D does.
func index(t testing.TB, img string) {
	t.Helper()
	cmd := exec.Command("e2fsck", "-fyD", img)
	if out, err := cmd.CombinedOutput(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
			t.Fatalf("e2fsck -fyD: %v\n%s", err, out)
		}
	}
}

// fsck judges an image with e2fsck -fn.
func fsck(t testing.TB, img string) {
	t.Helper()
	out, err := exec.Command("e2fsck", "-fn", img).CombinedOutput()
	if err != nil {
		t.Fatalf("e2fsck -fn %s: %v\n%s", img, err, out)
	}
}

// debugfs runs commands against an image, read-only, returning stdout.
func debugfs(t testing.TB, img string, cmds ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "cmds")
	if err := os.WriteFile(f, []byte(strings.Join(cmds, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("debugfs", "-f", f, img)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("debugfs: %v\n%s", err, stderr.String())
	}
	return stdout.String()
}

// openImage opens an image file with this package.
func openImage(t testing.TB, img string, opts Options) (*FS, *os.File) {
	t.Helper()
	flag := os.O_RDWR
	if opts.ReadOnly {
		flag = os.O_RDONLY
	}
	file, err := os.OpenFile(img, flag, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { file.Close() })
	st, err := file.Stat()
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := Open(file, st.Size(), opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", img, err)
	}
	return fsys, file
}

var execCommand = exec.Command
