// Package reconcile is pibake's engine: it walks a recipe's steps in order
// against one target (an image, a directory, this machine, a Pi over SSH),
// planning each op and, when asked, applying its changes before the next
// op plans. It reports what each step did or would do, with unified diffs
// for file content.
//
// A plan is exact for files: each op plans against an overlay of the
// target, the target's files with the file changes planned by earlier steps
// laid over them (writes, modes and owners, directories, links, removed
// trees), resolved chroot-like. A user added to /etc/passwd by one step is
// an owner the next step can name. Exec changes are not simulated: a plan
// reports them, and the ops see the target as it was before them.
//
// Commands: a target without ops.Runner (an image, a directory) never runs
// one; its exec changes are "deferred" to the Pi's first boot. A live-only
// exec (start a service, load a module) on a target not booted with
// systemd is skipped, because booting does it.
//
// Step status: "failed" if planning or applying failed; else "deferred"
// if any exec change was deferred (file changes may come with it); else
// "changed" if any change is made (apply) or would be (plan); else "ok".
// Skipped changes change nothing. A step that is not run (after a failure
// in an apply without KeepGoing, once the context is cancelled, or when
// Options.Skip names it) is "skipped".
//
// Env.Changed(id) is true when step id made or would make at least one
// change in this run, deferred ones included, skipped ones not; for a
// failed step, the changes made before it failed count.
//
// What it does not do: run targets in parallel (the caller does, one Run
// per target), roll back a failed step, or simulate commands in a plan.
package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pibake/pibake/ops"
)

// Options control a Run.
type Options struct {
	// Apply makes the changes; otherwise Run only plans.
	Apply bool
	// Now is the time ops see (Env.Now); zero means time.Now().
	Now time.Time
	// Redact is applied to everything reported: descriptions, diffs,
	// notes, errors, op summaries. Nil leaves text alone.
	Redact func(string) string
	// KeepGoing continues an apply after a failed step. Without it the
	// later steps are not run and are reported "skipped". A plan always
	// goes on (it changes nothing); later steps then plan without the
	// failed step's changes.
	KeepGoing bool
	// Skip names steps, by ID, not to run: each is reported "skipped"
	// with its note (redacted), and changes nothing. First boot skips the
	// steps whose secrets were not kept on the Pi.
	Skip map[string]string
	// ReadAhead marks a pass that only learns what a run reads (a
	// Prefetcher's): ops see it as Env.ReadAhead.
	ReadAhead bool
}

// A Prefetcher is a target whose reads are costly one by one (a Pi over
// SSH: a round trip each). Before a run, Run calls Prefetch with a pass
// that plans all the steps, quietly, against a view the target gives; the
// target learns from what the pass reads, and fetches it in bulk. The view
// must not be a Prefetcher itself.
type Prefetcher interface {
	Prefetch(ctx context.Context, pass func(view ops.System) error) error
}

// Status is what happened to one step.
type Status string

const (
	StatusOK       Status = "ok"
	StatusChanged  Status = "changed"
	StatusDeferred Status = "deferred"
	StatusFailed   Status = "failed"
	StatusSkipped  Status = "skipped"
)

// Result is what one step did (apply) or would do (plan).
type Result struct {
	Step *ops.Step
	// Summary is the op's Summary, redacted.
	Summary string
	Status  Status
	Changes []ChangeReport
	// Notes are redacted remarks on the step: "reboot required".
	Notes []string
	// Err is why the step failed, with a redacted message (its Unwrap
	// gives the original error, for errors.Is).
	Err error
}

// ChangeReport is one change of a step, as reported. Change is the raw
// change (it may hold secrets in Content or an Exec); reporters print the
// redacted Description, Diff and Note only.
type ChangeReport struct {
	Change *ops.Change
	// Path is Change.Path, redacted.
	Path string
	// Description says what the change does to the target as it was:
	// "update /etc/hostname (mode 0644 → 0600)".
	Description string
	// Diff is a unified diff of a Write's content, or a line saying why
	// there is none ("(sensitive content not shown)"); empty otherwise.
	Diff string
	// Deferred: an exec the target cannot run; the Pi's first boot does.
	Deferred bool
	// Skipped: not made (a live-only exec on a target that is not live,
	// or a change after one that failed). Note says which.
	Skipped bool
	Note    string
}

// Summary counts the steps of a run by status.
type Summary struct {
	OK, Changed, Deferred, Failed, Skipped int
	// Pending counts the steps that change, or would change, the target
	// in this run: all "changed" steps, and "deferred" ones that also have
	// changes the target makes itself (file changes on an image). A plan
	// with none is in state: exec changes deferred to first boot alone do
	// not count, since no run on this target can make them.
	Pending int
	// Reboot is set when a change made, or to be made, takes effect only
	// after a reboot (config.txt, cmdline.txt).
	Reboot bool
}

