//go:build linux

package ext4

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHtreeGrowth inserts enough long names into an indexed directory to
// fill leaves, fill the root, add an index level and split an interior
// node; e2fsck must agree with every step and every name must be found.
func TestHtreeGrowth(t *testing.T) {
	needTools(t)
	src := t.TempDir()
	dir := filepath.Join(src, "d")
	os.Mkdir(dir, 0o755)
	for i := range 400 {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), nil, 0o644)
	}
	long := func(i int) string { return fmt.Sprintf("%04d-%s", i, strings.Repeat("n", 190)) }
	for _, tc := range []struct {
		p     profile
		count int
	}{{profiles[4], 600}, {profiles[0], 400}} {
		t.Run(tc.p.name, func(t *testing.T) {
			img := mkfs(t, tc.p, 32, src)
			index(t, img)
			fsys, _ := openImage(t, img, Options{})
			for i := range tc.count {
				if err := fsys.WriteFile("/d/"+long(i), strings.NewReader(fmt.Sprint(i)), Attr{Mode: 0o644}); err != nil {
					t.Fatalf("WriteFile #%d: %v", i, err)
				}
			}
			for i := 0; i < tc.count; i += 3 {
				if err := fsys.Remove("/d/" + long(i)); err != nil {
					t.Fatalf("Remove #%d: %v", i, err)
				}
			}
			fsck(t, img)
			for i := range tc.count {
				data, err := fsys.ReadFile("/d/" + long(i))
				if i%3 == 0 {
					if err == nil {
						t.Errorf("ReadFile(removed #%d) succeeded", i)
					}
				} else if err != nil || string(data) != fmt.Sprint(i) {
					t.Errorf("ReadFile(#%d) = %q, %v", i, data, err)
				}
			}
			out := debugfs(t, img, "htree /d")
			levels := regexp.MustCompile(`Indirect levels: (\d+)`).FindStringSubmatch(out)
			t.Logf("htree: %s indirect levels, %d index entries", levels[1], strings.Count(out, "Entry #"))
			if tc.p.blockSize == 1024 && levels[1] != "1" {
				t.Errorf("1 KiB blocks: %s indirect levels after %d long names, want 1", levels[1], tc.count)
			}
			ents, err := fsys.ReadDir("/d")
			if err != nil || len(ents) != 400+tc.count-(tc.count+2)/3 {
				t.Errorf("ReadDir(/d) = %d entries, %v", len(ents), err)
			}
		})
	}
}
