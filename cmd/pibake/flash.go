package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/image/bake"
	"github.com/pibake/pibake/image/flash"
)

// flashFlags are how a card is written, by flash and by bake --device.
type flashFlags struct {
	device string
	yes    bool
	force  bool
}

// registerNoCache adds --no-cache, for the commands that read bases.
func registerNoCache(cmd *cobra.Command, noCache *bool) {
	cmd.Flags().BoolVar(noCache, "no-cache", false, "do not keep a decompressed copy of an .xz image for the next bake or flash")
}

func (f *flashFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.device, "device", "", "the card's whole-disk `DEVICE` (/dev/sdX, /dev/mmcblkN; /dev/diskN on macOS; \\\\.\\PhysicalDriveN on Windows)")
	cmd.Flags().BoolVarP(&f.yes, "yes", "y", false, "do not ask before writing the device")
	cmd.Flags().BoolVar(&f.force, "force", false, "write a device that is not removable media (never one mounted or holding this system)")
}

func newFlash(io *streams) *cobra.Command {
	var (
		flags   flashFlags
		asJSON  bool
		list    bool
		noCache bool
	)
	cmd := &cobra.Command{
		Use:   "flash IMAGE --device DEVICE",
		Short: "Write an image to an SD card: only the blocks in use, verified",
		Long: `flash writes IMAGE (.img or .img.xz) to the card DEVICE, writing only what the
image's filesystems use (read from the FAT32 and ext4 allocation maps) and
its partition table, so that free space costs nothing. The card's first
4 KiB are zeroed first and written last, after every other block was read
back and compared (SHA-256): a card interrupted or badly written has no
partition table, and is never mistaken for a good one.

A device that is mounted (any partition), holds the running system or is
smaller than the image is refused; one that is not removable media is
refused unless --force. flash shows the device and asks before writing,
unless --yes. --list shows the disks this system has.

An .xz image is decompressed once into the cache bake uses (pibake/bases
in the user's cache directory), so the next card, or a bake from it,
starts at once; --no-cache decompresses to a temporary file instead.`,
		Example: `  pibake flash --list
  pibake flash robot.img --device /dev/sdb
  pibake flash robot.img.xz --device /dev/mmcblk0 --yes`,
		Args: func(cmd *cobra.Command, args []string) error {
			if list {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if list {
			return listDevices(io, asJSON)
		}
		if flags.device == "" {
			return errors.New("no --device given (pibake flash --list shows the disks)")
		}
		// Refuse a wrong device before decompressing anything.
		dev, err := flash.Inspect(flags.device)
		if err != nil {
			return err
		}
		prog := newProgress(io, asJSON)
		base, release, err := bake.OpenBase(cmd.Context(), bake.Options{
			From:     args[0],
			Cache:    baseCache(noCache),
			Progress: bakeProgress(prog),
			Logf:     logTo(io, prog),
		})
		if err != nil {
			return err
		}
		defer release()
		im, err := image.OpenFile(args[0], base, image.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		defer im.Close()
		return flashImage(cmd.Context(), io, im, args[0], dev, flags, prog, asJSON)
	}
	flags.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON objects (progress, result) instead of text")
	cmd.Flags().BoolVar(&list, "list", false, "list the disks (removable media first) and exit")
	registerNoCache(cmd, &noCache)
	return cmd
}

// flashEvent is flash's result with --json.
type flashEvent struct {
	Type     string  `json:"type"`
	Image    string  `json:"image"`
	Device   string  `json:"device"`
	Size     int64   `json:"size"`
	Used     int64   `json:"used"`
	Written  int64   `json:"written"`
	Verified int64   `json:"verified"`
	Seconds  float64 `json:"seconds"`
}

// flashImage writes im to dev after the checks and the confirmation.
func flashImage(ctx context.Context, io *streams, im *image.Image, name string, dev *flash.Device, f flashFlags, prog *progress, asJSON bool) error {
	size := im.Size()
	if err := dev.Check(size, f.force); err != nil {
		return err
	}
	used, err := im.UsedRanges()
	if err != nil {
		return fmt.Errorf("%s: reading what the filesystems use: %w", name, err)
	}
	ranges := make([]flash.Range, len(used))
	var usedBytes int64
	for i, r := range used {
		ranges[i] = flash.Range{Off: r.Off, Len: r.Len}
		usedBytes += r.Len
	}
	if !f.yes {
		if err := confirm(io, dev, fmt.Sprintf("Write %s (%s, %s in use) to %s? Everything on it will be lost.",
			name, flash.HumanSize(size), flash.HumanSize(usedBytes), dev.Path)); err != nil {
			return err
		}
	}
	start := time.Now()
	res, err := flash.Write(ctx, dev, im, size, ranges, flash.Options{
		Progress: func(p flash.Progress) {
			prog.update(p.Phase, flashPhase[p.Phase], p.Done, p.Total)
		},
	})
	prog.finish()
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	if asJSON {
		enc := json.NewEncoder(io.stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(flashEvent{Type: "flash", Image: name, Device: dev.Path, Size: size, Used: usedBytes,
			Written: res.Written, Verified: res.Verified, Seconds: elapsed.Seconds()})
	}
	fmt.Fprintf(io.stderr, "pibake: wrote %s to %s: %s of %s written (%.1f MB/s) and verified, in %s\n",
		name, dev.Path, flash.HumanSize(res.Written), flash.HumanSize(size),
		float64(res.Written)/1e6/max(res.WriteTime.Seconds(), 1e-3), elapsed.Round(100*time.Millisecond))
	return nil
}

var flashPhase = map[string]string{
	"write":  "writing",
	"verify": "verifying",
}

// confirm shows the device and asks on the terminal; without one, the
// answer must be given with --yes.
func confirm(io *streams, dev *flash.Device, question string) error {
	in, ok := io.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return fmt.Errorf("%s: not writing without a confirmation: no terminal to ask on (pass --yes)", dev.Path)
	}
	fmt.Fprintf(io.stderr, "%s\n%s [y/N] ", dev.Describe(), question)
	line, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return fmt.Errorf("%s: not written", dev.Path)
}

// listDevices prints the disks, removable ones first.
func listDevices(io *streams, asJSON bool) error {
	devs, err := flash.List()
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(io.stdout)
		enc.SetEscapeHTML(false)
		for _, d := range devs {
			if err := enc.Encode(d); err != nil {
				return err
			}
		}
		return nil
	}
	for _, removable := range []bool{true, false} {
		for _, d := range devs {
			if d.Removable == removable {
				fmt.Fprintln(io.stdout, d.Describe())
			}
		}
	}
	return nil
}
