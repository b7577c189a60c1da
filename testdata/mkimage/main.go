//go:build linux

// Command mkimage makes a Raspberry Pi OS-shaped disk image from
// testdata/rootfs — MBR, FAT32 boot partition, ext4 root, as pi-gen lays
// them out — for `make demo` and for trying recipes by hand:
//
//	go run ./testdata/mkimage OUT.img      # or OUT.img.xz, compressed
//
// It uses e2fsprogs, dosfstools, mtools, fdisk and xz-utils (make deps
// installs them).
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"

	"github.com/pibake/pibake/image/imagetest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkimage OUT.img[.xz]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := mkimage(ctx, os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func mkimage(ctx context.Context, out string) error {
	raw := strings.TrimSuffix(out, ".xz")
	os.Remove(raw)
	if _, err := imagetest.Make(ctx, raw, imagetest.Spec{}); err != nil {
		return err
	}
	if raw == out {
		return nil
	}
	os.Remove(out)
	// -T0 makes a multi-block stream, as Raspberry Pi OS images are.
	cmd := exec.CommandContext(ctx, "xz", "-T0", "-3", raw)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("xz %s: %w", raw, err)
	}
	return nil
}
