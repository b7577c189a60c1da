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
	"strings"
	"testing"

	"github.com/pibake/pibake/reconcile/testhost"
)

// These tests apply recipes with --target local inside a throw-away Debian
// root (a chroot, as on a Pi's first boot but without systemd running):
// real apt, pip, git, locale-gen and systemctl do the work, and a second
// run must change nothing.

// buildPibake builds a static pibake into the host at /usr/local/bin.
func buildPibake(t *testing.T, h *testhost.Host) {
	t.Helper()
	out := h.Path("/usr/local/bin/pibake")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building pibake: %v\n%s", err, b)
	}
}

// compile runs "pibake check --json" here, as a bake does before it puts
// the recipe into an image.
func compile(t *testing.T, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), append([]string{"check", "--json"}, args...), nil, &stdout, &stderr); code != 0 {
		t.Fatalf("pibake check %v: exit %d\n%s", args, code, stderr.String())
	}
	return stdout.Bytes()
}

// pibakeIn runs pibake inside the host and returns its exit code and the
// JSON summary line of its output.
func pibakeIn(t *testing.T, h *testhost.Host, args ...string) (code int, summary map[string]any, out string) {
	t.Helper()
	cmd := exec.Command("chroot", append([]string{h.Root, "/usr/local/bin/pibake"}, args...)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/root"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	default:
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &summary); err != nil {
		summary = nil
	}
	return code, summary, stdout.String() + stderr.String()
}

// piShaped gives the Debian root what Raspberry Pi OS has and Debian lacks:
// the boot partition's config.txt and cmdline.txt.
func piShaped(t *testing.T, h *testhost.Host) {
	t.Helper()
	for _, name := range []string{"config.txt", "cmdline.txt"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "rootfs", "boot", "firmware", name))
		if err != nil {
			t.Fatal(err)
		}
		h.WriteFile(t, "/boot/firmware/"+name, b, 0o644)
	}
}

func mustRun(t *testing.T, h *testhost.Host, argv ...string) string {
	t.Helper()
	out, err := h.Run(context.Background(), argv...)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// accountChecks is what pwck and grpck (read-only) say of the host.
func accountChecks(h *testhost.Host) string {
	out, _ := h.Run(context.Background(), "sh", "-c", "pwck -r 2>&1; echo pwck exit $?; grpck -r 2>&1; echo grpck exit $?")
	return string(out)
}

func checkSummary(t *testing.T, what string, summary map[string]any, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if summary[k] != v {
			t.Errorf("%s: summary %s = %v, want %v (summary %v)", what, k, summary[k], v, summary)
		}
	}
}

