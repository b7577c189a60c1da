package firstboot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/recipes"
	"github.com/pibake/pibake/reconcile"
)

// Back-off between failed attempts: RetryDelay after the first, doubling
// with each consecutive failure, at most MaxRetryDelay.
const (
	DefaultRetryDelay = 15 * time.Second
	MaxRetryDelay     = 10 * time.Minute
)

// failuresFile counts consecutive failed attempts, for the back-off.
const failuresFile = StateDir + "/firstboot-failures"

// Config is what Run needs.
type Config struct {
	// Dir holds recipe.json and secrets.env, as a path on Sys (Dir).
	Dir string
	// Sys is the machine to bring into state: local.NewHost() on the Pi.
	Sys ops.System
	// Report receives the text reports of the runs (stdout: the journal).
	Report io.Writer
	// Logf logs what the agent decides (stderr: the journal).
	Logf func(format string, args ...any)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits for d unless ctx ends first; nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// RetryDelay is the back-off after a first failed attempt; zero waits
	// not at all.
	RetryDelay time.Duration
}

// Run is one first-boot attempt, what pibake-firstboot.service runs: it
// loads Dir/recipe.json and Dir/secrets.env, applies the recipe to Sys
// (steps whose secrets were not kept on the Pi are skipped: the bake
// applied them), then plans again to confirm that nothing would change.
// In state, it removes the secrets, disables the unit (its wants link, as
// systemctl disable does) and returns nil: "first boot done". Otherwise it
// logs why (the failing step and its error), waits the back-off and
// returns the error, for systemd to start a new attempt. On a machine in
// state it changes nothing.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Sys == nil || cfg.Dir == "" {
		return errors.New("firstboot: no target or directory")
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Report == nil {
		cfg.Report = io.Discard
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	err := attempt(ctx, cfg)
	if err == nil {
		if err := removeFile(ctx, cfg.Sys, failuresFile); err != nil {
			cfg.Logf("warning: %v", err)
		}
		cfg.Logf("in state; first boot done")
		return nil
	}
	cfg.Logf("first boot failed: %v", err)
	if ctx.Err() != nil {
		return err
	}
	failures, ferr := countFailure(ctx, cfg.Sys)
	if ferr != nil {
		cfg.Logf("warning: counting failed attempts: %v", ferr)
	}
	if delay := backoff(cfg.RetryDelay, failures); delay > 0 {
		cfg.Logf("attempt %d failed; next attempt in %s", failures, delay)
		if serr := cfg.Sleep(ctx, delay); serr != nil {
			return err
		}
	}
	return err
}

func attempt(ctx context.Context, cfg Config) error {
	recipePath, secretsPath := path.Join(cfg.Dir, "recipe.json"), path.Join(cfg.Dir, "secrets.env")
	b, err := cfg.Sys.ReadFile(recipePath)
	if err != nil {
		return fmt.Errorf("reading the recipe: %w", err)
	}
	recipe := new(recipes.Recipe)
	if err := json.Unmarshal(b, recipe); err != nil {
		return fmt.Errorf("%s: %w", recipePath, err)
	}
	secrets := recipes.Secrets{}
	if b, err := cfg.Sys.ReadFile(secretsPath); err == nil {
		if secrets, err = recipes.ParseSecrets(secretsPath, b); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading the secrets: %w", err)
	}
	steps, unresolved, redact := recipe.ResolveLenient(secrets)
	skip := map[string]string{}
	for _, u := range unresolved {
		what := "secret "
		if len(u.Secrets) > 1 {
			what = "secrets "
		}
		skip[u.StepID] = "skipped: needs " + what + strings.Join(u.Secrets, ", ") + ", not kept on the Pi (applied when baked)"
	}

	cfg.Logf("applying %s (%d steps)", recipe.Source, len(steps))
	failed := &failures{}
	sum, err := reconcile.Run(ctx, cfg.Sys, steps, reconcile.Options{
		Apply: true, Now: cfg.Now(), Redact: redact, Skip: skip,
	}, tee{reconcile.NewTextReporter(cfg.Report, reconcile.TextOptions{}), failed})
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return failed.err()
	}

	cfg.Logf("planning again to confirm")
	pending := &failures{pending: true}
	sum, err = reconcile.Run(ctx, cfg.Sys, steps, reconcile.Options{
		Now: cfg.Now(), Redact: redact, Skip: skip,
	}, tee{reconcile.NewTextReporter(cfg.Report, reconcile.TextOptions{HideOK: true}), pending})
	if err != nil {
		return err
	}
	for _, res := range pending.never {
		cfg.Logf("note: step %s (%s) has no creates= or unless=: it runs at every apply, so it is never in state; not waited for", res.Step.ID, res.Step.Pos)
	}
	if sum.Failed > 0 || len(pending.results) > 0 {
		return fmt.Errorf("not in state after applying: %w", pending.err())
	}

	// In state: hand back. The same engine removes the secrets and
	// disables the unit, so the journal shows it like any other step.
	disabled := false
	done := []*ops.Step{
		{ID: "firstboot-secrets", Pos: Pos, Op: &ops.FileAbsent{Path: secretsPath}},
		{ID: "firstboot-unit", Pos: Pos, Op: &ops.SystemdService{Name: Unit, Enabled: &disabled}},
	}
	handBack := &failures{}
	sum, err = reconcile.Run(ctx, cfg.Sys, done, reconcile.Options{Apply: true, Now: cfg.Now()},
		tee{reconcile.NewTextReporter(cfg.Report, reconcile.TextOptions{HideOK: true}), handBack})
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return handBack.err()
	}
	return nil
}

