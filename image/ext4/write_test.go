package ext4

import (
	"bytes"
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestWriteBasics(t *testing.T) {
	src, _ := sourceTree(t)
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			img := mkfs(t, p, 48, src)
			index(t, img)
			fsys, _ := openImage(t, img, Options{})
			mtime := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
			attr := Attr{Mode: 0o640, UID: 1000, GID: 1000, Mtime: mtime}
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(fsys.WriteFile("/new.txt", strings.NewReader("new\n"), attr))
			must(fsys.WriteFile("/small.txt", strings.NewReader("replaced\n"), attr))
			must(fsys.MkdirAll("/a/b/c", Attr{Mode: 0o755}))
			must(fsys.Symlink("../../new.txt", "/a/b/fast", Attr{}))
			must(fsys.Symlink(strings.Repeat("x/", 50), "/a/b/slow", Attr{}))
			big := bytes.Repeat([]byte("0123456789abcdef"), 300000)
			must(fsys.WriteFile("/a/big", bytes.NewReader(big), attr))
			must(fsys.Remove("/big"))
			must(fsys.Remove("/dir/sub/deep/file"))
			must(fsys.Remove("/dir/sub/deep"))
			must(fsys.Rename("/odd", "/a/b/c/odd"))
			must(fsys.Rename("/a/b/c", "/c"))
			must(fsys.Chmod("/new.txt", 0o4755))
			must(fsys.Chown("/new.txt", 70000, 80000))
			for i := range 300 {
				must(fsys.WriteFile("/many/added-"+strings.Repeat("y", i%50)+"-"+string(rune('a'+i%26))+"-"+itoa(i), strings.NewReader(itoa(i)), attr))
			}
			for i := range 200 {
				must(fsys.Remove("/many/entry-" + pad4(i) + "-with-a-longer-name"))
			}
			if err := fsys.Remove("/a"); !errors.Is(err, syscall.ENOTEMPTY) {
				t.Errorf("Remove(non-empty dir) = %v, want ENOTEMPTY", err)
			}
			if err := fsys.Mkdir("/a", Attr{}); !errors.Is(err, fs.ErrExist) {
				t.Errorf("Mkdir(existing) = %v, want ErrExist", err)
			}
			fsck(t, img)
			out := debugfs(t, img, "cat /new.txt", "cat /small.txt", "stat /new.txt", "stat /a/b/fast", "stat /a/b/slow")
			for _, want := range []string{"new\n", "replaced\n", "Mode:  04755", "User: 70000   Group: 80000", "Fast link dest: \"../../new.txt\""} {
				if !strings.Contains(out, want) {
					t.Errorf("debugfs output lacks %q:\n%s", want, out)
				}
			}
			got, err := fsys.ReadFile("/a/big")
			if err != nil || !bytes.Equal(got, big) {
				t.Errorf("ReadFile(/a/big) = %d bytes, %v", len(got), err)
			}
		})
	}
}

func itoa(i int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(i)) }
func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}
func pad4(i int) string { s := fmtInt(i); return strings.Repeat("0", 4-len(s)) + s }
