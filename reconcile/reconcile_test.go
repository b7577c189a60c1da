package reconcile_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/opstest"
	"github.com/pibake/pibake/reconcile"
	"github.com/pibake/pibake/reconcile/local"
)

// recorder keeps what Run reported.
type recorder struct {
	results []*reconcile.Result
	done    []reconcile.Summary
}

func (r *recorder) Step(res *reconcile.Result)   { r.results = append(r.results, res) }
func (r *recorder) Done(s reconcile.Summary)     { r.done = append(r.done, s) }
func (r *recorder) statuses() []reconcile.Status { return statuses(r.results) }

func statuses(results []*reconcile.Result) []reconcile.Status {
	var out []reconcile.Status
	for _, res := range results {
		out = append(out, res.Status)
	}
	return out
}

// run runs steps against sys and checks what every run must keep: one
// result per step, in order, and Done called once with the summary.
func run(t *testing.T, sys ops.System, list []*ops.Step, opts reconcile.Options) (*recorder, reconcile.Summary) {
	t.Helper()
	if opts.Now.IsZero() {
		opts.Now = opstest.Now
	}
	rec := &recorder{}
	sum, err := reconcile.Run(context.Background(), sys, list, opts, rec)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(rec.results) != len(list) {
		t.Fatalf("Run reported %d steps, want %d", len(rec.results), len(list))
	}
	for i, res := range rec.results {
		if res.Step != list[i] {
			t.Fatalf("result %d is for step %s, want %s", i, res.Step.ID, list[i].ID)
		}
	}
	if len(rec.done) != 1 || rec.done[0] != sum {
		t.Fatalf("Done calls = %+v, want one with %+v", rec.done, sum)
	}
	return rec, sum
}

// userSteps add a user "robot", then use it as an owner, then copy a file
// the second step writes.
func userSteps(t *testing.T, dir string) []*ops.Step {
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return steps(
		&putOp{Path: "/etc/passwd", Content: read("etc/passwd") + "robot:x:1001:1001::/home/robot:/bin/bash\n"},
		&putOp{Path: "/etc/group", Content: read("etc/group") + "robot:x:1001:\n"},
		&putOp{Path: "/etc/robot.conf", Content: "speed=3\n", Owner: "robot", Mode: 0o640},
		&copyOp{From: "/etc/robot.conf", To: "/etc/robot.copy"},
		&absentOp{Path: "/etc/ssh"},
		&putOp{Path: "/etc/ssh/sshd_config.d/robot.conf", Content: "x"},
	)
}

func TestPlanSeesEarlierChanges(t *testing.T) {
	sys, dir := opstest.Root(t)
	list := userSteps(t, dir)
	rec, sum := run(t, sys, list[:4], reconcile.Options{})
	want := []reconcile.Status{"changed", "changed", "changed", "changed"}
	if diff := cmp.Diff(want, rec.statuses()); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s\nresults: %+v", diff, rec.results)
	}
	if got, want := rec.results[2].Changes[0].Description, "create /etc/robot.conf (0640 1001:1001, 8 bytes)"; got != want {
		t.Errorf("step 3 = %q, want %q", got, want)
	}
	if got := rec.results[3].Changes[0].Diff; !strings.Contains(got, "+speed=3\n") {
		t.Errorf("step 4 diff = %q, want it to add speed=3 (written by step 3)", got)
	}
	if sum != (reconcile.Summary{Changed: 4, Pending: 4}) {
		t.Errorf("summary = %+v", sum)
	}

	// Without the user step, the owner does not resolve: the overlay, not
	// the target, answered above.
	rec, _ = run(t, sys, list[2:3], reconcile.Options{})
	if res := rec.results[0]; res.Status != reconcile.StatusFailed || !strings.Contains(res.Err.Error(), `"robot" does not exist`) {
		t.Errorf("without the user: %s %v, want failed: robot does not exist", res.Status, res.Err)
	}

	// A removed tree is gone for later steps: the write below it fails,
	// as it would on the target.
	rec, _ = run(t, sys, list[4:], reconcile.Options{})
	if diff := cmp.Diff([]reconcile.Status{"changed", "failed"}, rec.statuses()); diff != "" {
		t.Errorf("write below a removed tree (-want +got):\n%s", diff)
	}
}

