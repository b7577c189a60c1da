// Package bake makes a customised Raspberry Pi OS image from a base image
// and a recipe, offline: it copies the base (.img or .img.xz, which is
// never modified) sparsely, applies the recipe to the copy, hands what
// needs the Pi itself (apt, pip, git, commands) to a first-boot agent put
// in the image, checks that the recipe is then in state, and only then
// names the output. A bake that fails or is killed leaves no output file.
//
// A bake with no output, only a card to write (Options.Finished), makes
// no image file at all: it reads the base (through the cache when
// compressed) with the changes held in memory (image.Overlay).
//
// Space is checked before the image is edited: a root filesystem too
// small for the recipe's files fails the bake with the amount missing.
//
// Limits: the root partition is never grown (Raspberry Pi OS grows it to
// the card at its first boot, so what first boot installs has room; what
// the recipe writes offline must fit the base image's free space). What
// first boot will install is not counted.
package bake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/image/firstboot"
	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/recipes"
	"github.com/pibake/pibake/reconcile"
)

// Options say what to bake.
type Options struct {
	// From is the base image; Out the image to write, replacing any file
	// of that name only once the new one is complete.
	From, Out string
	// Compress writes Out as one .xz stream.
	Compress bool
	// Cache is a directory where a compressed base is kept decompressed
	// for the next bake (the two most recently used); "" keeps none.
	Cache string
	// Recipe is the compiled recipe; Secrets the values of its secrets.
	Recipe  *recipes.Recipe
	Secrets recipes.Secrets
	// Agent returns the first-boot agent (a static pibake) for an
	// architecture; nil means the agents built into this pibake.
	Agent func(firstboot.Arch) ([]byte, error)
	// Now is the time ops see; zero means time.Now().
	Now time.Time
	// Report is told about each step applied to the image, then the
	// summary. Nil reports nothing.
	Report reconcile.Reporter
	// Progress is told how far a long phase is; nil is not told.
	Progress func(phase Phase, done, total int64)
	// Logf tells a human what the bake is doing; nil says nothing.
	Logf func(format string, args ...any)
	// Finished, when set, is given the finished image (uncompressed, open
	// for reading) before Out is named: to write a block map, or a card.
	// An error fails the bake, and no Out appears. With Finished, Out may
	// be "": the image is then never written to disk; the base is read
	// (from Cache when compressed) and the bake's changes are held in
	// memory (see image.Overlay).
	Finished func(ctx context.Context, im *image.Image) error
	// Scratch is where a compressed base is decompressed when there is
	// no Cache and no Out, in a file that vanishes with the bake; "" is
	// os.TempDir.
	Scratch string
}

// Phase names a long part of a bake, for progress.
type Phase string

const (
	// PhaseCopy copies (decompresses) the base image; done and total
	// count bytes of the base file.
	PhaseCopy Phase = "copy"
	// PhaseCompress writes the .xz output; done and total count bytes of
	// the image.
	PhaseCompress Phase = "compress"
)

// Result says what a bake made.
type Result struct {
	// Summary counts the steps as applied to the image, the first-boot
	// hand-off included.
	Summary reconcile.Summary
	// FirstBoot is set when the image finishes the recipe at its first
	// boot; Arch is the architecture of the agent put in it.
	FirstBoot bool
	Arch      firstboot.Arch
	// KeptSecrets names the secrets stored in the image for first boot.
	KeptSecrets []string
	// Size is the image's size in bytes (uncompressed).
	Size int64
}

