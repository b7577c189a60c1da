//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pibake/pibake/image/imagetest/vm"
)

// The first boot for real: an amd64 Debian machine laid out like Raspberry
// Pi OS (image/imagetest/vm), baked offline, booted under QEMU with systemd
// as PID 1. The recipe installs a package whose .deb is in the image's apt
// cache (the machine has no network beyond the host).
//
// "plan over SSH" is this pibake planning the recipe against the machine
// as an SSH target (--target with an ssh_config naming its forwarded port
// and key), the way a robot is checked after it booted.

const vmRecipe = `
server.hostname("robot-vm")
apt.packages(%s)
files.put(path = "/etc/motd", content = "baked by pibake\n")
server.user(name = "robot", groups = ["sudo"], shell = "/bin/bash")
`

// bakeVM bakes a recipe installing packages into a fresh machine image
// with an amd64 agent, and returns the baked image's path and the recipe's.
func bakeVM(t *testing.T, packages ...string) (img, recipe string) {
	t.Helper()
	base := vm.Build(t, vm.ImageOptions{})
	quoted, _ := json.Marshal(packages)
	recipe = filepath.Join(t.TempDir(), "robot.star")
	if err := os.WriteFile(recipe, []byte(fmt.Sprintf(vmRecipe, quoted)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "robot.img")
	if code, log := pibake(t, "bake", recipe, "--from", base.Path, "--out", out, "--agent", testAgent(t, "amd64")); code != 0 {
		t.Fatalf("bake: exit %d\n%s", code, log)
	}
	return out, recipe
}

// sshToVM writes an ssh_config naming the machine "vm" (its forwarded
// port, root, its key, a known_hosts file of the test's) and returns the
// pibake flags that use it. The machine's host key is new to the file:
// the first contact accepts it.
func sshToVM(t *testing.T, m *vm.Machine) []string {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "ssh_config")
	text := fmt.Sprintf("Host vm\n  HostName 127.0.0.1\n  Port %d\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n",
		m.Port(), m.KeyFile(), filepath.Join(dir, "known_hosts"))
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--target", "vm", "--ssh-config", config, "--accept-new-host-key"}
}

// pibakeOverSSH runs pibake COMMAND RECIPE against the machine over SSH
// with --json and returns the exit code and the JSON summary.
func pibakeOverSSH(t *testing.T, m *vm.Machine, command, recipe string, flags ...string) (int, map[string]any, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args := append(append([]string{command, recipe, "--json"}, sshToVM(t, m)...), flags...)
	code := run(context.Background(), args, nil, &stdout, &stderr)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var sum map[string]any
	json.Unmarshal([]byte(lines[len(lines)-1]), &sum)
	return code, sum, stdout.String() + stderr.String()
}

// planOverSSH plans the recipe against the machine over SSH.
func planOverSSH(t *testing.T, m *vm.Machine, recipe string) (int, map[string]any, string) {
	t.Helper()
	return pibakeOverSSH(t, m, "plan", recipe)
}

// liveRecipe adds to the baked recipe what needs a live machine: a
// service to start now (live-only), and i2c in config.txt (a reboot).
const liveRecipe = `
firmware.i2c()
systemd.service(
    "pibake-demo",
    unit = "[Unit]\nDescription=pibake demo\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/echo demo started\n[Install]\nWantedBy=multi-user.target\n",
    enabled = True,
    running = True,
)
`

