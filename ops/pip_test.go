package ops_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/opstest"
	"github.com/pibake/pibake/reconcile/local"
)

// fakeVenv lays out the files of a venv at /opt/venv under root.
func fakeVenv(t *testing.T, root string) {
	t.Helper()
	writeFile(t, root, "/opt/venv/pyvenv.cfg", "home = /usr/bin\nversion = 3.11.2\n")
	writeSymlink(t, root, "/opt/venv/bin/python", "python3")
	writeSymlink(t, root, "/opt/venv/bin/python3", "/usr/bin/python3")
	site := "/opt/venv/lib/python3.11/site-packages/"
	writeFile(t, root, site+"Foo_Bar-1.2.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 1.2.0\n\nName: not-this\n")
	writeFile(t, root, site+"numpy-1.26.4.dist-info/METADATA", "Metadata-Version: 2.1\r\nName: numpy\r\nVersion: 1.26.4\r\n")
	writeFile(t, root, site+"legacy-0.1.egg-info/PKG-INFO", "Name: legacy\nVersion: 0.1\n")
	writeFile(t, root, site+"smbus2-0.4.3.dist-info/RECORD", "no METADATA here\n")
	writeFile(t, root, "/opt/robot/requirements.txt", "numpy>=1.26\n")
}

func TestPipVenvPlan(t *testing.T) {
	sum := sha256.Sum256([]byte("numpy>=1.26\n"))
	recorded := hex.EncodeToString(sum[:]) + "\n"
	pipInstall := func(specs ...string) string {
		quoted := make([]string, len(specs))
		for i, s := range specs {
			quoted[i] = ops.ShellQuote(s)
		}
		return "pip install " + strings.Join(specs, ", ") + ": /opt/venv/bin/pip install " + strings.Join(quoted, " ")
	}
	reqs := "pip install -r /opt/robot/requirements.txt: /opt/venv/bin/pip install -r /opt/robot/requirements.txt ..."
	tests := []struct {
		name  string
		setup func(t *testing.T, root string)
		op    *ops.PipVenv
		files []string
		execs []string
	}{{
		name: "installed, by normalised name",
		op:   &ops.PipVenv{Path: "/opt/venv", Packages: []string{"foo-bar", "FOO.bar==1.2", "foo_bar[extra]>=1.0,<2", "numpy~=1.26", "numpy==1.*", "Legacy", "numpy===1.26.4"}},
	}, {
		name:  "missing or another version",
		op:    &ops.PipVenv{Path: "/opt/venv", Packages: []string{"foo-bar>=1.3", "numpy!=1.26.4", "numpy", "requests", "smbus2"}},
		execs: []string{pipInstall("foo-bar>=1.3", "numpy!=1.26.4", "requests", "smbus2")},
	}, {
		name: "requirements in state",
		setup: func(t *testing.T, root string) {
			writeFile(t, root, "/opt/venv/.pibake-requirements.sha256", recorded)
		},
		op: &ops.PipVenv{Path: "/opt/venv", Requirements: "/opt/robot/requirements.txt"},
	}, {
		name: "requirements changed since",
		setup: func(t *testing.T, root string) {
			writeFile(t, root, "/opt/venv/.pibake-requirements.sha256", recorded)
			writeFile(t, root, "/opt/robot/requirements.txt", "numpy>=1.26\nsmbus2\n")
		},
		op:    &ops.PipVenv{Path: "/opt/venv", Requirements: "/opt/robot/requirements.txt"},
		execs: []string{reqs},
	}, {
		name:  "requirements never installed",
		op:    &ops.PipVenv{Path: "/opt/venv", Packages: []string{"numpy"}, Requirements: "/opt/robot/requirements.txt"},
		execs: []string{reqs},
	}, {
		name:  "requirements file not there yet",
		op:    &ops.PipVenv{Path: "/opt/venv", Requirements: "/opt/robot/later.txt"},
		execs: []string{"pip install -r /opt/robot/later.txt: /opt/venv/bin/pip install -r /opt/robot/later.txt ..."},
	}, {
		name:  "no venv, as pi",
		op:    &ops.PipVenv{Path: "/home/pi/robot/venv", Packages: []string{"numpy"}, Owner: "pi"},
		files: []string{"mkdir /home/pi/robot (0755 1000:1000)", "mkdir /home/pi/robot/venv (0755 1000:1000)"},
		execs: []string{
			"make the venv /home/pi/robot/venv: (as pi) python3 -m venv /home/pi/robot/venv",
			"pip install numpy: (as pi) /home/pi/robot/venv/bin/pip install numpy",
		},
	}, {
		name: "a half-made venv is made again",
		setup: func(t *testing.T, root string) {
			os.Remove(filepath.Join(root, "opt/venv/bin/python"))
		},
		op:    &ops.PipVenv{Path: "/opt/venv"},
		execs: []string{"make the venv /opt/venv: python3 -m venv /opt/venv"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, root := opstest.Root(t)
			fakeVenv(t, root)
			if tt.setup != nil {
				tt.setup(t, root)
			}
			changes := opstest.Converge(t, opstest.Env(sys), tt.op)
			if diff := cmp.Diff(tt.files, opstest.Files(changes)); diff != "" {
				t.Errorf("Plan file changes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.execs, opstest.ExecLines(changes)); diff != "" {
				t.Errorf("Plan execs (-want +got):\n%s", diff)
			}
			for _, e := range opstest.Execs(changes) {
				home := "HOME=/root"
				if tt.op.Owner == "pi" {
					home = "HOME=/home/pi"
				}
				if !strings.Contains(strings.Join(e.Env, " "), home) || e.LiveOnly {
					t.Errorf("%s: Env %q LiveOnly %v, want %s, not live-only", e, e.Env, e.LiveOnly, home)
				}
			}
		})
	}
}

func TestPipVenvErrors(t *testing.T) {
	sys, _ := opstest.Root(t)
	tests := []struct {
		op   *ops.PipVenv
		want string
	}{
		{&ops.PipVenv{Path: "venv"}, `path: want an absolute path, got "venv"`},
		{&ops.PipVenv{Path: "/"}, "path: a venv cannot be /"},
		{&ops.PipVenv{Path: "/opt/v", Packages: []string{"numpy; python_version < '3.9'"}}, "no markers, URLs or pip options"},
		{&ops.PipVenv{Path: "/opt/v", Packages: []string{"robot @ https://example.org/robot.whl"}}, "no markers, URLs or pip options"},
		{&ops.PipVenv{Path: "/opt/v", Packages: []string{"--index-url=x"}}, "no markers, URLs or pip options"},
		{&ops.PipVenv{Path: "/opt/v", Packages: []string{"numpy=>1"}}, `packages: package "numpy=>1": bad version specifier`},
		{&ops.PipVenv{Path: "/opt/v", Packages: []string{"numpy>=1.*"}}, ">= does not take a wildcard"},
		{&ops.PipVenv{Path: "/opt/v", Packages: []string{"numpy~=1"}}, "~= needs a version with at least two parts"},
		{&ops.PipVenv{Path: "/opt/v", Packages: []string{"numpy==one"}}, "invalid version"},
		{&ops.PipVenv{Path: "/opt/v", Requirements: "req.txt"}, `requirements: want an absolute path, got "req.txt"`},
		{&ops.PipVenv{Path: "/opt/v", Owner: "robot"}, `user "robot" does not exist`},
	}
	for _, tt := range tests {
		_, err := ops.Plan(context.Background(), opstest.Env(sys), tt.op)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Plan(%+v) error = %v, want one containing %q", tt.op, err, tt.want)
		}
	}
}

