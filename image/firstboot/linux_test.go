//go:build linux

package firstboot

import (
	"context"
	"strings"
	"testing"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/image/imagetest"
	"github.com/pibake/pibake/recipes/recipetest"
	"github.com/pibake/pibake/reconcile/local"
	"github.com/pibake/pibake/reconcile/testhost"
)

// The unit passes systemd's own check, on Debian bookworm (systemd 252,
// what Raspberry Pi OS Bookworm has): every directive known to 252, the
// program there and executable. And systemctl agrees it is enabled.
func TestUnitVerifies(t *testing.T) {
	h := testhost.New(t)
	sys, err := local.Dir(h.Root)
	if err != nil {
		t.Fatal(err)
	}
	handoff := &Handoff{Recipe: recipetest.Compile(t, handoffRecipe), Agent: buildTiny(t, "amd64", "")}
	steps, err := handoff.Steps()
	if err != nil {
		t.Fatal(err)
	}
	if sum, out := runSteps(t, sys, steps, true); sum.Failed != 0 {
		t.Fatalf("installing the hand-off: %+v\n%s", sum, out)
	}
	ctx := context.Background()
	version, _ := h.Run(ctx, "systemctl", "--version")
	t.Logf("%s", strings.SplitN(string(version), "\n", 2)[0])
	out, err := h.Run(ctx, "systemd-analyze", "verify", UnitPath)
	if err != nil || strings.Contains(string(out), Unit) {
		t.Errorf("systemd-analyze verify %s: %v\n%s", UnitPath, err, out)
	}
	if out, err := h.Run(ctx, "systemctl", "is-enabled", Unit); err != nil || strings.TrimSpace(string(out)) != "enabled" {
		t.Errorf("systemctl is-enabled = %q, %v; want enabled", out, err)
	}
}

// An image built from the fixture root is read through the image System.
func TestDetectArchImage(t *testing.T) {
	img := imagetest.Build(t, imagetest.Spec{Small: true})
	im, err := image.Open(img.Path, image.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	if got, err := DetectArch(im); err != nil || got != ARM64 {
		t.Fatalf("DetectArch(image) = %q, %v; want %q", got, err, ARM64)
	}
}
