//go:build linux

package main

import (
	"context"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pibake/pibake/image/imagetest"
)

// scriptCmds adds, on Linux, the script commands that need real images:
//
//	mkimage NAME      copy a cached Raspberry Pi OS-shaped image to NAME
//	judge NAME        e2fsck -fn and fsck.vfat -n must pass on NAME
func scriptCmds(cmds map[string]func(*testscript.TestScript, bool, []string)) map[string]func(*testscript.TestScript, bool, []string) {
	cmds["mkimage"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 1 {
			ts.Fatalf("usage: mkimage NAME")
		}
		img, err := imagetest.Cached(context.Background(), imagetest.Spec{Small: true}, false, ts.Logf)
		ts.Check(err)
		_, err = img.CopyTo(ts.MkAbs(args[0]))
		ts.Check(err)
	}
	cmds["judge"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 1 {
			ts.Fatalf("usage: judge NAME")
		}
		img, err := imagetest.Layout(imagetest.Spec{Small: true})
		ts.Check(err)
		img.Path = filepath.Clean(ts.MkAbs(args[0]))
		ctx := context.Background()
		ts.Check(imagetest.CheckRoot(ctx, img))
		ts.Check(imagetest.CheckBoot(ctx, img))
	}
	return cmds
}
