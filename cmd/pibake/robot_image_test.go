//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pibake/pibake/image/imagetest"
)

// TestRobotOnImage applies the example robot recipe to a Raspberry Pi OS
// image of every ext4 profile: both filesystems stay clean, every effect
// reads back with the real tools, and a second plan is in state (only the
// commands for the Pi remain, deferred).
func TestRobotOnImage(t *testing.T) {
	t.Setenv("WIFI_PSK", "correct-horse-battery-staple")
	for _, profile := range imagetest.Profiles() {
		t.Run(string(profile), func(t *testing.T) {
			img := imagetest.Build(t, imagetest.Spec{Profile: profile, Small: true})
			target := "image:" + img.Path
			recipe := "../../recipes/examples/robot.star"
			if code, out := pibake(t, "apply", recipe, "--target", target, "--host-name", "robot7"); code != 0 {
				t.Fatalf("apply: exit %d\n%s", code, out)
			}
			planInState(t, "plan after apply", recipe, "--target", target, "--host-name", "robot7")

			checkRobotImage(t, img)
		})
	}
}

// planInState runs "pibake plan ARGS --json" and checks that it exits 0
// with nothing changed, pending or failed; only apt and pip, which wait for
// the Pi, are deferred.
func planInState(t *testing.T, what string, args ...string) {
	t.Helper()
	code, out := pibake(t, append(append([]string{"plan"}, args...), "--json")...)
	if code != 0 {
		t.Errorf("%s: exit %d\n%s", what, code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var sum map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("%s: last line of plan --json: %v\n%s", what, err, out)
	}
	for k, want := range map[string]float64{"changed": 0, "failed": 0, "deferred": 2, "pending": 0} {
		if sum[k] != want {
			t.Errorf("%s: %s = %v, want %v\n%s", what, k, sum[k], want, out)
		}
	}
}

// checkRobotImage judges an image the example robot recipe was applied to
// (host name robot7): both filesystems clean, and every effect read back
// with debugfs and mtools.
func checkRobotImage(t *testing.T, img *imagetest.Image) {
	t.Helper()
	imagetest.E2fsck(t, img)
	imagetest.FsckVfat(t, img)
	files := imagetest.ReadFiles(t, img, "/etc/hostname", "/etc/passwd", "/etc/modules",
		"/home/robot/.ssh/authorized_keys", "/opt/robot/app/main.py", "/etc/systemd/system/robot.service")
	for path, want := range map[string]string{
		"/etc/hostname":                     "robot7\n",
		"/etc/passwd":                       "\nrobot:x:1001:1001:",
		"/etc/modules":                      "\ni2c-dev\n",
		"/home/robot/.ssh/authorized_keys":  "ssh-ed25519 ",
		"/opt/robot/app/main.py":            "from smbus2 import SMBus",
		"/etc/systemd/system/robot.service": "ExecStart=/opt/robot/venv/bin/python -u main.py",
	} {
		if !strings.Contains(string(files[path]), want) {
			t.Errorf("%s in the image lacks %q:\n%s", path, want, files[path])
		}
	}
	st := imagetest.Stat(t, img, "/home/robot/.ssh/authorized_keys", "/etc/NetworkManager/system-connections/robot-lab.nmconnection",
		"/etc/systemd/system/multi-user.target.wants/robot.service", "/etc/localtime")
	if st[0].Mode != 0o100600 || st[0].UID != 1001 {
		t.Errorf("authorized_keys is %o %d, want 0600 owned by robot", st[0].Mode, st[0].UID)
	}
	if st[1].Mode != 0o100600 || st[1].UID != 0 {
		t.Errorf("the Wi-Fi keyfile is %o %d, want 0600 root", st[1].Mode, st[1].UID)
	}
	if st[2].Target != "/etc/systemd/system/robot.service" {
		t.Errorf("robot.service is enabled by a link to %q", st[2].Target)
	}
	if st[3].Target != "/usr/share/zoneinfo/Europe/London" {
		t.Errorf("/etc/localtime -> %q", st[3].Target)
	}
	config := imagetest.BootFile(t, img, "/config.txt")
	for _, want := range []string{"\ndtparam=i2c_arm=on\n", "\ndtparam=i2c_arm_baudrate=400000\n", "\ndtoverlay=pwm-2chan,pin=12,func=4,pin2=13,func2=4\n"} {
		if !bytes.Contains(config, []byte(want)) {
			t.Errorf("config.txt on the boot partition lacks %q", want)
		}
	}
	if cmdline := imagetest.BootFile(t, img, "/cmdline.txt"); !bytes.Contains(cmdline, []byte("cfg80211.ieee80211_regdom=GB")) {
		t.Errorf("cmdline.txt lacks the Wi-Fi country: %s", cmdline)
	}
}

// pibake runs the CLI in this process and returns its exit code and
// everything it printed.
func pibake(t testing.TB, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := run(context.Background(), args, nil, &out, &out)
	return code, out.String()
}
