package firstboot

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/opstest"
	"github.com/pibake/pibake/recipes"
	"github.com/pibake/pibake/recipes/recipetest"
)

// installHandoff bakes the hand-off for recipe into a fresh fixture root.
func installHandoff(t *testing.T, star string, secrets recipes.Secrets) (ops.System, string) {
	t.Helper()
	sys, root := opstest.Root(t)
	h := &Handoff{Recipe: recipetest.Compile(t, star), Secrets: secrets, Agent: buildTiny(t, "arm64", "")}
	steps, err := h.Steps()
	if err != nil {
		t.Fatal(err)
	}
	if sum, out := runSteps(t, sys, steps, true); sum.Failed != 0 {
		t.Fatalf("installing the hand-off: %+v\n%s", sum, out)
	}
	return sys, root
}

type fakeClock struct{ slept []time.Duration }

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	c.slept = append(c.slept, d)
	return nil
}

func runAgent(t *testing.T, sys ops.System, clock *fakeClock) (error, string) {
	t.Helper()
	var report, log bytes.Buffer
	err := Run(context.Background(), Config{
		Dir: Dir, Sys: sys, Report: &report,
		Logf:       func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) },
		Now:        func() time.Time { return opstest.Now },
		Sleep:      clock.sleep,
		RetryDelay: DefaultRetryDelay,
	})
	return err, report.String() + log.String()
}

// On a directory target (files only), the agent applies what it can, skips
// what needs a secret the Pi was not given, and hands back.
func TestRunDone(t *testing.T) {
	sys, _ := installHandoff(t, handoffRecipe, recipes.Secrets{"ROBOT_TOKEN": "t0k"})
	clock := &fakeClock{}
	err, out := runAgent(t, sys, clock)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	for _, want := range []string{
		"skipped: needs secret WIFI_PSK, not kept on the Pi (applied when baked)",
		"in state; first boot done",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "t0k") {
		t.Errorf("output shows a secret:\n%s", out)
	}
	if b, err := sys.ReadFile("/etc/robot/token"); err != nil || string(b) != "t0k" {
		t.Errorf("/etc/robot/token = %q, %v", b, err)
	}
	for _, gone := range []string{SecretsPath, "/etc/systemd/system/multi-user.target.wants/" + Unit, failuresFile} {
		if _, err := sys.Lstat(gone); err == nil {
			t.Errorf("%s is still there", gone)
		}
	}
	if len(clock.slept) != 0 {
		t.Errorf("slept %v after success", clock.slept)
	}
	// Again: nothing to do, nothing changed.
	err, out = runAgent(t, sys, clock)
	if err != nil || strings.Contains(out, "changed ") {
		t.Errorf("second Run: %v\n%s", err, out)
	}
}

// A failing step: the error names it, the agent backs off (longer each
// time) and the unit stays enabled for systemd's next attempt.
func TestRunFails(t *testing.T) {
	sys, _ := installHandoff(t, `
files.put("/etc/ok", content = "ok\n")
files.put("/etc/robot.conf", content = "x", owner = "nosuchuser")
`, nil)
	clock := &fakeClock{}
	for i := 0; i < 3; i++ {
		err, out := runAgent(t, sys, clock)
		if err == nil || !strings.Contains(err.Error(), "step 2 (files.put /etc/robot.conf)") || !strings.Contains(err.Error(), "nosuchuser") {
			t.Fatalf("Run = %v, want the failing step and why\n%s", err, out)
		}
		if !strings.Contains(out, "first boot failed: step 2") {
			t.Errorf("the log does not say why:\n%s", out)
		}
	}
	if want := []time.Duration{15 * time.Second, 30 * time.Second, time.Minute}; fmt.Sprint(clock.slept) != fmt.Sprint(want) {
		t.Errorf("back-off %v, want %v", clock.slept, want)
	}
	if _, err := sys.Lstat("/etc/systemd/system/multi-user.target.wants/" + Unit); err != nil {
		t.Errorf("the unit is no longer enabled after a failure: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{0: 0, 1: 15 * time.Second, 2: 30 * time.Second, 6: 8 * time.Minute, 7: MaxRetryDelay, 100: MaxRetryDelay} {
		if got := backoff(15*time.Second, n); got != want {
			t.Errorf("backoff(15s, %d) = %s, want %s", n, got, want)
		}
	}
	if got := backoff(0, 5); got != 0 {
		t.Errorf("backoff(0, 5) = %s, want 0", got)
	}
}