// Bake writes opts.Out from opts.From and opts.Recipe.
func Bake(ctx context.Context, opts Options) (*Result, error) {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.Agent == nil {
		opts.Agent = firstboot.Agent
	}
	if err := checkPaths(opts.From, opts.Out, opts.Finished != nil); err != nil {
		return nil, err
	}
	steps, redact, err := opts.Recipe.Resolve(opts.Secrets)
	if err != nil {
		return nil, err
	}

	if opts.Out == "" {
		return bakeInMemory(ctx, steps, redact, opts)
	}
	work, err := create(workName(opts))
	if err != nil {
		return nil, err
	}
	defer work.discard()
	opts.Logf("reading %s", opts.From)
	size, err := copyBase(ctx, work.f, opts)
	if err != nil {
		return nil, err
	}
	imf, err := work.reopen()
	if err != nil {
		return nil, err
	}
	res, err := editDisk(ctx, imf, size, steps, redact, opts)
	if err != nil {
		return nil, err
	}
	res.Size = size
	if opts.Finished != nil {
		f, err := work.reopen()
		if err != nil {
			return nil, err
		}
		if err := finished(ctx, f, size, opts); err != nil {
			return nil, err
		}
	}

	if opts.Compress {
		out, err := create(opts.Out)
		if err != nil {
			return nil, err
		}
		defer out.discard()
		opts.Logf("compressing %s", opts.Out)
		if err := image.CompressXZ(ctx, out.f, work.f, size, progressOf(opts, PhaseCompress)); err != nil {
			return nil, fmt.Errorf("compressing %s: %w", opts.Out, err)
		}
		work.discard()
		work = out
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := work.commit(); err != nil {
		return nil, err
	}
	return res, nil
}

// bakeInMemory bakes with no output file, for opts.Finished: the base
// (the cache's decompressed copy, or the .img itself) is read through an
// Overlay that holds the bake's changes in memory, and opts.Finished
// reads the image from both. Nothing is written to disk but a compressed
// base's decompression (into the cache, once).
func bakeInMemory(ctx context.Context, steps []*ops.Step, redact func(string) string, opts Options) (*Result, error) {
	opts.Logf("reading %s", opts.From)
	base, release, err := OpenBase(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer release()
	fi, err := base.Stat()
	if err != nil {
		return nil, fmt.Errorf("base image: %w", err)
	}
	ov := image.NewOverlay(base, fi.Size())
	res, err := editDisk(ctx, ov, ov.Size(), steps, redact, opts)
	if err != nil {
		return nil, err
	}
	res.Size = ov.Size()
	ov.Freeze()
	opts.Logf("the bake's changes are held in memory (%.1f MB); the base is read, not copied", float64(ov.Held())/1e6)
	if err := finished(ctx, ov, ov.Size(), opts); err != nil {
		return nil, err
	}
	return res, nil
}

// editDisk opens the image in d, edits it and closes it (d too, if it
// can be closed).
func editDisk(ctx context.Context, d image.Disk, size int64, steps []*ops.Step, redact func(string) string, opts Options) (*Result, error) {
	im, err := openImage(opts.From, d, size, image.Options{})
	if err != nil {
		return nil, err
	}
	res, err := edit(ctx, im, steps, redact, opts)
	if cerr := im.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing the image: %w", cerr)
	}
	return res, err
}

// openImage opens the image in d; after an error, d is closed if it can
// be (as Image.Close would have).
func openImage(name string, d image.Disk, size int64, opts image.Options) (*image.Image, error) {
	im, err := image.OpenDisk(name, d, size, opts)
	if err != nil {
		if c, ok := d.(io.Closer); ok {
			c.Close()
		}
		return nil, err
	}
	return im, nil
}

// finished gives opts.Finished the image in d, read-only.
func finished(ctx context.Context, d image.Disk, size int64, opts Options) error {
	im, err := openImage(opts.From, d, size, image.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	err = opts.Finished(ctx, im)
	if cerr := im.Close(); err == nil {
		err = cerr
	}
	return err
}

// workName is where the image is edited: the output itself, or, when the
// output is compressed, a scratch file beside it.
func workName(opts Options) string {
	if opts.Compress {
		return strings.TrimSuffix(opts.Out, ".xz")
	}
	return opts.Out
}

// checkPaths refuses what would lose data before any work is done.
func checkPaths(from, out string, finished bool) error {
	fromInfo, err := os.Stat(from)
	if err != nil {
		return fmt.Errorf("base image: %w", err)
	}
	if !fromInfo.Mode().IsRegular() {
		return fmt.Errorf("base image %s is not a regular file", from)
	}
	if out == "" {
		if finished {
			return nil
		}
		return errors.New("no output file given")
	}
	if outInfo, err := os.Stat(out); err == nil {
		if os.SameFile(fromInfo, outInfo) {
			return fmt.Errorf("output %s is the base image: a bake never modifies its input; name another output", out)
		}
		if !outInfo.Mode().IsRegular() {
			return fmt.Errorf("output %s exists and is not a regular file (to write a card, use flash)", out)
		}
	}
	if fi, err := os.Stat(filepath.Dir(out)); err != nil || !fi.IsDir() {
		return fmt.Errorf("output %s: directory %s does not exist", out, filepath.Dir(out))
	}
	return nil
}

func progressOf(opts Options, phase Phase) func(done, total int64) {
	if opts.Progress == nil {
		return nil
	}
	return func(done, total int64) { opts.Progress(phase, done, total) }
}

// edit applies the recipe and the first-boot hand-off to im: a plan
// first, to decide the hand-off and check space; then the apply; then a
// plan again, which must find everything in state.
func edit(ctx context.Context, im *image.Image, steps []*ops.Step, redact func(string) string, opts Options) (*Result, error) {
	run := func(steps []*ops.Step, apply bool, rep reconcile.Reporter) (reconcile.Summary, error) {
		return reconcile.Run(ctx, im, steps, reconcile.Options{Apply: apply, Now: opts.Now, Redact: redact}, rep)
	}

	var recipePlan collect
	sum, err := run(steps, false, &recipePlan)
	if err != nil {
		return nil, err
	}
	if sum.Failed > 0 {
		recipePlan.replay(opts.Report)
		return nil, errors.New("the recipe fails on this image (see above); nothing was written")
	}

	res := &Result{}
	all := append([]*ops.Step(nil), steps...)
	respect, err := firstboot.Respect(im, opts.Recipe)
	if err != nil {
		return nil, err
	}
	all = append(all, respect...)
	// A base baked before keeps its hand-off; it must then carry this
	// recipe, not the old one, even if this one needs no first boot.
	_, baked := im.Lstat(firstboot.RecipePath)
	if sum.Deferred > 0 || baked == nil {
		handoff, err := handOff(im, opts, recipePlan.results)
		if err != nil {
			return nil, err
		}
		res.FirstBoot, res.Arch, res.KeptSecrets = true, handoff.arch, handoff.kept
		all = append(all, handoff.steps...)
		if sum.Deferred > 0 {
			opts.Logf("first boot: the %s agent finishes %d step(s) on the Pi", handoff.arch, sum.Deferred)
		} else {
			opts.Logf("first boot: the base was baked before; its hand-off now carries this recipe")
		}
		if len(handoff.kept) > 0 {
			opts.Logf("first boot: secrets %s are kept in %s (mode 0600, root) until the recipe is in state",
				strings.Join(handoff.kept, ", "), firstboot.SecretsPath)
		}
	}

	var fullPlan collect
	if _, err := run(all, false, &fullPlan); err != nil {
		return nil, err
	}
	var n need
	n.addPlan(im, fullPlan.results)
	if err := n.check(im); err != nil {
		return nil, fmt.Errorf("%s: %w", opts.From, err)
	}

	opts.Logf("applying %d steps to the image", len(all))
	res.Summary, err = run(all, true, opts.Report)
	if err != nil {
		return nil, err
	}
	if res.Summary.Failed > 0 {
		return nil, errors.New("a step failed on the image (see above); no output was written")
	}
	var again collect
	sum, err = run(all, false, &again)
	if err != nil {
		return nil, err
	}
	if sum.Failed > 0 || sum.Pending > 0 {
		return nil, fmt.Errorf("the image is not in state after the bake (a bug in pibake): %s", again.pending())
	}
	return res, nil
}

type handoff struct {
	arch  firstboot.Arch
	kept  []string
	steps []*ops.Step
}

// handOff prepares the first-boot steps: the agent for the image's
// architecture, the recipe, and the secrets that deferred steps use.
func handOff(im *image.Image, opts Options, plan []*reconcile.Result) (*handoff, error) {
	arch, err := firstboot.DetectArch(im)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opts.From, err)
	}
	agent, err := opts.Agent(arch)
	if err != nil {
		return nil, fmt.Errorf("the recipe needs a first boot (%s): %w", deferredSteps(plan), err)
	}
	if err := firstboot.CheckAgent(agent, arch); err != nil {
		return nil, err
	}
	secrets := firstboot.SecretsForDeferred(opts.Recipe, plan, opts.Secrets)
	h := &handoff{arch: arch}
	for name := range secrets {
		h.kept = append(h.kept, name)
	}
	sort.Strings(h.kept)
	h.steps, err = (&firstboot.Handoff{Recipe: opts.Recipe, Secrets: secrets, Agent: agent}).Steps()
	if err != nil {
		return nil, err
	}
	return h, nil
}

