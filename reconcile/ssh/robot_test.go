//go:build linux

package ssh

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pibake/pibake/recipes"
	"github.com/pibake/pibake/reconcile"
)

// TestRobotOverSSH applies the example recipe to a Debian host over real
// sshd, as a user who becomes root with sudo; a plan on a new connection
// is then in state, in at most two round trips after the handshake.
func TestRobotOverSSH(t *testing.T) {
	h := newTestHost(t)
	for _, name := range []string{"config.txt", "cmdline.txt"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "rootfs", "boot", "firmware", name))
		if err != nil {
			t.Fatal(err)
		}
		h.WriteFile(t, "/boot/firmware/"+name, b, 0o644)
	}
	recipe, err := recipes.Load("../../recipes/examples/robot.star", recipes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	vault, err := recipes.LoadSecrets("../../recipes/examples/robot.env", nil)
	if err != nil {
		t.Fatal(err)
	}
	steps, redact, err := recipe.Resolve(vault)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	sys := h.open(t, "pi", SystemOptions{})
	var log strings.Builder
	rep := reconcile.NewTextReporter(&log, reconcile.TextOptions{})
	sum, err := reconcile.Run(ctx, sys, steps, reconcile.Options{Apply: true, Now: time.Now(), Redact: redact}, rep)
	if err != nil || sum.Failed > 0 {
		t.Fatalf("apply: %v\n%s", err, log.String())
	}
	t.Logf("apply: %d round trips, %v\n%s", sys.RoundTrips(), time.Since(start).Round(time.Millisecond), log.String())
	sys.Close()

	// The first plan (nothing remembered) learns what the recipe reads by
	// planning against guesses; the next one fetches what the first read.
	// Both must cost the session and one batch.
	remember := filepath.Join(t.TempDir(), "facts.json")
	for i := range 2 {
		start := time.Now()
		sys2 := h.open(t, "pi", SystemOptions{Trace: t.Logf, Remember: remember})
		log.Reset()
		sum, err = reconcile.Run(ctx, sys2, steps, reconcile.Options{Now: time.Now(), Redact: redact}, reconcile.NewTextReporter(&log, reconcile.TextOptions{}))
		sys2.Close()
		if err != nil || sum.Pending > 0 || sum.Failed > 0 {
			t.Fatalf("plan %d after apply: %+v %v\n%s", i+1, sum, err, log.String())
		}
		t.Logf("no-op plan %d: %d round trips, %v", i+1, sys2.RoundTrips(), time.Since(start).Round(time.Millisecond))
		if n := sys2.RoundTrips(); n > 2 {
			t.Errorf("no-op plan %d took %d round trips after the handshake, want at most 2", i+1, n)
		}
	}
}