func TestPlanNeverWrites(t *testing.T) {
	sys, dir := opstest.Root(t)
	list := concat(userSteps(t, dir)[:5], steps(
		&runOp{Description: "install", Argv: []string{"false"}, Write: "/etc/installed"},
		&chmodOp{Path: "/etc/hostname", Mode: 0o600},
		writerOp{},
	))
	before := reconcile.Snapshot(t, dir)
	rec, _ := run(t, sys, list, reconcile.Options{})
	if after := reconcile.Snapshot(t, dir); after != before {
		t.Errorf("plan changed the target:\n%s", cmp.Diff(before, after))
	}
	last := rec.results[len(rec.results)-1]
	if last.Status != reconcile.StatusFailed || !strings.Contains(last.Err.Error(), "must not apply") {
		t.Errorf("an op writing while it plans: %s %v, want failed", last.Status, last.Err)
	}
}

func TestApplyThenPlan(t *testing.T) {
	sys, dir := opstest.Root(t)
	list := concat(userSteps(t, dir)[:5], steps(&chmodOp{Path: "/etc/hostname", Mode: 0o600}))
	rec, sum := run(t, sys, list, reconcile.Options{Apply: true})
	if sum.Changed != len(list) || sum.Failed != 0 {
		t.Fatalf("apply: %+v %v", sum, rec.results)
	}
	if got := reconcile.ExitCode(true, sum, nil); got != 0 {
		t.Errorf("apply exit code = %d, want 0", got)
	}
	b, err := os.ReadFile(filepath.Join(dir, "etc/robot.copy"))
	if err != nil || string(b) != "speed=3\n" {
		t.Errorf("after apply, /etc/robot.copy = %q, %v", b, err)
	}
	for _, apply := range []bool{false, true} {
		rec, sum = run(t, sys, list, reconcile.Options{Apply: apply})
		if sum != (reconcile.Summary{OK: len(list)}) {
			t.Errorf("Apply=%v after apply: %+v, want all ok; %v", apply, sum, rec.statuses())
		}
		if got := reconcile.ExitCode(apply, sum, nil); got != 0 {
			t.Errorf("Apply=%v after apply: exit code %d, want 0", apply, got)
		}
	}
}

func TestExec(t *testing.T) {
	tmp := t.TempDir()
	dirTarget, _ := opstest.Root(t)
	host := local.NewHost()
	touched := filepath.Join(tmp, "touched")
	touch := &runOp{Description: "touch", Argv: []string{"touch", touched}, Creates: touched}
	fail := &runOp{Description: "fail", Argv: []string{"sh", "-c", "echo one >&2; echo two >&2; echo boom >&2; exit 3"}}
	tests := []struct {
		name       string
		sys        ops.System
		op         ops.Op
		apply      bool
		want       reconcile.Status
		wantNote   string // of the exec change
		wantErr    []string
		wantExit   int
		wantTouch  bool
		wantChange bool // reported as a change that is made (not skipped)
	}{
		{name: "deferred on a directory plan", sys: dirTarget, op: touch, want: "deferred",
			wantNote: "deferred: the target cannot run commands; first boot runs it", wantExit: 0, wantChange: true},
		{name: "deferred on a directory apply", sys: dirTarget, op: touch, apply: true, want: "deferred",
			wantNote: "deferred", wantExit: 0, wantChange: true},
		{name: "deferred with a file change is pending", sys: dirTarget, want: "deferred", wantNote: "deferred", wantExit: 2, wantChange: true,
			op: &runOp{Description: "install", Argv: []string{"true"}, Write: "/etc/installing"}},
		{name: "live-only skipped on a directory", sys: dirTarget, want: "ok", wantExit: 0,
			wantNote: "skipped: target not booted with systemd; takes effect at boot",
			op:       &runOp{Description: "restart robot", Argv: []string{"systemctl", "restart", "robot"}, LiveOnly: true}},
		{name: "host plan does not run", sys: host, op: touch, want: "changed", wantExit: 2, wantChange: true},
		{name: "host apply runs", sys: host, op: touch, apply: true, want: "changed", wantTouch: true, wantChange: true},
		{name: "host in state after running", sys: host, op: touch, want: "ok", wantTouch: true},
		{name: "host failure", sys: host, op: fail, apply: true, want: "failed", wantExit: 1, wantChange: true, wantTouch: true,
			wantErr: []string{"exec fail: sh -c", "exit code 3\none\ntwo\nboom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, sum := run(t, tt.sys, steps(tt.op), reconcile.Options{Apply: tt.apply})
			res := rec.results[0]
			if res.Status != tt.want {
				t.Fatalf("status = %s (%v), want %s", res.Status, res.Err, tt.want)
			}
			if len(res.Changes) > 0 {
				exec := res.Changes[len(res.Changes)-1]
				if !strings.Contains(exec.Note, tt.wantNote) {
					t.Errorf("note = %q, want %q", exec.Note, tt.wantNote)
				}
				if tt.wantChange == exec.Skipped {
					t.Errorf("exec skipped = %v, want %v", exec.Skipped, !tt.wantChange)
				}
			} else if tt.wantChange {
				t.Errorf("no changes, want one")
			}
			for _, w := range tt.wantErr {
				if res.Err == nil || !strings.Contains(res.Err.Error(), w) {
					t.Errorf("error = %v, want it to say %q", res.Err, w)
				}
			}
			if got := reconcile.ExitCode(tt.apply, sum, nil); got != tt.wantExit {
				t.Errorf("exit code = %d, want %d (%+v)", got, tt.wantExit, sum)
			}
			if _, err := os.Stat(touched); (err == nil) != tt.wantTouch {
				t.Errorf("%s exists: %v, want %v", touched, err == nil, tt.wantTouch)
			}
		})
	}
}

