package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/image/bake"
	"github.com/pibake/pibake/image/bmap"
	"github.com/pibake/pibake/image/firstboot"
	"github.com/pibake/pibake/image/flash"
	"github.com/pibake/pibake/recipes"
)

func newBake(io *streams) *cobra.Command {
	var (
		flags    recipeFlags
		from     string
		out      string
		compress string
		secrets  string
		agent    string
		noCache  bool
		asJSON   bool
		showOK   bool
		bmapFile string
		card     flashFlags
	)
	cmd := &cobra.Command{
		Use:   "bake RECIPE --from BASE.img[.xz] (--out OUT.img | --device DEVICE)",
		Short: "Make a customised Raspberry Pi OS image from a recipe, offline",
		Long: `bake copies the base image (never modifying it), applies RECIPE to the copy
offline — files, users, keys, hostname, Wi-Fi, firmware settings — and puts
in it a first-boot agent that finishes on the Pi what needs the Pi itself
(apt, pip, git, commands), then leaves it disabled once the recipe is in
state. OUT appears only when complete: a bake that fails or is killed
leaves no file named OUT.

An .xz base is decompressed once and kept (sparse) in the user's cache
directory, pibake/bases, for the next bakes from it; the two most recently
used are kept. --no-cache keeps none.

Secrets the first boot needs are stored in the image (mode 0600, root) and
removed once the recipe is in state; the bake says which.

--device writes the baked image straight to a card, as flash does (with
or without --out): the device is checked, and confirmed, before the bake.
Without --out no image file is made: the base is read (from the cache)
and the bake's changes are held in memory until they are on the card.
--bmap also writes a block map of OUT for bmaptool.`,
		Example: `  pibake bake robot.star --from raspios-bookworm-arm64-lite.img.xz --out robot.img
  pibake bake robot.star --from base.img --out robot.img.xz --compress xz --secrets robot.env
  pibake bake robot.star --from raspios-bookworm-arm64-lite.img.xz --device /dev/sdb
  pibake bake robot.star --from base.img --out robot.img --bmap robot.bmap`,
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		switch {
		case compress != "" && compress != "xz" && compress != "none":
			return fmt.Errorf("--compress %s: want xz or none", compress)
		case compress == "" && strings.HasSuffix(out, ".xz"):
			compress = "xz"
		case compress == "none" && strings.HasSuffix(out, ".xz"):
			return fmt.Errorf("--out %s names an .xz file, but --compress is none", out)
		case out == "" && card.device == "":
			return errors.New("no --out or --device given: bake writes an image file, a card, or both")
		case bmapFile != "" && out == "":
			return errors.New("--bmap describes the --out image: give --out too")
		}
		var dev *flash.Device
		if card.device != "" {
			var err error
			if dev, err = flash.Inspect(card.device); err != nil {
				return err
			}
			// All but the size is checked before the bake; the size after.
			if err := dev.Check(0, card.force); err != nil {
				return err
			}
			if !card.yes {
				if err := confirm(io, dev, fmt.Sprintf("Bake %s and write it to %s? Everything on it will be lost.", args[0], dev.Path)); err != nil {
					return err
				}
				card.yes = true
			}
		}
		recipe, err := flags.load(args[0])
		if err != nil {
			return err
		}
		vault, err := recipes.LoadSecrets(secrets, os.Environ())
		if err != nil {
			return err
		}
		cache := baseCache(noCache)
		prog := newProgress(io, asJSON)
		opts := bake.Options{
			From:     from,
			Out:      out,
			Compress: compress == "xz",
			Cache:    cache,
			Recipe:   recipe,
			Secrets:  vault,
			Now:      time.Now(),
			Report:   newReporter(io, asJSON, showOK),
			Progress: bakeProgress(prog),
			Logf:     logTo(io, prog),
		}
		if dev != nil || bmapFile != "" {
			opts.Finished = func(ctx context.Context, im *image.Image) error {
				if bmapFile != "" {
					if err := writeBmap(bmapFile, im, out); err != nil {
						return err
					}
				}
				if dev == nil {
					return nil
				}
				name := out
				if name == "" {
					name = "the baked image"
				}
				return flashImage(ctx, io, im, name, dev, card, prog, asJSON)
			}
		}
		if agent != "" {
			opts.Agent = func(firstboot.Arch) ([]byte, error) {
				b, err := os.ReadFile(agent)
				if err != nil {
					return nil, fmt.Errorf("--agent: %w", err)
				}
				return b, nil
			}
		}
		res, err := bake.Bake(cmd.Context(), opts)
		prog.finish()
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(io.stdout)
			enc.SetEscapeHTML(false)
			return enc.Encode(bakeEvent{Type: "bake", Out: out, Size: res.Size, FirstBoot: res.FirstBoot,
				Arch: string(res.Arch), KeptSecrets: res.KeptSecrets, Reboot: res.Summary.Reboot})
		}
		if out != "" {
			fmt.Fprintf(io.stderr, "pibake: baked %s (%s)\n", out, bytesString(res.Size))
		}
		return nil
	}
	flags.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", "base image `FILE` (.img or .img.xz), never modified")
	cmd.Flags().StringVarP(&out, "out", "o", "", "image `FILE` to write (replaced only when complete)")
	cmd.Flags().StringVar(&compress, "compress", "", "compress the output: xz (the default for an --out ending in .xz) or none")
	cmd.Flags().StringVar(&secrets, "secrets", "", "`FILE` of NAME=value lines for secret(\"NAME\") (the environment overrides it)")
	cmd.Flags().StringVar(&agent, "agent", "", "first-boot agent `FILE`: a static pibake for the image's architecture (default: the one built in)")
	registerNoCache(cmd, &noCache)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line (steps, progress, result) instead of text")
	cmd.Flags().BoolVar(&showOK, "show-ok", false, "also list operations already in state")
	cmd.Flags().StringVar(&bmapFile, "bmap", "", "also write a block map of the image to `FILE` (for bmaptool copy)")
	card.register(cmd)
	cmd.MarkFlagRequired("from")
	return cmd
}

