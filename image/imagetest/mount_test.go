//go:build linux

package imagetest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The debugfs readers must see what the kernel sees: every file's type,
// mode, owner, links, size, content and target.
func TestRootTreeAgreesWithMount(t *testing.T) {
	for _, p := range []Profile{PiGen, E2fs147} {
		t.Run(string(p), func(t *testing.T) {
			img := Build(t, Spec{Profile: p})
			want := Tree(t, LoopMountRoot(t, img))
			got := RootTree(t, img)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("RootTree differs from the mounted tree (-mount +debugfs):\n%s", diff)
			}
			if len(got) < EtcExtras+UsrBinExtras {
				t.Errorf("RootTree has %d entries, want more than %d", len(got), EtcExtras+UsrBinExtras)
			}
		})
	}
}

func TestLoopMountBoot(t *testing.T) {
	img := Build(t, Spec{})
	files, err := BootFiles(img.DiskID)
	if err != nil {
		t.Fatal(err)
	}
	dir := LoopMountBoot(t, img)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil || digest(b) != digest(f.Data) {
			t.Errorf("mounted %s: %v, or its content differs", f.Path, err)
		}
	}
}