func TestPySatisfies(t *testing.T) {
	tests := []struct {
		spec, installed string
		want            bool
	}{
		{"a", "0.0.1", true},
		{"a==1.0", "1.0.0", true},
		{"a==1.0", "1.0+local.7", true}, // a local label is ignored unless asked for
		{"a==1.0+local.7", "1.0", false},
		{"a==1.0", "1.0.post1", false},
		{"a>=1.0", "1.0rc1", false},
		{"a>=1.0rc1", "1.0", true},
		{"a>=1.0.dev1", "1.0a1", true},
		{"a<1.0", "1.0.dev3", true},
		{"a>1.0", "1.0.post1", true}, // PEP 440 would exclude it: a documented limit
		{"a<=2!1.0", "1!9.0", true},
		{"a~=1.4.2", "1.4.9", true},
		{"a~=1.4.2", "1.5", false},
		{"a~=1.4", "1.9", true},
		{"a~=1.4", "2.0", false},
		{"a==1.4.*", "1.4", true},
		{"a==1.4.*", "1.40", false},
		{"a!=1.4.*", "1.5.0", true},
		{"a>=1,<2,!=1.5", "1.5", false},
		{"a>=1,<2,!=1.5", "1.6", true},
		{"a==1.0", "1.0-1", false}, // 1.0-1 is 1.0.post1
		{"a===custom-1", "custom-1", true},
		{"a==1.0", "not a version", false},
		{"a", "not a version", true},
		{"a==1.0", "V1.0", true},
		{"a==1.0a1", "1.0alpha1", true},
		{"a==1.0c1", "1.0rc1", true},
	}
	for _, tt := range tests {
		got, err := ops.PySatisfies(tt.spec, tt.installed)
		if err != nil || got != tt.want {
			t.Errorf("PySatisfies(%q, %q) = %v, %v; want %v", tt.spec, tt.installed, got, err, tt.want)
		}
	}
}

// TestPipVenvHost makes a real venv on this machine with the planned
// commands (offline: the venv module brings pip, and a requirements file
// asking only for pip needs no index), then checks that the plan is empty.
func TestPipVenvHost(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 on this machine")
	}
	host := local.NewHost()
	dir := t.TempDir()
	reqFile := filepath.Join(dir, "requirements.txt")
	if err := os.WriteFile(reqFile, []byte("pip\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	op := &ops.PipVenv{Path: filepath.Join(dir, "venv"), Packages: []string{"pip>=20"}, Requirements: reqFile}
	env := opstest.Env(host)
	changes := opstest.Apply(t, env, op)
	if got := len(opstest.Execs(changes)); got != 3 {
		t.Fatalf("Plan on a missing venv: %d commands (%v), want venv, pip install, pip install -r", got, changes)
	}
	for _, c := range changes {
		if c.Kind != ops.Run {
			continue
		}
		res, err := host.Run(context.Background(), c.Exec)
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 0 {
			if strings.Contains(string(res.Stderr), "No module named") || strings.Contains(string(res.Stderr), "ensurepip") {
				t.Skipf("this machine's python3 cannot make venvs (python3-venv missing): %s", res.Stderr)
			}
			if c.Exec.Description == "pip install pip>=20" {
				// The venv's pip may be older than 20 on some machines:
				// that would need the network.
				continue
			}
			t.Fatalf("%s: exit %d\n%s%s", c, res.ExitCode, res.Stdout, res.Stderr)
		}
	}
	if again := opstest.Plan(t, env, op); len(again) != 0 {
		t.Errorf("after running the commands, Plan = %v, want none", again)
	}
	// Editing the requirements file brings the command back.
	if err := os.WriteFile(reqFile, []byte("pip\n# pinned later\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if again := opstest.Plan(t, env, op); len(again) != 1 {
		t.Errorf("after editing the requirements, Plan = %v, want pip install -r", again)
	}
}