// applyRebootVM applies more to the running machine over SSH with
// --reboot: the service is started at once (a live-only action), the
// machine reboots for config.txt and comes back, and the plan is then in
// state.
func applyRebootVM(t *testing.T, m *vm.Machine, recipe string) {
	t.Helper()
	base, err := os.ReadFile(recipe)
	if err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(filepath.Dir(recipe), "live.star")
	if err := os.WriteFile(live, append(base, liveRecipe...), 0o644); err != nil {
		t.Fatal(err)
	}
	bootID := func() string {
		out, err := m.SSH("cat /proc/sys/kernel/random/boot_id")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	before := bootID()
	code, sum, out := pibakeOverSSH(t, m, "apply", live, "--reboot")
	if code != 0 || sum["reboot"] != true || !strings.Contains(out, "back after") {
		t.Fatalf("apply --reboot over ssh: exit %d, summary %v\n%s", code, sum, out)
	}
	if after := bootID(); after == before {
		t.Errorf("apply --reboot: the machine did not reboot (boot ID %s)", after)
	}
	// Started by the apply, before the reboot: the previous boot's journal.
	if got, _ := m.SSH("journalctl -b -1 -u pibake-demo --no-pager -q -o cat"); !strings.Contains(got, "demo started") {
		t.Errorf("the live-only start did not run before the reboot; journal of the previous boot:\n%s", got)
	}
	for cmd, want := range map[string]string{
		"grep -x dtparam=i2c_arm=on /boot/firmware/config.txt": "dtparam=i2c_arm=on",
		"systemctl is-active pibake-demo":                      "active",
	} {
		if got, err := m.SSH(cmd); err != nil || !strings.Contains(got, want) {
			t.Errorf("after the reboot: %s: %q (%v), want %q", cmd, got, err, want)
		}
	}
	if code, sum, out := planOverSSH(t, m, live); code != 0 || sum["changed"] != 0.0 {
		t.Errorf("plan over ssh after apply --reboot: exit %d, summary %v\n%s", code, sum, out)
	}
}

// waitUnit waits until the first-boot unit is no longer running and
// returns its state ("inactive"/"success" when done).
func waitUnit(t *testing.T, m *vm.Machine, until func(state string) bool, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var state string
	for time.Now().Before(deadline) {
		out, err := m.SSH("systemctl show -p ActiveState -p SubState -p Result -p NRestarts pibake-firstboot.service")
		if err == nil {
			state = strings.Join(strings.Fields(out), " ")
			if until(state) {
				return state
			}
		}
		time.Sleep(2 * time.Second)
	}
	journal, _ := m.SSH("journalctl -b -u pibake-firstboot --no-pager | tail -50")
	t.Fatalf("pibake-firstboot: %s after %s\n%s", state, timeout, journal)
	return ""
}

func TestFirstBootVM(t *testing.T) {
	vm.Skip(t)
	img, recipe := bakeVM(t, "i2c-tools")

	m := vm.Boot(t, img)
	state := waitUnit(t, m, func(s string) bool { return strings.Contains(s, "ActiveState=inactive") }, 5*time.Minute)
	if !strings.Contains(state, "Result=success") {
		t.Errorf("first boot ended: %s", state)
	}
	journal, _ := m.SSH("journalctl -b -u pibake-firstboot --no-pager")
	if !strings.Contains(journal, "first boot done") {
		t.Errorf("the journal does not say first boot is done:\n%s", journal)
	}
	for cmd, want := range map[string]string{
		"systemctl is-enabled pibake-firstboot.service || true": "disabled",
		"dpkg-query -W -f='${Status}' i2c-tools":                "install ok installed",
		"hostname":                                              "robot-vm",
		"cat /etc/motd":                                         "baked by pibake",
		"id robot":                                              "(sudo)",
		"findmnt -n -o FSTYPE /boot/firmware":                   "vfat",
		"test -e /etc/pibake/secrets.env && echo kept || echo gone": "gone",
	} {
		if out, err := m.SSH(cmd); err != nil || !strings.Contains(out, want) {
			t.Errorf("%s: %q (%v), want %q", cmd, out, err, want)
		}
	}
	code, sum, out := planOverSSH(t, m, recipe)
	if code != 0 || sum["changed"] != 0.0 || sum["failed"] != 0.0 || sum["deferred"] != 0.0 {
		t.Errorf("plan over ssh after first boot: exit %d, summary %v\n%s", code, sum, out)
	}
	applyRebootVM(t, m, recipe)
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}

	// Booting again changes nothing: the unit stays disabled and does not
	// run, neither after apply --reboot (boot -1) nor now.
	m = vm.Boot(t, img)
	for _, boot := range []string{"0", "-1"} {
		if out, _ := m.SSH("journalctl -b " + boot + " -u pibake-firstboot --no-pager -q"); strings.TrimSpace(out) != "" {
			t.Errorf("pibake-firstboot ran on boot %s:\n%s", boot, out)
		}
	}
	// The journal persists, so the checks above could see a run: the first
	// boot's is there.
	if out, _ := m.SSH("journalctl -b -2 -u pibake-firstboot --no-pager -q"); !strings.Contains(out, "first boot done") {
		t.Errorf("the first boot's journal, read on the second boot, lacks the agent's report:\n%s", out)
	}
	for cmd, want := range map[string]string{
		"dpkg-query -W -f='${Status}' i2c-tools":                "install ok installed",
		"systemctl is-enabled pibake-firstboot.service || true": "disabled",
		"cat /etc/motd": "baked by pibake",
	} {
		if out, err := m.SSH(cmd); err != nil || !strings.Contains(out, want) {
			t.Errorf("second boot: %s: %q (%v), want %q", cmd, out, err, want)
		}
	}
	code, sum, out = planOverSSH(t, m, recipe)
	if code != 0 || sum["changed"] != 0.0 || sum["failed"] != 0.0 {
		t.Errorf("plan over ssh after a second boot: exit %d, summary %v\n%s", code, sum, out)
	}
}

// TestFirstBootVMFails bakes a recipe with a package apt cannot find:
// first boot fails, says why in the journal, retries, and the plan shows
// what is still pending. (A package apt knows but cannot fetch fails the
// same way, only after DNS timeouts: minutes under QEMU.)
func TestFirstBootVMFails(t *testing.T) {
	vm.Skip(t)
	img, recipe := bakeVM(t, "i2c-tools", "no-such-package")
	m := vm.Boot(t, img)
	waitUnit(t, m, func(s string) bool { return !strings.Contains(s, "NRestarts=0") }, 5*time.Minute)
	journal, _ := m.SSH("journalctl -b -u pibake-firstboot --no-pager")
	for _, want := range []string{"Unable to locate package no-such-package", "attempt 1 failed; next attempt in 15s"} {
		if !strings.Contains(journal, want) {
			t.Errorf("the journal lacks %q:\n%s", want, journal)
		}
	}
	if out, _ := m.SSH("systemctl is-enabled pibake-firstboot.service || true"); !strings.Contains(out, "enabled") || strings.Contains(out, "disabled") {
		t.Errorf("pibake-firstboot is %q after a failed first boot, want enabled", out)
	}
	code, sum, out := planOverSSH(t, m, recipe)
	if code != 2 || sum["changed"] == 0.0 || !strings.Contains(out, "apt.packages") {
		t.Errorf("plan over ssh after a failed first boot: exit %d, summary %v, want exit 2 with apt pending\n%s", code, sum, out)
	}
}
