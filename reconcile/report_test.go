package reconcile_test

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/opstest"
	"github.com/pibake/pibake/reconcile"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// reportSteps show every kind of step result on the Pi-shaped root.
func reportSteps(t *testing.T, dir string) []*ops.Step {
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return steps(
		&putOp{Path: "/etc/hostname", Content: "robot\n"},
		&putOp{Path: "/etc/hosts", Content: read("etc/hosts")},
		&putOp{Path: "/boot/firmware/config.txt", Content: read("boot/firmware/config.txt") + "dtparam=i2c_arm=on\n", Reboot: true},
		&putOp{Path: "/etc/robot.bin", Content: "\x00\x01\x02"},
		&putOp{Path: "/etc/NetworkManager/system-connections/robot.nmconnection", Content: "[wifi-security]\npsk=hunter2\n", Mode: 0o600, Sensitive: true},
		&chmodOp{Path: "/etc/ssh/sshd_config", Mode: 0o600},
		&runOp{Description: "install git", Argv: []string{"apt-get", "install", "-y", "git"}, Write: "/etc/robot.version"},
		&runOp{Description: "restart robot", Argv: []string{"systemctl", "restart", "robot.service"}, LiveOnly: true},
		&failOp{Message: "user \"robot\" does not exist in the target's /etc/passwd"},
		&absentOp{Path: "/etc/sudoers.d"},
		&putOp{Path: "/etc/ssh/sshd_config.d/robot.conf", Content: "PasswordAuthentication no\nPermitRootLogin no\n"},
	)
}

func TestReportGolden(t *testing.T) {
	tests := []struct {
		golden string
		opts   reconcile.Options
		report func(w *strings.Builder) reconcile.Reporter
	}{
		{"plan.txt", reconcile.Options{}, func(w *strings.Builder) reconcile.Reporter {
			return reconcile.NewTextReporter(w, reconcile.TextOptions{})
		}},
		{"plan-color-hide-ok.txt", reconcile.Options{}, func(w *strings.Builder) reconcile.Reporter {
			return reconcile.NewTextReporter(w, reconcile.TextOptions{Color: true, HideOK: true})
		}},
		{"plan.json", reconcile.Options{}, func(w *strings.Builder) reconcile.Reporter {
			return reconcile.NewJSONReporter(w)
		}},
		{"apply.txt", reconcile.Options{Apply: true}, func(w *strings.Builder) reconcile.Reporter {
			return reconcile.NewTextReporter(w, reconcile.TextOptions{})
		}},
		{"apply.json", reconcile.Options{Apply: true}, func(w *strings.Builder) reconcile.Reporter {
			return reconcile.NewJSONReporter(w)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			sys, dir := opstest.Root(t)
			var out strings.Builder
			tt.opts.Now = opstest.Now
			tt.opts.Redact = func(s string) string { return strings.ReplaceAll(s, "hunter2", "<secret>") }
			if _, err := reconcile.Run(context.Background(), sys, reportSteps(t, dir), tt.opts, tt.report(&out)); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), out.String()); diff != "" {
				t.Errorf("report differs from %s (-want +got; go test -update rewrites it):\n%s", golden, diff)
			}
			if strings.HasSuffix(tt.golden, ".json") {
				checkJSONLines(t, out.String())
			}
		})
	}
}

// checkJSONLines checks the JSON report's shape: an object per line, each
// with a type, the summary last and with the required keys.
func checkJSONLines(t *testing.T, out string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	var last map[string]any
	n := 0
	for sc.Scan() {
		last = nil
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("line %d is not a JSON object: %v", n+1, err)
		}
		n++
		if _, ok := last["type"].(string); !ok {
			t.Errorf("line %d has no type: %s", n, sc.Text())
		}
	}
	if last["type"] != "summary" {
		t.Fatalf("last line is not the summary: %v", last)
	}
	for _, k := range []string{"ok", "changed", "deferred", "failed"} {
		if _, ok := last[k].(float64); !ok {
			t.Errorf("summary has no number %q: %v", k, last)
		}
	}
}

func TestTextReporterSummary(t *testing.T) {
	tests := []struct {
		sum  reconcile.Summary
		want string
	}{
		{reconcile.Summary{OK: 3, Changed: 5, Deferred: 2}, "summary: 3 ok, 5 changed, 2 deferred, 0 failed\n"},
		{reconcile.Summary{Changed: 1, Failed: 1, Skipped: 4, Reboot: true}, "summary: 0 ok, 1 changed, 0 deferred, 1 failed, 4 skipped, reboot required\n"},
	}
	for _, tt := range tests {
		var out strings.Builder
		reconcile.NewTextReporter(&out, reconcile.TextOptions{}).Done(tt.sum)
		if out.String() != tt.want {
			t.Errorf("Done(%+v) wrote %q, want %q", tt.sum, out.String(), tt.want)
		}
	}
}

// TestJSONReporterHost: with a host, every object is the single-target
// one with "host" added.
func TestJSONReporterHost(t *testing.T) {
	sys, dir := opstest.Root(t)
	var plain, withHost strings.Builder
	rep := multi{reconcile.NewJSONReporter(&plain), reconcile.NewJSONReporterWith(&withHost, reconcile.JSONOptions{Host: "robot1"})}
	if _, err := reconcile.Run(context.Background(), sys, reportSteps(t, dir), reconcile.Options{Now: opstest.Now}, rep); err != nil {
		t.Fatal(err)
	}
	plainLines := strings.Split(strings.TrimSpace(plain.String()), "\n")
	hostLines := strings.Split(strings.TrimSpace(withHost.String()), "\n")
	if len(plainLines) != len(hostLines) {
		t.Fatalf("%d lines with a host, want %d", len(hostLines), len(plainLines))
	}
	for i := range plainLines {
		var want, got map[string]any
		if err := json.Unmarshal([]byte(plainLines[i]), &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(hostLines[i]), &got); err != nil {
			t.Fatal(err)
		}
		want["host"] = "robot1"
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("line %d (-want +got):\n%s", i+1, diff)
		}
		if !strings.HasPrefix(hostLines[i], `{"type":"`+want["type"].(string)+`","host":"robot1",`) {
			t.Errorf("line %d does not start with type then host: %s", i+1, hostLines[i])
		}
	}
}
