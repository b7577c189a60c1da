//go:build linux

package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestAgentsRunOnARM runs the first-boot agents a bake puts in ARM images
// on emulated ARM CPUs (qemu-user): the arm64 agent on a Cortex-A53 (Pi 3,
// Zero 2), the armv6 one on an ARM1176 (Pi 1, Zero: the oldest CPU
// Raspberry Pi OS runs on). Each compiles the example recipe exactly as
// this machine does.
func TestAgentsRunOnARM(t *testing.T) {
	robot, err := filepath.Abs("../../recipes/examples/robot.star")
	if err != nil {
		t.Fatal(err)
	}
	code, want := pibake(t, "check", "--json", robot)
	if code != 0 {
		t.Fatalf("check: exit %d\n%s", code, want)
	}
	for _, tc := range []struct{ goarch, qemu, cpu string }{
		{"arm64", "qemu-aarch64-static", "cortex-a53"},
		{"arm", "qemu-arm-static", "arm1176"},
	} {
		t.Run(tc.goarch, func(t *testing.T) {
			qemu, err := exec.LookPath(tc.qemu)
			if err != nil {
				t.Skipf("%s is not installed (make deps installs qemu-user-static)", tc.qemu)
			}
			agent := testAgent(t, tc.goarch)
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(qemu, "-cpu", tc.cpu, agent, "check", "--json", robot)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("the %s agent on %s: %v\n%s", tc.goarch, tc.cpu, err, stderr.Bytes())
			}
			if got := stdout.String(); got != want {
				t.Errorf("the %s agent on %s compiles the recipe differently:\n%s\nwant:\n%s", tc.goarch, tc.cpu, got, want)
			}
		})
	}
}