// baseCache is where decompressed bases are kept ("" with --no-cache, or
// when the system has no cache directory).
func baseCache(noCache bool) string {
	if noCache {
		return ""
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "pibake", "bases")
}

// bakeProgress shows a bake's long phases on prog.
func bakeProgress(prog *progress) func(bake.Phase, int64, int64) {
	return func(phase bake.Phase, done, total int64) {
		prog.update(string(phase), phaseDescription[phase], done, total)
	}
}

// logTo tells a human on stderr, after any progress bar.
func logTo(io *streams, prog *progress) func(string, ...any) {
	return func(format string, args ...any) {
		prog.finish()
		fmt.Fprintf(io.stderr, "pibake: "+format+"\n", args...)
	}
}

var phaseDescription = map[bake.Phase]string{
	bake.PhaseCopy:     "base image",
	bake.PhaseCompress: "compressing",
}

type bakeEvent struct {
	Type        string   `json:"type"`
	Out         string   `json:"out"`
	Size        int64    `json:"size"`
	FirstBoot   bool     `json:"first_boot"`
	Arch        string   `json:"arch,omitempty"`
	KeptSecrets []string `json:"kept_secrets,omitempty"`
	Reboot      bool     `json:"reboot,omitempty"`
}

// bytesString is n in IEC units: "2.0 GiB".
func bytesString(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// writeBmap writes the block map of im to file, atomically: bmaptool
// checks the image it is given (named imageName) against it.
func writeBmap(file string, im *image.Image, imageName string) error {
	used, err := im.UsedRanges()
	if err != nil {
		return fmt.Errorf("--bmap: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".pibake-*")
	if err != nil {
		return fmt.Errorf("--bmap: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = bmap.Write(tmp, im, im.Size(), used, filepath.Base(imageName))
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}
