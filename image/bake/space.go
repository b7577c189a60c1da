package bake

import (
	"fmt"
	"strings"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/reconcile"
)

// need estimates the space the file changes of a plan take on each
// filesystem of im, in bytes: new content rounded up to whole blocks and a
// block per directory or long link, less what replaced files held. It
// errs on the generous side; the filesystems themselves refuse a write
// that does not fit, so a low estimate only means a later, equally clear,
// error.
type need struct {
	root, boot int64
}

func (n *need) add(im *image.Image, sys ops.System, c *ops.Change) {
	if c.Path == "" {
		return
	}
	onBoot := im.BootMount() != "" && (c.Path == im.BootMount() || strings.HasPrefix(c.Path, im.BootMount()+"/"))
	unit := int64(4096)
	if !onBoot {
		unit = im.Root().Statfs().BlockSize
	}
	round := func(n int64) int64 { return (n + unit - 1) / unit * unit }
	var bytes int64
	switch c.Kind {
	case ops.Write:
		bytes = round(int64(len(c.Content)))
		// An extent tree block for big files, a little more than needed.
		bytes += round(int64(len(c.Content))/(128<<20)*unit + 1)
		if old, err := sys.Lstat(c.Path); err == nil && old.Mode.IsRegular() {
			bytes -= round(old.Size)
		}
	case ops.Mkdir:
		bytes = unit
	case ops.Symlink:
		if len(c.Target) >= 60 {
			bytes = unit
		}
	}
	if onBoot {
		n.boot += bytes
	} else {
		n.root += bytes
	}
}

func (n *need) addPlan(im *image.Image, results []*reconcile.Result) {
	for _, r := range results {
		for _, c := range r.Changes {
			n.add(im, im, c.Change)
		}
	}
}

// check says how much is missing, if anything, on each filesystem.
func (n *need) check(im *image.Image) error {
	st := im.Root().Statfs()
	free := int64(st.FreeBlocks) * st.BlockSize
	if n.root > free {
		return fmt.Errorf("the root filesystem is too small for the recipe: it needs about %s more, %s are free: %s missing (use a base image with a bigger root partition)",
			mib(n.root), mib(free), mib(n.root-free))
	}
	if bootFree := im.Boot().FreeBytes(); n.boot > bootFree {
		return fmt.Errorf("the boot partition is too small for the recipe: it needs about %s more, %s are free: %s missing",
			mib(n.boot), mib(bootFree), mib(n.boot-bootFree))
	}
	return nil
}

func mib(n int64) string {
	if n < 10<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d MiB", (n+(1<<20)-1)>>20)
}