// A Reporter is told about each step as it finishes, then about the end
// of the run. Run calls it from one goroutine.
type Reporter interface {
	Step(*Result)
	Done(Summary)
}

const (
	noteReboot    = "reboot required"
	noteNotLive   = "skipped: target not booted with systemd; takes effect at boot"
	noteDeferred  = "deferred: the target cannot run commands; first boot runs it"
	noteNotMade   = "skipped: an earlier change of this step failed"
	noteStopped   = "not run: an earlier step failed"
	noteCancelled = "not run: cancelled"
)

// Run plans (and with opts.Apply, applies) steps against sys in order,
// reporting each step to rep (which may be nil). Failed steps are in the
// results and the summary; the error is for the run itself: invalid steps,
// or a cancelled context (the remaining steps are reported skipped).
func Run(ctx context.Context, sys ops.System, steps []*ops.Step, opts Options, rep Reporter) (Summary, error) {
	if sys == nil {
		return Summary{}, errors.New("reconcile: no target")
	}
	if err := checkSteps(steps); err != nil {
		return Summary{}, err
	}
	if rep == nil {
		rep = discard{}
	}
	e := &engine{opts: opts, sys: sys, changed: map[string]bool{}}
	if e.opts.Now.IsZero() {
		e.opts.Now = time.Now()
	}
	if e.opts.Redact == nil {
		e.opts.Redact = func(s string) string { return s }
	}
	if pf, ok := sys.(Prefetcher); ok {
		pass := func(view ops.System) error {
			_, err := Run(ctx, view, steps, Options{Now: e.opts.Now, Skip: opts.Skip, ReadAhead: true}, nil)
			return err
		}
		if err := pf.Prefetch(ctx, pass); err != nil {
			return Summary{}, fmt.Errorf("reading the target: %w", err)
		}
	}
	e.runner, _ = sys.(ops.Runner)
	e.view = sys
	if !opts.Apply {
		e.view = newOverlay(sys)
	}

	var sum Summary
	stopped := false
	for _, step := range steps {
		var res *Result
		switch {
		case ctx.Err() != nil:
			res = e.notRun(step, noteCancelled)
		case stopped:
			res = e.notRun(step, noteStopped)
		case step.ID != "" && opts.Skip[step.ID] != "":
			res = e.notRun(step, e.opts.Redact(opts.Skip[step.ID]))
		default:
			res = e.step(ctx, step)
		}
		sum.add(res)
		if res.Status == StatusFailed && opts.Apply && !opts.KeepGoing {
			stopped = true
		}
		if step.ID != "" {
			e.changed[step.ID] = madeChanges(res)
		}
		rep.Step(res)
	}
	rep.Done(sum)
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("reconcile: %w", err)
	}
	return sum, nil
}

func checkSteps(steps []*ops.Step) error {
	seen := map[string]bool{}
	for i, s := range steps {
		if s == nil || s.Op == nil {
			return fmt.Errorf("reconcile: step %d has no op", i+1)
		}
		if s.ID == "" {
			continue
		}
		if seen[s.ID] {
			return fmt.Errorf("reconcile: %s: step id %q used twice", s.Pos, s.ID)
		}
		seen[s.ID] = true
	}
	return nil
}

type engine struct {
	opts    Options
	sys     ops.System // the target
	view    ops.System // what ops plan against: the overlay (plan) or the target (apply)
	runner  ops.Runner // nil when the target cannot run commands
	changed map[string]bool
}

func (e *engine) notRun(step *ops.Step, note string) *Result {
	return &Result{Step: step, Summary: e.opts.Redact(step.Op.Summary()), Status: StatusSkipped, Notes: []string{note}}
}

// step plans one step against the view and applies its changes to the view
// (the overlay in a plan, the target in an apply).
func (e *engine) step(ctx context.Context, step *ops.Step) *Result {
	redact := e.opts.Redact
	res := &Result{Step: step, Summary: redact(step.Op.Summary())}
	env := &ops.Env{
		Sys:       readOnly{e.view},
		Runner:    e.runner,
		Now:       e.opts.Now,
		Changed:   func(id string) bool { return e.changed[id] },
		ReadAhead: e.opts.ReadAhead,
	}
	changes, err := ops.Plan(ctx, env, step.Op)
	if err != nil {
		return e.fail(res, err)
	}
	for _, c := range changes {
		if c == nil || (c.Kind == ops.Run && c.Exec == nil) {
			return e.fail(res, errors.New("the op planned an empty change (a bug in the op)"))
		}
	}
	live := env.Live()
	var failure error
	for _, c := range changes {
		if failure != nil {
			res.Changes = append(res.Changes, ChangeReport{Change: c, Path: redact(c.Path), Description: redact(c.String()), Skipped: true, Note: noteNotMade})
			continue
		}
		var cr ChangeReport
		cr, failure = e.change(ctx, c, live)
		res.Changes = append(res.Changes, cr)
	}
	if failure != nil {
		e.fail(res, failure)
	}
	deferred, made := false, false
	for _, cr := range res.Changes {
		deferred = deferred || cr.Deferred
		made = made || !cr.Skipped
		if cr.Change.Reboot && !cr.Skipped && !hasNote(res, noteReboot) {
			res.Notes = append(res.Notes, noteReboot)
		}
	}
	switch {
	case res.Err != nil:
	case deferred:
		res.Status = StatusDeferred
	case made:
		res.Status = StatusChanged
	default:
		res.Status = StatusOK
	}
	return res
}

