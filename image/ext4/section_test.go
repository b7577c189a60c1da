//go:build linux

package ext4

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestSection edits a filesystem that starts 1 MiB into its image, as a
// partition does, without touching the bytes around it.
func TestSection(t *testing.T) {
	fsImg := mkfs(t, profiles[0], 8, "")
	raw, err := os.ReadFile(fsImg)
	if err != nil {
		t.Fatal(err)
	}
	const off = 1 << 20
	disk := memDev(append(append(bytes.Repeat([]byte{0xEE}, off), raw...), bytes.Repeat([]byte{0xDD}, 4096)...))
	fsys, err := Open(Section(disk, off, int64(len(raw))), int64(len(raw)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fsys.WriteFile("/hello", strings.NewReader("hi\n"), Attr{Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	if data, err := fsys.ReadFile("/hello"); err != nil || string(data) != "hi\n" {
		t.Errorf("ReadFile = %q, %v", data, err)
	}
	if !bytes.Equal(disk[:off], bytes.Repeat([]byte{0xEE}, off)) || !bytes.Equal(disk[off+len(raw):], bytes.Repeat([]byte{0xDD}, 4096)) {
		t.Errorf("writing to the section changed bytes outside it")
	}
	out := t.TempDir() + "/fs.img"
	os.WriteFile(out, disk[off:off+len(raw)], 0o644)
	fsck(t, out)
}
