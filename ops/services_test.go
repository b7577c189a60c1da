package ops_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/opstest"
	"github.com/pibake/pibake/reconcile/local"
)

func ptr[T any](v T) *T { return &v }

// writeFile writes a file under a test root (host path root + target path p).
func writeFile(t *testing.T, root, p, content string) {
	t.Helper()
	hp := filepath.Join(root, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeSymlink(t *testing.T, root, p, target string) {
	t.Helper()
	hp := filepath.Join(root, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, hp); err != nil {
		t.Fatal(err)
	}
}

// enableSSH makes the links "systemctl enable ssh" makes.
func enableSSH(t *testing.T, root string) {
	writeSymlink(t, root, "/etc/systemd/system/multi-user.target.wants/ssh.service", "/lib/systemd/system/ssh.service")
	writeSymlink(t, root, "/etc/systemd/system/sshd.service", "/lib/systemd/system/ssh.service")
}

const robotUnit = `[Unit]
Description=robot

[Service]
ExecStart=/usr/local/bin/robot

[Install]
WantedBy=multi-user.target
Alias=bot.service
`

func TestSystemdServicePlan(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, root string)
		op    *ops.SystemdService
		files []string
		execs []string
	}{{
		name: "new unit enabled",
		op:   &ops.SystemdService{Name: "robot", Unit: ptr(robotUnit), Enabled: ptr(true)},
		files: []string{
			"write /etc/systemd/system/robot.service (0644 0:0, 123 bytes)",
			"link /etc/systemd/system/multi-user.target.wants/robot.service -> /etc/systemd/system/robot.service",
			"link /etc/systemd/system/bot.service -> /etc/systemd/system/robot.service",
		},
		execs: []string{"reload systemd's units: systemctl daemon-reload [live]"},
	}, {
		name: "packaged unit enabled through /lib",
		op:   &ops.SystemdService{Name: "ssh.service", Enabled: ptr(true)},
		files: []string{
			"link /etc/systemd/system/multi-user.target.wants/ssh.service -> /lib/systemd/system/ssh.service",
			"link /etc/systemd/system/sshd.service -> /lib/systemd/system/ssh.service",
		},
		execs: []string{"reload systemd's units: systemctl daemon-reload [live]"},
	}, {
		name:  "socket unit into an existing empty .wants",
		op:    &ops.SystemdService{Name: "ssh.socket", Enabled: ptr(true)},
		files: []string{"link /etc/systemd/system/sockets.target.wants/ssh.socket -> /lib/systemd/system/ssh.socket"},
		execs: []string{"reload systemd's units: systemctl daemon-reload [live]"},
	}, {
		name:  "enabled already",
		setup: enableSSH,
		op:    &ops.SystemdService{Name: "ssh", Enabled: ptr(true)},
	}, {
		name: "an equivalent link is kept",
		setup: func(t *testing.T, root string) {
			writeSymlink(t, root, "/etc/systemd/system/multi-user.target.wants/ssh.service", "/usr/lib/systemd/system/ssh.service")
			writeSymlink(t, root, "/etc/systemd/system/sshd.service", "../../../lib/systemd/system/ssh.service")
		},
		op: &ops.SystemdService{Name: "ssh", Enabled: ptr(true)},
	}, {
		name: "a link elsewhere is replaced",
		setup: func(t *testing.T, root string) {
			writeSymlink(t, root, "/etc/systemd/system/sshd.service", "/lib/systemd/system/ssh.socket")
		},
		op: &ops.SystemdService{Name: "ssh", Enabled: ptr(true)},
		files: []string{
			"link /etc/systemd/system/multi-user.target.wants/ssh.service -> /lib/systemd/system/ssh.service",
			"link /etc/systemd/system/sshd.service -> /lib/systemd/system/ssh.service",
		},
		execs: []string{"reload systemd's units: systemctl daemon-reload [live]"},
	}, {
		name: "disabled",
		op:   &ops.SystemdService{Name: "NetworkManager.service", Enabled: ptr(false)},
		files: []string{
			// Alias= links go, and so do those of the Also= unit, as systemctl disable does.
			"remove /etc/systemd/system/dbus-org.freedesktop.NetworkManager.service",
			"remove /etc/systemd/system/dbus-org.freedesktop.nm-dispatcher.service",
			// The directory stays: it holds userconfig.service's link too.
			"remove /etc/systemd/system/multi-user.target.wants/NetworkManager.service",
		},
		execs: []string{"reload systemd's units: systemctl daemon-reload [live]"},
	}, {
		name: "disabled: links by name and by target, a mask stays",
		setup: func(t *testing.T, root string) {
			writeSymlink(t, root, "/etc/systemd/system/multi-user.target.wants/ssh.service", "/lib/systemd/system/ssh.service")
			writeSymlink(t, root, "/etc/systemd/system/sshd.service", "/lib/systemd/system/ssh.service")
			writeSymlink(t, root, "/etc/systemd/system/odd.target.wants/other.service", "/usr/lib/systemd/system/ssh.service")
			writeSymlink(t, root, "/etc/systemd/system/odd.target.wants/masked.service", "/dev/null")
		},
		op: &ops.SystemdService{Name: "ssh", Enabled: ptr(false)},
		files: []string{
			"remove /etc/systemd/system/multi-user.target.wants/ssh.service",
			"remove /etc/systemd/system/odd.target.wants/other.service",
			"remove /etc/systemd/system/sshd.service",
		},
		execs: []string{"reload systemd's units: systemctl daemon-reload [live]"},
	}, {
		name: "a unit that does not exist is disabled",
		op:   &ops.SystemdService{Name: "bluetooth", Enabled: ptr(false)},
	}, {
		name: "template with DefaultInstance",
		op: &ops.SystemdService{Name: "worker@.service", Enabled: ptr(true), Unit: ptr(
			"[Service]\nExecStart=/bin/echo %i\n[Install]\nWantedBy=multi-user.target\nDefaultInstance=main\nAlias=wk@.service\n")},
		files: []string{
			"write /etc/systemd/system/worker@.service (0644 0:0, 109 bytes)",
			"link /etc/systemd/system/multi-user.target.wants/worker@main.service -> /etc/systemd/system/worker@.service",
			"link /etc/systemd/system/wk@.service -> /etc/systemd/system/worker@.service",
		},
		execs: []string{"reload systemd's units: systemctl daemon-reload [live]"},
	}, {
		name: "an instance of a template of the target",
		setup: func(t *testing.T, root string) {
			writeFile(t, root, "/usr/lib/systemd/system/getty@.service", "[Service]\nExecStart=/sbin/agetty %I\n[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n")
		},
		op: &ops.SystemdService{Name: "getty@ttyAMA0", Enabled: ptr(true)},
		files: []string{
			"mkdir /etc/systemd/system/getty.target.wants (0755 0:0)",
			"link /etc/systemd/system/getty.target.wants/getty@ttyAMA0.service -> /lib/systemd/system/getty@.service",
		},
		execs: []string{"reload systemd's units: systemctl daemon-reload [live]"},
	}, {
		name: "RequiredBy, several WantedBy, an empty assignment and Also",
		setup: func(t *testing.T, root string) {
			writeFile(t, root, "/usr/local/lib/systemd/system/helper.timer", "[Timer]\nOnBootSec=1\n[Install]\nWantedBy=timers.target\n")
		},
		op: &ops.SystemdService{Name: "robot", Enabled: ptr(true), Unit: ptr(
			"[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=graphical.target\nWantedBy=\nWantedBy=multi-user.target \\\n  basic.target\nRequiredBy=network-online.target\nAlso=helper.timer nothere.service\n")},
		files: []string{
			"write /etc/systemd/system/robot.service (0644 0:0, 187 bytes)",
			"link /etc/systemd/system/multi-user.target.wants/robot.service -> /etc/systemd/system/robot.service",
			"mkdir /etc/systemd/system/basic.target.wants (0755 0:0)",
			"link /etc/systemd/system/basic.target.wants/robot.service -> /etc/systemd/system/robot.service",
			"mkdir /etc/systemd/system/network-online.target.requires (0755 0:0)",
			"link /etc/systemd/system/network-online.target.requires/robot.service -> /etc/systemd/system/robot.service",
			"mkdir /etc/systemd/system/timers.target.wants (0755 0:0)",
			"link /etc/systemd/system/timers.target.wants/helper.timer -> /usr/local/lib/systemd/system/helper.timer",
		},
		execs: []string{"reload systemd's units: systemctl daemon-reload [live]"},
	}, {
		name: "unit content replaces a mask",
		setup: func(t *testing.T, root string) {
			writeSymlink(t, root, "/etc/systemd/system/robot.service", "/dev/null")
		},
		op:    &ops.SystemdService{Name: "robot", Unit: ptr(robotUnit)},
		files: []string{"write /etc/systemd/system/robot.service (0644 0:0, 123 bytes)"},
		execs: []string{"reload systemd's units: systemctl daemon-reload [live]"},
	}, {
		name:  "changed unit, to be running, not live: the restart is shown",
		op:    &ops.SystemdService{Name: "robot", Unit: ptr(robotUnit), Running: ptr(true)},
		files: []string{"write /etc/systemd/system/robot.service (0644 0:0, 123 bytes)"},
		execs: []string{
			"reload systemd's units: systemctl daemon-reload [live]",
			"restart robot.service (unit changed): systemctl restart robot.service [live]",
		},
	}, {
		name:  "running, in state on files, not live: nothing to do",
		setup: enableSSH,
		op:    &ops.SystemdService{Name: "ssh", Enabled: ptr(true), Running: ptr(true), RestartOn: []string{"other"}},
	}, {
		name:  "restart_on a changed step, not live",
		op:    &ops.SystemdService{Name: "NetworkManager", Running: ptr(true), RestartOn: []string{"nm-conf"}},
		execs: []string{"restart NetworkManager.service (step nm-conf changed): systemctl restart NetworkManager.service [live]"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, root := opstest.Root(t)
			if tt.setup != nil {
				tt.setup(t, root)
			}
			env := opstest.Env(sys)
			env.Changed = func(id string) bool { return id == "nm-conf" }
			changes := opstest.Converge(t, env, tt.op)
			if diff := cmp.Diff(tt.files, opstest.Files(changes)); diff != "" {
				t.Errorf("Plan file changes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.execs, opstest.ExecLines(changes)); diff != "" {
				t.Errorf("Plan execs (-want +got):\n%s", diff)
			}
			// Once the files are in state, only a restart_on step can
			// still ask for a live-only command.
			again := opstest.Plan(t, env, tt.op)
			for _, e := range opstest.Execs(again) {
				if !strings.Contains(e.Description, "step nm-conf changed") {
					t.Errorf("after converging, Plan still has %s", e)
				}
			}
		})
	}
}

func TestSystemdServiceErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, root string)
		op    *ops.SystemdService
		want  string
	}{
		{"missing unit", nil, &ops.SystemdService{Name: "robot", Enabled: ptr(true)}, "unit robot.service does not exist on the target"},
		{"missing unit to run", nil, &ops.SystemdService{Name: "robot", Enabled: ptr(false), Running: ptr(true)}, "does not exist"},
		{"bad name", nil, &ops.SystemdService{Name: "rob ot"}, `name: invalid unit name "rob ot"`},
		{"empty name", nil, &ops.SystemdService{Name: ""}, "name: unit name is empty"},
		{"masked", func(t *testing.T, root string) {
			writeSymlink(t, root, "/etc/systemd/system/ssh.service", "/dev/null")
		}, &ops.SystemdService{Name: "ssh", Enabled: ptr(true)}, "ssh.service is masked (/etc/systemd/system/ssh.service)"},
		{"masked by an empty file", func(t *testing.T, root string) {
			writeFile(t, root, "/etc/systemd/system/ssh.service", "")
		}, &ops.SystemdService{Name: "ssh", Running: ptr(true)}, "ssh.service is masked"},
		{"alias name", func(t *testing.T, root string) {
			writeSymlink(t, root, "/etc/systemd/system/sshd.service", "/lib/systemd/system/ssh.service")
		}, &ops.SystemdService{Name: "sshd", Enabled: ptr(true)}, "sshd.service is an alias of ssh.service"},
		{"recipe unit without [Install]", nil, &ops.SystemdService{Name: "robot", Enabled: ptr(true), Unit: ptr("[Service]\nExecStart=/bin/true\n")}, "robot.service cannot be enabled: its [Install] section has no WantedBy="},
		{"template without DefaultInstance", nil, &ops.SystemdService{Name: "w@", Enabled: ptr(true), Unit: ptr("[Install]\nWantedBy=multi-user.target\n")}, "template unit w@.service has no DefaultInstance="},
		{"template running", nil, &ops.SystemdService{Name: "w@", Running: ptr(true), Unit: ptr("[Install]\nWantedBy=multi-user.target\n")}, "name: w@.service is a template: running and restart_on need an instance"},
		{"alias of another type", nil, &ops.SystemdService{Name: "robot", Enabled: ptr(true), Unit: ptr("[Install]\nAlias=robot.socket\n")}, "bad Alias=robot.socket"},
		{"unsupported specifier", nil, &ops.SystemdService{Name: "robot", Enabled: ptr(true), Unit: ptr("[Install]\nWantedBy=%H.target\n")}, "specifier %H is not supported"},
		{"empty unit", nil, &ops.SystemdService{Name: "robot", Unit: ptr("")}, "unit: empty content (an empty unit file masks the unit)"},
		{"empty restart_on", nil, &ops.SystemdService{Name: "ssh", RestartOn: []string{""}}, "restart_on: empty step id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, root := opstest.Root(t)
			if tt.setup != nil {
				tt.setup(t, root)
			}
			_, err := ops.Plan(context.Background(), opstest.Env(sys), tt.op)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Plan() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// fakeLive is a live system's systemctl as far as Plan asks it.
type fakeLive struct {
	active  map[string]bool
	queries []string
}

func (f *fakeLive) Run(ctx context.Context, e *ops.Exec) (*ops.ExecResult, error) {
	f.queries = append(f.queries, strings.Join(e.Argv, " "))
	if len(e.Argv) == 4 && e.Argv[0] == "systemctl" && e.Argv[1] == "is-active" {
		if f.active[e.Argv[3]] {
			return &ops.ExecResult{}, nil
		}
		return &ops.ExecResult{ExitCode: 3}, nil
	}
	return &ops.ExecResult{ExitCode: 1}, nil
}

// liveEnv is the fixture root as a booted system whose systemctl says the
// given units are active.
func liveEnv(t *testing.T, active ...string) (*ops.Env, string, *fakeLive) {
	t.Helper()
	sys, root := opstest.Root(t)
	if err := os.MkdirAll(filepath.Join(root, "run/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	f := &fakeLive{active: map[string]bool{}}
	for _, a := range active {
		f.active[a] = true
	}
	env := opstest.Env(sys)
	env.Runner = f
	env.Changed = func(id string) bool { return id == "conf" }
	return env, root, f
}

func TestSystemdServiceLive(t *testing.T) {
	tests := []struct {
		name   string
		active []string
		op     *ops.SystemdService
		execs  []string
	}{{
		name:   "running and active",
		active: []string{"NetworkManager.service"},
		op:     &ops.SystemdService{Name: "NetworkManager", Running: ptr(true)},
	}, {
		name:  "to run, inactive",
		op:    &ops.SystemdService{Name: "NetworkManager", Running: ptr(true)},
		execs: []string{"start NetworkManager.service: systemctl start NetworkManager.service [live]"},
	}, {
		name:   "to stop, active",
		active: []string{"NetworkManager.service"},
		op:     &ops.SystemdService{Name: "NetworkManager", Running: ptr(false)},
		execs:  []string{"stop NetworkManager.service: systemctl stop NetworkManager.service [live]"},
	}, {
		name: "to stop, inactive",
		op:   &ops.SystemdService{Name: "NetworkManager", Running: ptr(false), RestartOn: []string{"conf"}},
	}, {
		name:   "restart_on changed, active, running unset",
		active: []string{"NetworkManager.service"},
		op:     &ops.SystemdService{Name: "NetworkManager", RestartOn: []string{"other", "conf"}},
		execs:  []string{"restart NetworkManager.service (step conf changed): systemctl restart NetworkManager.service [live]"},
	}, {
		name: "restart_on changed, inactive, running unset: nothing",
		op:   &ops.SystemdService{Name: "NetworkManager", RestartOn: []string{"conf"}},
	}, {
		name:  "restart_on changed, inactive, to run: start is enough",
		op:    &ops.SystemdService{Name: "NetworkManager", Running: ptr(true), RestartOn: []string{"conf"}},
		execs: []string{"start NetworkManager.service: systemctl start NetworkManager.service [live]"},
	}, {
		name:   "unit changed while running",
		active: []string{"robot.service"},
		op:     &ops.SystemdService{Name: "robot", Unit: ptr(robotUnit), Enabled: ptr(true), Running: ptr(true)},
		execs: []string{
			"reload systemd's units: systemctl daemon-reload [live]",
			"restart robot.service (unit changed): systemctl restart robot.service [live]",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _, _ := liveEnv(t, tt.active...)
			changes := opstest.Plan(t, env, tt.op)
			if diff := cmp.Diff(tt.execs, opstest.ExecLines(changes)); diff != "" {
				t.Errorf("Plan execs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSSHServer(t *testing.T) {
	const dropIn = "/etc/ssh/sshd_config.d/00-pibake.conf"
	sys, root := opstest.Root(t)
	env := opstest.Env(sys)
	writeFile(t, root, "/etc/ssh/sshd_config.d/50-cloud-init.conf", "PasswordAuthentication yes\n")

	changes := opstest.Converge(t, env, &ops.SSHServer{Enabled: true, PasswordAuth: ptr(false)})
	want := []string{
		"link /etc/systemd/system/multi-user.target.wants/ssh.service -> /lib/systemd/system/ssh.service",
		"link /etc/systemd/system/sshd.service -> /lib/systemd/system/ssh.service",
		"write " + dropIn + " (0644 0:0, 140 bytes)",
	}
	if diff := cmp.Diff(want, opstest.Files(changes)); diff != "" {
		t.Errorf("Plan file changes (-want +got):\n%s", diff)
	}
	wantExecs := []string{
		"reload systemd's units: systemctl daemon-reload [live]",
		"reload sshd's configuration: systemctl try-reload-or-restart ssh.service [live]",
	}
	if diff := cmp.Diff(wantExecs, opstest.ExecLines(changes)); diff != "" {
		t.Errorf("Plan execs (-want +got):\n%s", diff)
	}
	b, err := os.ReadFile(filepath.Join(root, dropIn))
	if err != nil || !strings.Contains(string(b), "\nPasswordAuthentication no\n") {
		t.Errorf("drop-in = %q, %v; want PasswordAuthentication no", b, err)
	}
	if again := opstest.Plan(t, env, &ops.SSHServer{Enabled: true, PasswordAuth: ptr(false)}); len(again) != 0 {
		t.Errorf("in state, Plan = %v, want none", again)
	}

	// Password logins left to sshd: our drop-in goes; disabled: links go.
	changes = opstest.Converge(t, env, &ops.SSHServer{Enabled: false})
	want = []string{
		"remove /etc/systemd/system/multi-user.target.wants/ssh.service",
		"remove /etc/systemd/system/sshd.service",
		"remove " + dropIn,
	}
	if diff := cmp.Diff(want, opstest.Files(changes)); diff != "" {
		t.Errorf("Plan file changes (-want +got):\n%s", diff)
	}
}

func TestSSHServerLive(t *testing.T) {
	env, _, f := liveEnv(t)
	changes := opstest.Plan(t, env, &ops.SSHServer{Enabled: true})
	want := []string{
		"reload systemd's units: systemctl daemon-reload [live]",
		"start ssh.service: systemctl start ssh.service [live]",
	}
	if diff := cmp.Diff(want, opstest.ExecLines(changes)); diff != "" {
		t.Errorf("Plan execs (-want +got):\n%s", diff)
	}
	if len(f.queries) != 1 {
		t.Errorf("queries = %q, want one is-active", f.queries)
	}
	// Disabling never stops the sshd pibake may be talking through.
	f.active["ssh.service"] = true
	for _, e := range opstest.Execs(opstest.Plan(t, env, &ops.SSHServer{Enabled: false})) {
		if strings.Contains(e.String(), "stop") {
			t.Errorf("disabling sshd plans %s", e)
		}
	}
}

func TestSSHServerPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, root string)
		want  string
	}{{
		name: "set in sshd_config before the Include",
		setup: func(t *testing.T, root string) {
			writeFile(t, root, "/etc/ssh/sshd_config", "PasswordAuthentication yes\nInclude /etc/ssh/sshd_config.d/*.conf\n")
		},
		want: "PasswordAuthentication is set at /etc/ssh/sshd_config:1, which sshd reads before",
	}, {
		name: "a drop-in sorting first",
		setup: func(t *testing.T, root string) {
			writeFile(t, root, "/etc/ssh/sshd_config.d/0-first.conf", "passwordauthentication=yes\n")
		},
		want: "/etc/ssh/sshd_config.d/0-first.conf:1",
	}, {
		name: "no Include",
		setup: func(t *testing.T, root string) {
			writeFile(t, root, "/etc/ssh/sshd_config", "Port 22\n")
		},
		want: "does not Include",
	}, {
		name: "only after a Match",
		setup: func(t *testing.T, root string) {
			writeFile(t, root, "/etc/ssh/sshd_config", "Match User pi\nPasswordAuthentication yes\nInclude sshd_config.d/*.conf\n")
		},
		want: "does not Include",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, root := opstest.Root(t)
			tt.setup(t, root)
			_, err := (&ops.SSHServer{Enabled: true, PasswordAuth: ptr(true)}).Plan(context.Background(), opstest.Env(sys))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Plan() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	// A setting after the Include, or in a later drop-in, is fine.
	sys, root := opstest.Root(t)
	writeFile(t, root, "/etc/ssh/sshd_config", "Include sshd_config.d/*.conf\nPasswordAuthentication yes\n")
	writeFile(t, root, "/etc/ssh/sshd_config.d/99-late.conf", "PasswordAuthentication yes\n")
	opstest.Converge(t, opstest.Env(sys), &ops.SSHServer{Enabled: true, PasswordAuth: ptr(false)})
}

func TestShellRun(t *testing.T) {
	host := local.NewHost()
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists")
	if err := os.WriteFile(exists, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	run := []string{"run: make"}
	tests := []struct {
		name string
		sys  ops.System
		op   *ops.ShellRun
		want []string
	}{
		{"neither: every time", host, &ops.ShellRun{Command: "make"}, run},
		{"creates exists", host, &ops.ShellRun{Command: "make", Creates: exists}, nil},
		{"creates missing", host, &ops.ShellRun{Command: "make", Creates: missing}, run},
		{"unless succeeds", host, &ops.ShellRun{Command: "make", Unless: "test -e " + exists}, nil},
		{"unless fails", host, &ops.ShellRun{Command: "make", Unless: "test -e " + missing}, run},
		{"creates missing, unless succeeds", host, &ops.ShellRun{Command: "make", Creates: missing, Unless: "true"}, nil},
		{"as a user", host, &ops.ShellRun{Command: "make", User: "nobody"}, []string{"run: (as nobody) make"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changes := opstest.Plan(t, opstest.Env(tt.sys), tt.op)
			if diff := cmp.Diff(tt.want, opstest.ExecLines(changes)); diff != "" {
				t.Errorf("Plan execs (-want +got):\n%s", diff)
			}
		})
	}

	// On a target that cannot run commands, unless is unknown: the command
	// is planned (and deferred), whatever unless would say.
	sys, _ := opstest.Root(t)
	if got := opstest.ExecLines(opstest.Plan(t, opstest.Env(sys), &ops.ShellRun{Command: "make", Unless: "true"})); !cmp.Equal(got, run) {
		t.Errorf("Plan on a directory = %q, want %q", got, run)
	}

	// The planned command runs, and then the plan is in state.
	op := &ops.ShellRun{Command: "touch " + ops.ShellQuote(missing), Creates: missing}
	for _, c := range opstest.Plan(t, opstest.Env(host), op) {
		res, err := host.Run(context.Background(), c.Exec)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("running %s: %v %+v", c, err, res)
		}
	}
	if again := opstest.Plan(t, opstest.Env(host), op); len(again) != 0 {
		t.Errorf("after running, Plan = %v, want none", again)
	}

	for _, bad := range []*ops.ShellRun{
		{Command: " "},
		{Command: "x", Creates: "relative"},
		{Command: "x", User: "no-such-user"},
	} {
		if _, err := ops.Plan(context.Background(), opstest.Env(sys), bad); err == nil {
			t.Errorf("Plan(%+v) succeeded, want an error", bad)
		}
	}
}
