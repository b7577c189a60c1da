package bake_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/image/bake"
	"github.com/pibake/pibake/image/imagetest"
	"github.com/pibake/pibake/recipes/recipetest"
)

const recipe = `
files.put("/etc/robot.conf", content = "speed = 3\n")
files.put("/opt/robot/model.bin", content = "weights " * 200000)
files.put("/boot/firmware/robot.txt", content = "hello from the card\n")
`

// TestBakeInMemory bakes with no output file, as bake --device does: the
// image given to Finished must hold the recipe and check clean, while no
// file is open for writing (the cached base is only read and the changes
// are in memory), the base and the cache stay as they were, and nothing
// is left behind.
func TestBakeInMemory(t *testing.T) {
	spec := imagetest.Spec{Small: true}
	from := imagetest.BuildXZ(t, spec)
	fromSum := imagetest.SHA256(t, from)
	r := recipetest.Compile(t, recipe)
	shared := filepath.Join(t.TempDir(), "bases")
	for _, tc := range []struct {
		name  string
		cache string
		say   string
	}{
		{"cold cache", shared, "kept a decompressed copy"},
		{"warm cache", shared, "using"},
		{"no cache", "", "held in memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache, scratch := tc.cache, t.TempDir()
			before := writableFiles(t)
			var log strings.Builder
			got := filepath.Join(t.TempDir(), "card.img")
			opts := bake.Options{
				From: from, Cache: cache, Scratch: scratch, Recipe: r,
				Logf: func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) },
				Finished: func(ctx context.Context, im *image.Image) error {
					if cache != "" {
						for fd, name := range writableFiles(t) {
							if before[fd] != name {
								t.Errorf("while the image is given to Finished, %s is open for writing", name)
							}
						}
					}
					ranges, err := im.UsedRanges()
					if err != nil {
						return err
					}
					imagetest.CopyRanges(t, got, im, ranges, nil)
					return nil
				},
			}
			if _, err := bake.Bake(context.Background(), opts); err != nil {
				t.Fatalf("%v\n%s", err, log.String())
			}
			t.Logf("%s", log.String())
			for _, want := range []string{tc.say, "held in memory"} {
				if !strings.Contains(log.String(), want) {
					t.Errorf("the bake did not say %q", want)
				}
			}
			img, err := imagetest.Layout(spec)
			if err != nil {
				t.Fatal(err)
			}
			img.Path = got
			imagetest.E2fsck(t, img)
			imagetest.FsckVfat(t, img)
			if b := imagetest.ReadFile(t, img, "/opt/robot/model.bin"); !bytes.Equal(b, bytes.Repeat([]byte("weights "), 200000)) {
				t.Errorf("/opt/robot/model.bin: %d bytes, not the recipe's", len(b))
			}
			if b := imagetest.BootFile(t, img, "/robot.txt"); string(b) != "hello from the card\n" {
				t.Errorf("/robot.txt on the boot partition = %q", b)
			}
			if imagetest.SHA256(t, from) != fromSum {
				t.Errorf("the base %s changed", from)
			}
			if left, _ := os.ReadDir(scratch); len(left) > 0 {
				t.Errorf("the bake left %d file(s) in the scratch directory", len(left))
			}
			if cache != "" {
				bases, _ := filepath.Glob(filepath.Join(cache, "*"))
				if len(bases) != 1 || !strings.HasSuffix(bases[0], ".img") {
					t.Errorf("the cache holds %q, want the one decompressed base", bases)
				}
			}
		})
	}
}

// writableFiles maps this process's file descriptors open for writing on
// regular files to the files' names.
func writableFiles(t *testing.T) map[string]string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, fd := range fds {
		name, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err != nil {
			continue // closed since
		}
		fi, err := os.Stat("/proc/self/fd/" + fd.Name())
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + fd.Name())
		if err != nil {
			continue
		}
		var flags int
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				fmt.Sscanf(strings.TrimSpace(v), "%o", &flags)
			}
		}
		if flags&3 != 0 { // O_WRONLY or O_RDWR
			out[fd.Name()] = name
		}
	}
	return out
}