func (e *engine) exists(p string) bool {
	_, err := e.view.Lstat(p)
	return err == nil
}

// change reports c and makes it on the view: a file change always (the
// overlay only records it), an exec only in an apply on a Runner.
func (e *engine) change(ctx context.Context, c *ops.Change, live bool) (ChangeReport, error) {
	redact := e.opts.Redact
	cr := ChangeReport{Change: c, Path: redact(c.Path)}
	if c.Kind != ops.Run {
		shown := c
		if c.Kind == ops.Write && !c.Sensitive && redact(string(c.Content)) != string(c.Content) && e.exists(c.Path) {
			// New content holding a secret replaces content that likely
			// holds an old secret, which redact does not know: a diff
			// could show it. Show neither.
			hidden := *c
			hidden.Sensitive = true
			shown = &hidden
		}
		desc, diff := describe(e.view, shown)
		cr.Description, cr.Diff = redact(desc), redact(diff)
		return cr, e.view.Apply(ctx, c)
	}
	cr.Description = redact(c.String())
	switch {
	case c.Exec.LiveOnly && !live:
		cr.Skipped, cr.Note = true, noteNotLive
	case e.runner == nil:
		cr.Deferred, cr.Note = true, noteDeferred
	case e.opts.Apply:
		out, err := e.runner.Run(ctx, c.Exec)
		if err != nil {
			return cr, fmt.Errorf("%s: %w", c, err)
		}
		if out.ExitCode != 0 {
			return cr, execError(c, out)
		}
	}
	return cr, nil
}

func (e *engine) fail(res *Result, err error) *Result {
	res.Status = StatusFailed
	res.Err = &redactedError{msg: e.opts.Redact(err.Error()), err: err}
	return res
}

// execError says how a command failed, with the end of what it said.
func execError(c *ops.Change, out *ops.ExecResult) error {
	msg := fmt.Sprintf("%s: exit code %d", c, out.ExitCode)
	said := out.Stderr
	if len(bytes.TrimSpace(said)) == 0 {
		said = out.Stdout
	}
	if tail := lastLines(said, 10, 2048); tail != "" {
		msg += "\n" + tail
	}
	return errors.New(msg)
}

// lastLines is the last n non-empty lines of b, at most max bytes.
func lastLines(b []byte, n, max int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s := strings.Join(lines, "\n")
	if len(s) > max {
		s = "..." + s[len(s)-max:]
	}
	return s
}

// madeChanges reports whether the step made, or would make, a change,
// deferred ones included: what Env.Changed answers.
func madeChanges(res *Result) bool {
	for _, cr := range res.Changes {
		if !cr.Skipped {
			return true
		}
	}
	return false
}

func (s *Summary) add(res *Result) {
	switch res.Status {
	case StatusOK:
		s.OK++
	case StatusChanged:
		s.Changed++
		s.Pending++
	case StatusDeferred:
		s.Deferred++
		for _, cr := range res.Changes {
			if !cr.Skipped && !cr.Deferred {
				s.Pending++
				break
			}
		}
	case StatusFailed:
		s.Failed++
	case StatusSkipped:
		s.Skipped++
	}
	if hasNote(res, noteReboot) {
		s.Reboot = true
	}
}

func hasNote(res *Result, note string) bool {
	for _, n := range res.Notes {
		if n == note {
			return true
		}
	}
	return false
}

// ExitCode is the process exit code for a run. A plan: 0 in state, 2 when
// changes are pending (Summary.Pending; deferred exec changes alone are
// not), 1 on an error or a failed step. An apply: 0 done, 1 error or
// failed step.
func ExitCode(apply bool, s Summary, err error) int {
	switch {
	case err != nil || s.Failed > 0:
		return 1
	case !apply && (s.Pending > 0 || s.Changed > 0):
		return 2
	}
	return 0
}

// readOnly is the view as ops see it: an op plans, it never applies.
type readOnly struct{ ops.System }

func (readOnly) Apply(context.Context, *ops.Change) error {
	return errors.New("an op must not apply changes while it plans")
}

// redactedError carries a redacted message; Unwrap gives the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

type discard struct{}

func (discard) Step(*Result) {}
func (discard) Done(Summary) {}
