//go:build linux

package imagetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/image"
)

// An Entry is a snapshot of one file in a tree, for comparing trees.
type Entry struct {
	// Mode holds the type and permission bits, set-id and sticky bits.
	Mode     fs.FileMode
	UID, GID uint32
	Links    uint32
	// Size and SHA256 (hex) are a regular file's.
	Size   int64
	SHA256 string
	// Target is a symlink's.
	Target string
}

func (e Entry) String() string {
	s := fmt.Sprintf("%v %d:%d links=%d", e.Mode, e.UID, e.GID, e.Links)
	switch {
	case e.Mode.IsRegular():
		s += fmt.Sprintf(" %d sha256:%.12s", e.Size, e.SHA256)
	case e.Mode&fs.ModeSymlink != 0:
		s += " -> " + e.Target
	}
	return s
}

// Tree snapshots the tree at dir (a mount point, an extracted partition):
// every file by its absolute path within the tree ("/", "/etc/fstab").
func Tree(t testing.TB, dir string) map[string]Entry {
	t.Helper()
	tree := map[string]Entry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		e := Entry{Mode: info.Mode()}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			e.UID, e.GID, e.Links = st.Uid, st.Gid, uint32(st.Nlink)
		}
		switch {
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.Size, e.SHA256 = info.Size(), digest(b)
		case info.Mode()&fs.ModeSymlink != 0:
			if e.Target, err = os.Readlink(p); err != nil {
				return err
			}
		}
		tree[path.Join("/", filepath.ToSlash(rel))] = e
		return nil
	})
	if err != nil {
		t.Fatalf("snapshotting %s: %v", dir, err)
	}
	return tree
}

// RootTree snapshots img's ext4 root with debugfs alone, as Tree would see
// it mounted: no root and no kernel needed. It takes one debugfs run per
// directory level and two more.
func RootTree(t testing.TB, img *Image) map[string]Entry {
	t.Helper()
	tree, err := rootTree(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func rootTree(ctx context.Context, img *Image) (map[string]Entry, error) {
	paths := []string{"/"}
	var regular []string
	for level := []string{"/"}; len(level) > 0; {
		lists, err := listDirs(ctx, img, level)
		if err != nil {
			return nil, err
		}
		var next []string
		for _, dir := range level {
			for _, e := range lists[dir] {
				p := path.Join(dir, e.Name)
				paths = append(paths, p)
				switch e.Mode & 0o170000 {
				case 0o040000:
					next = append(next, p)
				case 0o100000:
					regular = append(regular, p)
				}
			}
		}
		slices.Sort(next)
		level = next
	}
	inodes, err := lookup(ctx, img, paths)
	if err != nil {
		return nil, err
	}
	contents, err := readFiles(ctx, img, regular)
	if err != nil {
		return nil, err
	}
	tree := make(map[string]Entry, len(paths))
	for _, p := range paths {
		ino := inodes[p]
		if ino == nil {
			return nil, fmt.Errorf("%s: debugfs lists %s but cannot stat it", img.Path, p)
		}
		e := Entry{Mode: ino.FileMode(), UID: ino.UID, GID: ino.GID, Links: ino.Links, Target: ino.Target}
		if b, ok := contents[p]; ok {
			e.Size, e.SHA256 = ino.Size, digest(b)
		}
		tree[p] = e
	}
	return tree, nil
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// CheckCopy judges got, a copy of the image want (flashed, or copied by
// ranges): both filesystems are clean (e2fsck -fn, fsck.vfat -n) and hold
// the same trees as want's.
func CheckCopy(t testing.TB, want, got *Image) {
	t.Helper()
	E2fsck(t, got)
	FsckVfat(t, got)
	if diff := cmp.Diff(RootTree(t, want), RootTree(t, got)); diff != "" {
		t.Errorf("%s: the root differs from %s (-want +got):\n%s", got.Path, want.Path, diff)
	}
	if diff := cmp.Diff(Tree(t, ExtractBoot(t, want)), Tree(t, ExtractBoot(t, got))); diff != "" {
		t.Errorf("%s: the boot partition differs from %s (-want +got):\n%s", got.Path, want.Path, diff)
	}
}

// CopyRanges makes the file path, im.Size() bytes read from fill (a card
// that held something else), or a hole when fill is nil, and copies the
// given ranges of im onto it, as a flasher writes a card.
func CopyRanges(t testing.TB, path string, im *image.Image, ranges []image.Range, fill io.Reader) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fill != nil {
		_, err = io.CopyN(f, fill, im.Size())
	} else {
		err = f.Truncate(im.Size())
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ranges {
		if _, err := io.Copy(io.NewOffsetWriter(f, r.Off), io.NewSectionReader(im, r.Off, r.Len)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