func deferredSteps(plan []*reconcile.Result) string {
	var names []string
	for _, r := range plan {
		if r.Status == reconcile.StatusDeferred {
			names = append(names, r.Summary)
		}
	}
	if len(names) > 3 {
		names = append(names[:3], fmt.Sprintf("%d more", len(names)-3))
	}
	return strings.Join(names, ", ")
}

// collect is a Reporter that keeps the results.
type collect struct {
	results []*reconcile.Result
	summary reconcile.Summary
}

func (c *collect) Step(r *reconcile.Result) { c.results = append(c.results, r) }
func (c *collect) Done(s reconcile.Summary) { c.summary = s }
func (c *collect) replay(rep reconcile.Reporter) {
	if rep == nil {
		return
	}
	for _, r := range c.results {
		rep.Step(r)
	}
	rep.Done(c.summary)
}

// pending names the steps that are not in state.
func (c *collect) pending() string {
	var s []string
	for _, r := range c.results {
		if r.Status == reconcile.StatusFailed {
			s = append(s, fmt.Sprintf("%s (%s): %v", r.Summary, r.Step.Pos, r.Err))
		} else if r.Status == reconcile.StatusChanged {
			s = append(s, fmt.Sprintf("%s (%s) changes again", r.Summary, r.Step.Pos))
		}
	}
	return strings.Join(s, "; ")
}