// TestRobotOnDebian applies the example robot recipe on a Debian host and
// checks every effect with the system's own tools.
func TestRobotOnDebian(t *testing.T) {
	h := testhost.New(t)
	piShaped(t, h)
	buildPibake(t, h)
	h.WriteFile(t, "/etc/pibake/recipe.json", compile(t, "../../recipes/examples/robot.star", "--host-name", "robot7"), 0o644)
	h.WriteFile(t, "/etc/pibake/secrets.env", []byte("WIFI_PSK=correct-horse-battery-staple\n"), 0o600)
	args := []string{"/etc/pibake/recipe.json", "--target", "local", "--secrets", "/etc/pibake/secrets.env", "--json"}
	// Debian's own system users already upset pwck (homes that do not
	// exist in a chroot): pibake must add no complaint of its own.
	accountsBefore := accountChecks(h)

	code, summary, out := pibakeIn(t, h, append([]string{"apply"}, args...)...)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	checkSummary(t, "apply", summary, map[string]float64{"failed": 0, "deferred": 0})
	if summary["changed"].(float64) < 10 {
		t.Errorf("apply changed only %v steps on a fresh host:\n%s", summary["changed"], out)
	}

	code, summary, out = pibakeIn(t, h, append([]string{"plan"}, args...)...)
	if code != 0 {
		t.Errorf("plan after apply: exit %d, want 0\n%s", code, out)
	}
	checkSummary(t, "plan after apply", summary, map[string]float64{"changed": 0, "deferred": 0, "failed": 0, "skipped": 0})
	code, summary, out = pibakeIn(t, h, append([]string{"apply"}, args...)...)
	if code != 0 {
		t.Errorf("second apply: exit %d\n%s", code, out)
	}
	checkSummary(t, "second apply", summary, map[string]float64{"changed": 0, "failed": 0})

	if after := accountChecks(h); after != accountsBefore {
		t.Errorf("pwck/grpck after apply:\n%s\nwant what they said before:\n%s", after, accountsBefore)
	}

	// What the recipe asked for, as the system's own tools see it.
	for _, check := range []struct {
		argv []string
		want string
	}{
		{[]string{"dpkg-query", "-W", "-f=${Status}", "i2c-tools"}, "install ok installed"},
		{[]string{"dpkg-query", "-W", "-f=${Status}", "python3-smbus"}, "install ok installed"},
		{[]string{"id", "-nG", "robot"}, "robot"},
		{[]string{"runuser", "-u", "robot", "--", "/opt/robot/venv/bin/python", "-c", "import smbus2; print(smbus2.__version__)"}, "0.4.3"},
		{[]string{"systemctl", "is-enabled", "robot.service"}, "enabled"},
		{[]string{"systemctl", "is-enabled", "ssh.service"}, "enabled"},
		{[]string{"cat", "/etc/hostname"}, "robot7"},
		{[]string{"readlink", "/etc/localtime"}, "/usr/share/zoneinfo/Europe/London"},
		{[]string{"sh", "-c", "mkdir -p /run/sshd && sshd -T -C user=robot,host=x,addr=1.2.3.4"}, "passwordauthentication no"},
		{[]string{"stat", "-c", "%a %U", "/home/robot/.ssh/authorized_keys"}, "600 robot"},
		{[]string{"stat", "-c", "%a %U", "/etc/NetworkManager/system-connections/robot-lab.nmconnection"}, "600 root"},
		{[]string{"grep", "-c", "^dtparam=i2c_arm=on", "/boot/firmware/config.txt"}, "1"},
		{[]string{"grep", "-x", "i2c-dev", "/etc/modules"}, "i2c-dev"},
		{[]string{"ls", "/opt/robot/app"}, "main.py"},
	} {
		out, err := h.Run(context.Background(), check.argv...)
		if err != nil || !strings.Contains(string(out), check.want) {
			t.Errorf("%s: %q (%v), want it to contain %q", strings.Join(check.argv, " "), out, err, check.want)
		}
	}
	groups := mustRun(t, h, "id", "-nG", "robot")
	for _, g := range []string{"i2c", "gpio", "dialout", "video"} {
		if !strings.Contains(groups, g) {
			t.Errorf("robot is not in group %s: %s", g, groups)
		}
	}
}

// TestEscapeHatchesOnDebian covers the ops that need a real system: git
// at a revision, locale generation, shell.run guards.
func TestEscapeHatchesOnDebian(t *testing.T) {
	h := testhost.New(t)
	buildPibake(t, h)
	mustRun(t, h, "sh", "-e", "-c", `
		git init -q --bare /srv/firmware.git
		git clone -q /srv/firmware.git /tmp/work
		cd /tmp/work
		git -c user.name=t -c user.email=t@example.org commit -q --allow-empty -m one
		git tag v1
		git -c user.name=t -c user.email=t@example.org commit -q --allow-empty -m two
		git push -q origin HEAD:refs/heads/main v1
	`)
	h.WriteFile(t, "/srv/recipe.star", []byte(`
git.repo("file:///srv/firmware.git", "/opt/firmware", rev = "v1")
server.locale("en_GB.UTF-8")
shell.run("echo ran >> /var/tmp/runs", creates = "/var/tmp/runs")
shell.run("echo checked >> /var/tmp/checks", unless = "grep -q checked /var/tmp/checks")
`), 0o644)
	args := []string{"/srv/recipe.star", "--target", "local", "--json"}
	code, summary, out := pibakeIn(t, h, append([]string{"apply"}, args...)...)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	checkSummary(t, "apply", summary, map[string]float64{"changed": 4, "failed": 0})
	code, summary, out = pibakeIn(t, h, append([]string{"plan"}, args...)...)
	if code != 0 {
		t.Errorf("plan after apply: exit %d\n%s", code, out)
	}
	checkSummary(t, "plan after apply", summary, map[string]float64{"ok": 4, "changed": 0})

	tag := strings.TrimSpace(mustRun(t, h, "git", "-C", "/srv/firmware.git", "rev-parse", "v1^{commit}"))
	if head := strings.TrimSpace(mustRun(t, h, "git", "-C", "/opt/firmware", "rev-parse", "HEAD")); head != tag {
		t.Errorf("/opt/firmware HEAD = %s, want v1 = %s", head, tag)
	}
	if got := mustRun(t, h, "locale", "-a"); !strings.Contains(got, "en_GB.utf8") {
		t.Errorf("locale -a = %q, want en_GB.utf8", got)
	}
	if got := mustRun(t, h, "cat", "/var/tmp/runs", "/var/tmp/checks"); got != "ran\nchecked\n" {
		t.Errorf("shell.run ran %q, want each command once", got)
	}
}