func TestKeepGoing(t *testing.T) {
	tests := []struct {
		apply, keepGoing bool
		want             []reconcile.Status
		wantWritten      bool
	}{
		{apply: true, want: []reconcile.Status{"changed", "failed", "skipped"}},
		{apply: true, keepGoing: true, want: []reconcile.Status{"changed", "failed", "changed"}, wantWritten: true},
		{apply: false, want: []reconcile.Status{"changed", "failed", "changed"}}, // a plan always goes on
	}
	for _, tt := range tests {
		sys, dir := opstest.Root(t)
		list := steps(
			&putOp{Path: "/etc/first", Content: "1"},
			&failOp{Message: "no"},
			&putOp{Path: "/etc/last", Content: "3"},
		)
		rec, sum := run(t, sys, list, reconcile.Options{Apply: tt.apply, KeepGoing: tt.keepGoing})
		if diff := cmp.Diff(tt.want, rec.statuses()); diff != "" {
			t.Errorf("Apply=%v KeepGoing=%v: statuses (-want +got):\n%s", tt.apply, tt.keepGoing, diff)
		}
		if _, err := os.Stat(filepath.Join(dir, "etc/last")); (err == nil) != tt.wantWritten {
			t.Errorf("Apply=%v KeepGoing=%v: /etc/last written = %v, want %v", tt.apply, tt.keepGoing, err == nil, tt.wantWritten)
		}
		if got := reconcile.ExitCode(tt.apply, sum, nil); got != 1 {
			t.Errorf("exit code = %d, want 1", got)
		}
		if tt.apply && !tt.keepGoing {
			if notes := rec.results[2].Notes; len(notes) != 1 || notes[0] != "not run: an earlier step failed" {
				t.Errorf("skipped step notes = %q", notes)
			}
		}
	}
}

