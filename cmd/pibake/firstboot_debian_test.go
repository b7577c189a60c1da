//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pibake/pibake/image/firstboot"
	"github.com/pibake/pibake/recipes"
	"github.com/pibake/pibake/reconcile"
	"github.com/pibake/pibake/reconcile/local"
	"github.com/pibake/pibake/reconcile/testhost"
)

// These tests play a baked Pi's first boot in a throw-away Debian root: the
// hand-off installed as a bake installs it, then the agent run inside, as
// pibake-firstboot.service runs it (without systemd running: a chroot).

// buildAgent builds a static pibake for this machine, as make build does
// for the Pi.
func buildAgent(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pibake")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the agent: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bakeHandoff compiles star and installs its hand-off, with secrets, into
// h's root, from outside, as a bake does on an image.
func bakeHandoff(t *testing.T, h *testhost.Host, agent []byte, star string, secrets recipes.Secrets) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "robot.star")
	if err := os.WriteFile(file, []byte(star), 0o644); err != nil {
		t.Fatal(err)
	}
	recipe := new(recipes.Recipe)
	if err := json.Unmarshal(compile(t, file), recipe); err != nil {
		t.Fatal(err)
	}
	steps, err := (&firstboot.Handoff{Recipe: recipe, Secrets: secrets, Agent: agent}).Steps()
	if err != nil {
		t.Fatal(err)
	}
	sys, err := local.Dir(h.Root)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sum, err := reconcile.Run(context.Background(), sys, steps, reconcile.Options{Apply: true},
		reconcile.NewTextReporter(&out, reconcile.TextOptions{}))
	if err != nil || sum.Failed != 0 {
		t.Fatalf("installing the hand-off: %v\n%s", err, out.String())
	}
}

// firstBoot runs the agent in h as the unit does, and returns its exit
// code and output (the journal's view: stdout and stderr).
func firstBoot(t *testing.T, h *testhost.Host) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "chroot", h.Root, firstboot.AgentPath, "firstboot", "--dir", firstboot.Dir, "--retry-delay", "0")
	// What systemd 252 gives a service: its default PATH, and little more.
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", "LANG=C.UTF-8"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exitErr):
		return exitErr.ExitCode(), out.String()
	}
	t.Fatal(err)
	return 0, ""
}

// isEnabled is what systemctl is-enabled says of the first-boot unit.
func isEnabled(h *testhost.Host) string {
	out, _ := h.Run(context.Background(), "systemctl", "is-enabled", firstboot.Unit)
	return strings.TrimSpace(string(out))
}

var changedLine = regexp.MustCompile(`(?m)^\s*(changed|failed)\s`)

func TestFirstbootOnDebian(t *testing.T) {
	h := testhost.New(t)
	agent := buildAgent(t)
	bakeHandoff(t, h, agent, `
files.put("/etc/robot.conf", content = "speed = 3\n")
apt.packages(["i2c-tools"])
files.put("/etc/robot/token", content = secret("ROBOT_TOKEN"), mode = "0600")
network.wifi("lab", secret("WIFI_PSK"), "GB")
`, recipes.Secrets{"ROBOT_TOKEN": "t0k-secret"})
	if got := isEnabled(h); got != "enabled" {
		t.Fatalf("after the bake, systemctl is-enabled %s = %q, want enabled", firstboot.Unit, got)
	}

	code, out := firstBoot(t, h)
	t.Logf("first boot:\n%s", out)
	if code != 0 {
		t.Fatalf("first boot: exit %d", code)
	}
	for _, want := range []string{
		"skipped: needs secret WIFI_PSK, not kept on the Pi (applied when baked)",
		"in state; first boot done",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("first boot output does not say %q", want)
		}
	}
	if strings.Contains(out, "t0k-secret") {
		t.Error("first boot output shows a secret")
	}
	for _, check := range []struct {
		argv []string
		want string
	}{
		{[]string{"dpkg-query", "-W", "-f=${Status}", "i2c-tools"}, "install ok installed"},
		{[]string{"cat", "/etc/robot.conf"}, "speed = 3"},
		{[]string{"stat", "-c", "%a %U %s", "/etc/robot/token"}, "600 root 10"},
		{[]string{"sh", "-c", "test -e /etc/pibake/secrets.env && echo present || echo absent"}, "absent"},
		{[]string{"sh", "-c", "test -e /etc/pibake/recipe.json && echo present || echo absent"}, "present"},
	} {
		got, err := h.Run(context.Background(), check.argv...)
		if err != nil || !strings.Contains(string(got), check.want) {
			t.Errorf("%s: %q (%v), want %q", strings.Join(check.argv, " "), got, err, check.want)
		}
	}
	if got := isEnabled(h); got != "disabled" {
		t.Errorf("after first boot, systemctl is-enabled %s = %q, want disabled", firstboot.Unit, got)
	}

	// Run again (a re-enabled unit, someone by hand): in state, no change.
	code, out = firstBoot(t, h)
	if code != 0 || changedLine.MatchString(out) || !strings.Contains(out, "in state; first boot done") {
		t.Errorf("second first boot: exit %d, want 0 and nothing changed:\n%s", code, out)
	}
}

func TestFirstbootFailsOnDebian(t *testing.T) {
	h := testhost.New(t)
	bakeHandoff(t, h, buildAgent(t), `
files.put("/etc/robot.conf", content = "speed = 3\n")
apt.packages(["pibake-no-such-package"])
shell.run("echo " + secret("ROBOT_TOKEN") + " > /etc/robot/token", creates = "/etc/robot/token")
`, recipes.Secrets{"ROBOT_TOKEN": "t0k-secret"})

	code, out := firstBoot(t, h)
	t.Logf("first boot:\n%s", out)
	if code != 1 {
		t.Errorf("first boot with a package not to be had: exit %d, want 1", code)
	}
	for _, want := range []string{"first boot failed: step 2 (apt.packages", "pibake-no-such-package"} {
		if !strings.Contains(out, want) {
			t.Errorf("first boot output does not say %q", want)
		}
	}
	if got := isEnabled(h); got != "enabled" {
		t.Errorf("after a failed first boot, systemctl is-enabled = %q, want enabled (systemd tries again)", got)
	}
	for p, want := range map[string]string{"/etc/pibake/secrets.env": "ROBOT_TOKEN=", "/var/lib/pibake/firstboot-failures": "1\n"} {
		if got, err := os.ReadFile(h.Path(p)); err != nil || !strings.Contains(string(got), want) {
			t.Errorf("%s = %q, %v; want %q in it", p, got, err, want)
		}
	}
}
