package fat_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"sort"
	"strings"
	"testing"

	"github.com/pibake/pibake/image/fat"
)

// TestRandomSequences applies seeded random sequences of writes, removals,
// directory changes and renames, and judges the filesystem after each
// sequence with fsck.vfat -n, mtools and a fresh FS.
func TestRandomSequences(t *testing.T) {
	const sequences, perSequence = 8, 80
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			for seed := uint64(1); seed <= sequences; seed++ {
				t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
					img := l.make(t)
					fsys := open(t, img)
					r := &randomFS{t: t, fsys: fsys, rand: rand.New(rand.NewPCG(seed, 42)), want: newTree()}
					for range perSequence {
						r.step()
					}
					if t.Failed() {
						return
					}
					defer func() {
						if t.Failed() {
							t.Logf("the sequence:\n%s", strings.Join(r.log, "\n"))
						}
					}()
					check(t, img, r.want)
				})
			}
		})
	}
}

type randomFS struct {
	t    *testing.T
	fsys *fat.FS
	rand *rand.Rand
	want *tree
	log  []string
}

var (
	randomStems = []string{"config", "Config Backup", "cmdline", "vc4-kms-v3d", "overlay", "README", "a", "x y z", ".hidden", "café", "日本", "Long File Name With Spaces", "kernel8"}
	randomExts  = []string{"", ".txt", ".TXT", ".dtbo", ".json", ".tar.gz", ".img"}
)

func (r *randomFS) pick(list []string) string { return list[r.rand.IntN(len(list))] }

func (r *randomFS) dirs() []string {
	dirs := []string{"/"}
	for d := range r.want.Dirs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	return dirs
}

func (r *randomFS) files() []string {
	var files []string
	for f := range r.want.Files {
		files = append(files, f)
	}
	sort.Strings(files)
	return files
}

// existing is the name already in dir that FAT would take name for
// (names match ignoring case), or "".
func (r *randomFS) existing(dir, name string) string {
	for p := range r.want.Files {
		if path.Dir(p) == dir && strings.EqualFold(path.Base(p), name) {
			return p
		}
	}
	for p := range r.want.Dirs {
		if path.Dir(p) == dir && strings.EqualFold(path.Base(p), name) {
			return p
		}
	}
	return ""
}

func (r *randomFS) newName() string {
	name := r.pick(randomStems)
	if r.rand.IntN(2) == 0 {
		name += fmt.Sprint(" ", r.rand.IntN(20))
	}
	return name + r.pick(randomExts)
}

func (r *randomFS) content() string {
	switch r.rand.IntN(6) {
	case 0:
		return ""
	case 1:
		return sized(512 * (1 + r.rand.IntN(8))) // whole clusters
	case 2:
		return sized(r.rand.IntN(30000))
	}
	return sized(r.rand.IntN(1500))
}

func (r *randomFS) do(format string, args ...any) {
	r.log = append(r.log, fmt.Sprintf(format, args...))
}

func (r *randomFS) step() {
	t := r.t
	t.Helper()
	switch op := r.rand.IntN(12); {
	case op < 5: // write a new or existing file
		dir := r.pick(r.dirs())
		name := path.Join(dir, r.newName())
		if old := r.existing(dir, path.Base(name)); old != "" {
			name = old
		}
		if r.want.Dirs[name] {
			return
		}
		c := r.content()
		r.do("WriteFile(%q, %d bytes)", name, len(c))
		if err := r.fsys.WriteFile(name, []byte(c), fat.FileMode); err != nil {
			t.Fatalf("WriteFile(%q): %v", name, err)
		}
		r.want.Files[name] = c
	case op < 7: // make a directory
		dir := r.pick(r.dirs())
		base := r.pick(randomStems) + fmt.Sprint(" dir ", r.rand.IntN(5))
		if r.existing(dir, base) != "" {
			return
		}
		name := path.Join(dir, base)
		r.do("Mkdir(%q)", name)
		if err := r.fsys.Mkdir(name, fat.DirMode); err != nil {
			t.Fatalf("Mkdir(%q): %v", name, err)
		}
		r.want.Dirs[name] = true
	case op < 9: // remove a file
		files := r.files()
		if len(files) == 0 {
			return
		}
		name := r.pick(files)
		r.do("Remove(%q)", name)
		if err := r.fsys.Remove(name); err != nil {
			t.Fatalf("Remove(%q): %v", name, err)
		}
		delete(r.want.Files, name)
	case op < 10: // remove a directory, empty or not
		dirs := r.dirs()[1:]
		if len(dirs) == 0 {
			return
		}
		name := r.pick(dirs)
		empty := true
		for p := range r.want.Files {
			empty = empty && !strings.HasPrefix(p, name+"/")
		}
		for p := range r.want.Dirs {
			empty = empty && !strings.HasPrefix(p, name+"/")
		}
		r.do("Remove(%q) (empty: %v)", name, empty)
		err := r.fsys.Remove(name)
		switch {
		case empty && err != nil:
			t.Fatalf("Remove(%q): %v", name, err)
		case !empty && !errors.Is(err, fat.ErrNotEmpty):
			t.Fatalf("Remove(%q) of a non-empty directory: %v, want ErrNotEmpty", name, err)
		case empty:
			delete(r.want.Dirs, name)
		}
	default: // rename a file, or a directory to a place outside itself
		candidates := append(r.files(), r.dirs()[1:]...)
		if len(candidates) == 0 {
			return
		}
		from := r.pick(candidates)
		isDir := r.want.Dirs[from]
		var dirs []string
		for _, d := range r.dirs() {
			if !isDir || (d != from && !strings.HasPrefix(d, from+"/")) {
				dirs = append(dirs, d)
			}
		}
		dir := r.pick(dirs)
		to := path.Join(dir, r.newName())
		if old := r.existing(dir, path.Base(to)); old != "" {
			if isDir || r.want.Dirs[old] || old == from {
				return
			}
			to = old
		}
		r.do("Rename(%q, %q)", from, to)
		rename(from, to)(t, r.fsys, r.want)
	}
}