// failures collects the failed steps of a run (and with pending, those
// that would change, but for those never in state).
type failures struct {
	pending bool
	results []*reconcile.Result
	never   []*reconcile.Result
}

func (f *failures) Step(res *reconcile.Result) {
	switch {
	case res.Status == reconcile.StatusFailed:
		f.results = append(f.results, res)
	case f.pending && (res.Status == reconcile.StatusChanged || res.Status == reconcile.StatusDeferred):
		if neverInState(res.Step.Op) {
			f.never = append(f.never, res)
		} else {
			f.results = append(f.results, res)
		}
	}
}

func (f *failures) Done(reconcile.Summary) {}

// err describes the first collected step: its ID, op, position and error.
func (f *failures) err() error {
	if len(f.results) == 0 {
		return errors.New("a step failed") // the engine counted one
	}
	res := f.results[0]
	what := fmt.Sprintf("step %s (%s %s) at %s", res.Step.ID, res.Step.Op.Kind(), res.Summary, res.Step.Pos)
	more := ""
	if n := len(f.results) - 1; n > 0 {
		more = fmt.Sprintf(" (and %d more)", n)
	}
	if res.Err != nil {
		return fmt.Errorf("%s%s: %w", what, more, res.Err)
	}
	return fmt.Errorf("%s%s would still change", what, more)
}

// neverInState reports ops that by design change at every run: a
// shell.run with neither creates= nor unless=.
func neverInState(op ops.Op) bool {
	s, ok := op.(*ops.ShellRun)
	return ok && s.Creates == "" && s.Unless == ""
}

type tee []reconcile.Reporter

func (t tee) Step(res *reconcile.Result) {
	for _, r := range t {
		r.Step(res)
	}
}

func (t tee) Done(s reconcile.Summary) {
	for _, r := range t {
		r.Done(s)
	}
}

// backoff is the wait after the n-th consecutive failure.
func backoff(base time.Duration, n int) time.Duration {
	if base <= 0 || n < 1 {
		return 0
	}
	d := base
	for i := 1; i < n && d < MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, MaxRetryDelay)
}

// countFailure adds one to the count of consecutive failures on sys and
// returns it.
func countFailure(ctx context.Context, sys ops.System) (int, error) {
	n := 0
	if b, err := sys.ReadFile(failuresFile); err == nil {
		n, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	n++
	env := &ops.Env{Sys: sys}
	changes, err := env.EnsureFile(ops.FileSpec{Path: failuresFile, Content: []byte(strconv.Itoa(n) + "\n"), Mode: 0o644})
	if err != nil {
		return n, err
	}
	return n, apply(ctx, sys, changes)
}

func removeFile(ctx context.Context, sys ops.System, p string) error {
	changes, err := (&ops.Env{Sys: sys}).EnsureAbsent(p)
	if err != nil {
		return err
	}
	return apply(ctx, sys, changes)
}

func apply(ctx context.Context, sys ops.System, changes []*ops.Change) error {
	for _, c := range changes {
		if err := sys.Apply(ctx, c); err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