func TestChanged(t *testing.T) {
	for _, apply := range []bool{false, true} {
		sys, dir := opstest.Root(t)
		list := steps(
			&putOp{Path: "/etc/hostname", Content: "robot\n"},                   // changes
			&putOp{Path: "/etc/hostname", Content: "robot\n"},                   // in state after s1
			&runOp{Description: "deferred", Argv: []string{"true"}},             // deferred: counts
			&runOp{Description: "live", Argv: []string{"true"}, LiveOnly: true}, // skipped: does not
			&changedOp{Path: "/etc/changed", IDs: []string{"s1", "s2", "s3", "s4", "s6", "nosuch"}},
			&putOp{Path: "/etc/later", Content: "x"},
		)
		rec, _ := run(t, sys, list, reconcile.Options{Apply: apply})
		want := "s1=true\ns2=false\ns3=true\ns4=false\ns6=false\nnosuch=false\n"
		if apply {
			b, err := os.ReadFile(filepath.Join(dir, "etc/changed"))
			if err != nil || string(b) != want {
				t.Errorf("apply: Changed said %q (%v), want %q", b, err, want)
			}
			continue
		}
		if got := rec.results[4].Changes[0].Change.Content; string(got) != want {
			t.Errorf("plan: Changed said %q, want %q", got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	sys, _ := opstest.Root(t)
	list := steps(
		&putOp{Path: "/etc/wifi.conf", Content: "psk=hunter2\n"},
		&putOp{Path: "/etc/hunter2.conf", Content: "x"},
		&failOp{Message: "cannot use hunter2"},
		&runOp{Description: "login hunter2", Argv: []string{"login", "hunter2"}},
	)
	redact := func(s string) string { return strings.ReplaceAll(s, "hunter2", "<secret>") }
	var text, jsonOut strings.Builder
	rec := &recorder{}
	reps := multi{rec, reconcile.NewTextReporter(&text, reconcile.TextOptions{}), reconcile.NewJSONReporter(&jsonOut)}
	if _, err := reconcile.Run(context.Background(), sys, list, reconcile.Options{Redact: redact, Now: opstest.Now}, reps); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"text": text.String(), "json": jsonOut.String()} {
		if strings.Contains(out, "hunter2") || strings.Count(out, "<secret>") < 5 {
			t.Errorf("%s report is not redacted:\n%s", name, out)
		}
	}
	if err := rec.results[2].Err; err == nil || err.Error() != "cannot use <secret>" {
		t.Errorf("Result.Err = %v, want it redacted", err)
	}

	// A command's failure is redacted too.
	failing := steps(&runOp{Description: "say", Argv: []string{"sh", "-c", "echo hunter2 is wrong >&2; exit 1"}})
	rec, _ = run(t, local.NewHost(), failing, reconcile.Options{Apply: true, Redact: redact})
	if err := rec.results[0].Err; err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "<secret> is wrong") {
		t.Errorf("exec failure = %v, want it redacted", err)
	}
}

// TestSecretReplacedShowsNoDiff: new content with a secret over old content
// (which likely holds the old secret, unknown to redact) shows no diff; a
// new file with a secret shows its redacted diff.
func TestSecretReplacedShowsNoDiff(t *testing.T) {
	sys, _ := opstest.Root(t)
	apply := steps(&putOp{Path: "/etc/wifi.conf", Content: "psk=old-secret\n"})
	if _, err := reconcile.Run(context.Background(), sys, apply, reconcile.Options{Apply: true}, nil); err != nil {
		t.Fatal(err)
	}
	redact := func(s string) string { return strings.ReplaceAll(s, "new-secret", "<secret>") }
	rec, _ := run(t, sys, steps(
		&putOp{Path: "/etc/wifi.conf", Content: "psk=new-secret\n"},
		&putOp{Path: "/etc/other.conf", Content: "psk=new-secret\n"},
	), reconcile.Options{Redact: redact})
	if d := rec.results[0].Changes[0].Diff; strings.Contains(d, "old-secret") || d != "(sensitive content not shown)" {
		t.Errorf("replacing a secret: diff = %q, want it hidden", d)
	}
	if d := rec.results[1].Changes[0].Diff; !strings.Contains(d, "+psk=<secret>") {
		t.Errorf("new file with a secret: diff = %q, want the redacted content", d)
	}
}

type multi []reconcile.Reporter

func (m multi) Step(r *reconcile.Result) {
	for _, rep := range m {
		rep.Step(r)
	}
}

func (m multi) Done(s reconcile.Summary) {
	for _, rep := range m {
		rep.Done(s)
	}
}

func TestReboot(t *testing.T) {
	sys, _ := opstest.Root(t)
	rec, sum := run(t, sys, steps(&putOp{Path: "/boot/firmware/config.txt", Content: "dtparam=i2c_arm=on\n", Reboot: true}), reconcile.Options{})
	if !sum.Reboot || !cmp.Equal(rec.results[0].Notes, []string{"reboot required"}) {
		t.Errorf("reboot: summary %+v, notes %q", sum, rec.results[0].Notes)
	}
}

func TestCancelled(t *testing.T) {
	sys, dir := opstest.Root(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := &recorder{}
	sum, err := reconcile.Run(ctx, sys, steps(&putOp{Path: "/etc/x", Content: "x"}), reconcile.Options{Apply: true}, rec)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if sum.Skipped != 1 || len(rec.done) != 1 {
		t.Errorf("summary %+v, Done calls %d; want 1 skipped, 1 call", sum, len(rec.done))
	}
	if _, err := os.Stat(filepath.Join(dir, "etc/x")); err == nil {
		t.Error("a cancelled apply wrote /etc/x")
	}
	if got := reconcile.ExitCode(true, sum, err); got != 1 {
		t.Errorf("exit code = %d, want 1", got)
	}
}

func TestInvalidSteps(t *testing.T) {
	sys, _ := opstest.Root(t)
	dup := steps(&failOp{}, &failOp{})
	dup[1].ID = dup[0].ID
	for name, list := range map[string][]*ops.Step{
		"duplicate id": dup,
		"no op":        {{ID: "x"}},
		"nil step":     {nil},
	} {
		if _, err := reconcile.Run(context.Background(), sys, list, reconcile.Options{}, nil); err == nil {
			t.Errorf("%s: Run succeeded, want an error", name)
		}
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		apply bool
		sum   reconcile.Summary
		err   error
		want  int
	}{
		{false, reconcile.Summary{OK: 3}, nil, 0},
		{false, reconcile.Summary{OK: 3, Deferred: 2}, nil, 0}, // deferred alone: in state for this target
		{false, reconcile.Summary{Deferred: 2, Pending: 1}, nil, 2},
		{false, reconcile.Summary{OK: 1, Changed: 1, Pending: 1}, nil, 2},
		{false, reconcile.Summary{Changed: 1}, nil, 2},
		{false, reconcile.Summary{Changed: 1, Failed: 1}, nil, 1},
		{false, reconcile.Summary{OK: 1}, errors.New("x"), 1},
		{true, reconcile.Summary{Changed: 5, Pending: 5}, nil, 0},
		{true, reconcile.Summary{Deferred: 5}, nil, 0},
		{true, reconcile.Summary{Changed: 1, Failed: 1, Skipped: 2}, nil, 1},
		{true, reconcile.Summary{}, context.Canceled, 1},
	}
	for _, tt := range tests {
		if got := reconcile.ExitCode(tt.apply, tt.sum, tt.err); got != tt.want {
			t.Errorf("ExitCode(%v, %+v, %v) = %d, want %d", tt.apply, tt.sum, tt.err, got, tt.want)
		}
	}
}

// Options.Skip leaves steps out of a run: reported skipped with their
// note, redacted, changing nothing; the others run.
func TestSkip(t *testing.T) {
	sys, dir := opstest.Root(t)
	list := []*ops.Step{
		{ID: "1", Op: &ops.FilePut{Path: "/etc/one", Content: []byte("1\n"), Mode: 0o644}},
		{ID: "2", Op: &ops.FilePut{Path: "/etc/two", Content: []byte("hunter2\n"), Mode: 0o644}},
		{ID: "3", Op: &ops.FilePut{Path: "/etc/three", Content: []byte("3\n"), Mode: 0o644}},
	}
	rec, sum := run(t, sys, list, reconcile.Options{
		Apply:  true,
		Skip:   map[string]string{"2": "skipped: needs hunter2"},
		Redact: func(s string) string { return strings.ReplaceAll(s, "hunter2", "<secret>") },
	})
	if diff := cmp.Diff([]reconcile.Status{"changed", "skipped", "changed"}, rec.statuses()); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if sum.Skipped != 1 || sum.Changed != 2 || sum.Failed != 0 {
		t.Errorf("summary %+v, want 2 changed, 1 skipped", sum)
	}
	if diff := cmp.Diff([]string{"skipped: needs <secret>"}, rec.results[1].Notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(dir, "etc", "two")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the skipped step wrote /etc/two (%v)", err)
	}
	if code := reconcile.ExitCode(true, sum, nil); code != 0 {
		t.Errorf("ExitCode = %d, want 0: a skipped step is no failure", code)
	}
}
