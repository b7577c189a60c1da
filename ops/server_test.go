package ops_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/opstest"
	"github.com/pibake/pibake/reconcile/local"
)

// liveRoot is a directory target that answers commands as a booted Pi
// would: queries get canned output, and nothing really runs.
type liveRoot struct {
	*local.System
	stdout map[string]string // "locale -a" -> its output
	ran    []string
}

func (r *liveRoot) Run(ctx context.Context, e *ops.Exec) (*ops.ExecResult, error) {
	cmd := strings.Join(e.Argv, " ")
	r.ran = append(r.ran, cmd)
	out, ok := r.stdout[cmd]
	if !ok {
		return nil, fmt.Errorf("liveRoot: unexpected command %q", cmd)
	}
	return &ops.ExecResult{Stdout: []byte(out)}, nil
}

func newLiveRoot(t *testing.T, stdout map[string]string) *liveRoot {
	t.Helper()
	sys, _ := opstest.Root(t)
	setup{mkdir("/run/systemd", 0o755, 0, 0), mkdir("/run/systemd/system", 0o755, 0, 0)}.apply(t, sys)
	return &liveRoot{System: sys, stdout: stdout}
}

func TestHostname(t *testing.T) {
	const fixtureHosts = "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n\n"
	tests := []struct {
		name      string
		setup     setup
		host      string
		wantHosts string
		want      []string
		wantExec  bool
	}{{
		name:      "rename keeps the spacing",
		host:      "robot-1",
		wantHosts: fixtureHosts + "127.0.1.1\t\trobot-1\n",
		want:      []string{"write /etc/hostname (0644 0:0, 8 bytes)", "write /etc/hosts (0644 0:0, %d bytes)"},
		wantExec:  true,
	}, {
		name:      "fully qualified, with a comment kept",
		setup:     setup{write("/etc/hosts", "127.0.0.1 localhost\n127.0.1.1 raspberrypi # set by hand\n", 0o644, 0, 0)},
		host:      "robot.lab.example.org",
		wantHosts: "127.0.0.1 localhost\n127.0.1.1 robot.lab.example.org robot # set by hand\n",
		want:      []string{"write /etc/hostname (0644 0:0, 22 bytes)", "write /etc/hosts (0644 0:0, %d bytes)"},
		wantExec:  true,
	}, {
		name:      "no 127.0.1.1 line and no final newline",
		setup:     setup{write("/etc/hosts", "127.0.0.1 localhost", 0o600, 0, 4), write("/etc/hostname", "robot\n", 0o644, 0, 0)},
		host:      "robot",
		wantHosts: "127.0.0.1 localhost\n127.0.1.1\trobot\n",
		want:      []string{"write /etc/hosts (0600 0:4, %d bytes)"},
		wantExec:  true,
	}, {
		name:      "missing hosts file",
		setup:     setup{&ops.Change{Kind: ops.Remove, Path: "/etc/hosts"}},
		host:      "robot",
		wantHosts: "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\trobot\n",
		want:      []string{"write /etc/hostname (0644 0:0, 6 bytes)", "write /etc/hosts (0644 0:0, %d bytes)"},
		wantExec:  true,
	}, {
		name:      "in state",
		host:      "raspberrypi",
		wantHosts: fixtureHosts + "127.0.1.1\t\traspberrypi\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, _ := opstest.Root(t)
			tt.setup.apply(t, sys)
			changes := opstest.Converge(t, opstest.Env(sys), &ops.Hostname{Name: tt.host})
			want := slices.Clone(tt.want)
			for i, w := range want {
				if strings.Contains(w, "%d") {
					want[i] = fmt.Sprintf(w, len(tt.wantHosts))
				}
			}
			if diff := cmp.Diff(want, opstest.Files(changes)); diff != "" {
				t.Errorf("Plan() changes (-want +got):\n%s", diff)
			}
			var wantExec []string
			if tt.wantExec {
				wantExec = []string{"set the running host name: hostname " + tt.host + " [live]"}
			}
			if diff := cmp.Diff(wantExec, opstest.ExecLines(changes)); diff != "" {
				t.Errorf("Plan() execs (-want +got):\n%s", diff)
			}
			if got := readFile(t, sys, "/etc/hostname"); got != tt.host+"\n" {
				t.Errorf("/etc/hostname = %q", got)
			}
			if got := readFile(t, sys, "/etc/hosts"); got != tt.wantHosts {
				t.Errorf("/etc/hosts = %q, want %q", got, tt.wantHosts)
			}
		})
	}
}

// On a live system with the files in state, the running name is what
// decides.
func TestHostnameLive(t *testing.T) {
	for _, running := range []string{"raspberrypi", "localhost"} {
		t.Run(running, func(t *testing.T) {
			sys := newLiveRoot(t, map[string]string{"hostname": running + "\n"})
			changes := opstest.Plan(t, opstest.Env(sys), &ops.Hostname{Name: "raspberrypi"})
			var want []string
			if running != "raspberrypi" {
				want = []string{"set the running host name: hostname raspberrypi [live]"}
			}
			if diff := cmp.Diff(want, opstest.ExecLines(changes)); diff != "" {
				t.Errorf("Plan() execs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServerErrors(t *testing.T) {
	tests := []struct {
		op   ops.Op
		want string
	}{
		{&ops.Hostname{Name: ""}, `name: want a host name of 1 to 253 characters, got ""`},
		{&ops.Hostname{Name: "robot_1"}, `name: "robot_1" is not a host name: label "robot_1"`},
		{&ops.Hostname{Name: "-robot"}, "not starting or ending with '-'"},
		{&ops.Hostname{Name: "robot..lab"}, `label ""`},
		{&ops.Hostname{Name: strings.Repeat("a", 64)}, "1 to 63"},
		{&ops.Timezone{Name: "Mars/Olympus_Mons"}, "timezone Mars/Olympus_Mons: /usr/share/zoneinfo/Mars/Olympus_Mons does not exist on the target"},
		{&ops.Timezone{Name: "Europe"}, "timezone Europe: /usr/share/zoneinfo/Europe is not a zone file"},
		{&ops.Timezone{Name: "../../etc/passwd"}, `name: want a zone name such as Europe/London, got "../../etc/passwd"`},
		{&ops.Timezone{Name: "/Europe/London"}, "want a zone name"},
		{&ops.Locale{Name: "en GB"}, `name: want a locale name such as en_GB.UTF-8, got "en GB"`},
		{&ops.Locale{Name: "xx_YY"}, "locale xx_YY: /etc/locale.gen: no line for xx_YY, and its name has no charset"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			sys, _ := opstest.Root(t)
			changes, err := ops.Plan(context.Background(), opstest.Env(sys), tt.op)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s(%s).Plan() = %v, %v; want error containing %q", tt.op.Kind(), tt.op.Summary(), opstest.Files(changes), err, tt.want)
			}
		})
	}
}

func TestTimezone(t *testing.T) {
	tests := []struct {
		name  string
		setup setup
		zone  string
		want  []string
	}{{
		name: "change",
		zone: "Europe/London",
		want: []string{"link /etc/localtime -> /usr/share/zoneinfo/Europe/London", "write /etc/timezone (0644 0:0, 14 bytes)"},
	}, {
		name: "in state",
		zone: "Etc/UTC",
	}, {
		name:  "a copied zone file is replaced by the link; /etc/timezone missing",
		setup: setup{write("/etc/localtime", "TZif", 0o644, 0, 0), &ops.Change{Kind: ops.Remove, Path: "/etc/timezone"}},
		zone:  "America/New_York",
		want: []string{
			"remove /etc/localtime", "link /etc/localtime -> /usr/share/zoneinfo/America/New_York",
			"write /etc/timezone (0644 0:0, 17 bytes)",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, _ := opstest.Root(t)
			tt.setup.apply(t, sys)
			changes := opstest.Converge(t, opstest.Env(sys), &ops.Timezone{Name: tt.zone})
			if diff := cmp.Diff(tt.want, opstest.Files(changes)); diff != "" {
				t.Errorf("Plan() changes (-want +got):\n%s", diff)
			}
			if got, want := attrs(t, sys, "/etc/localtime"), "link /usr/share/zoneinfo/"+tt.zone+" 0:0"; got != want {
				t.Errorf("/etc/localtime is %s, want %s", got, want)
			}
			if got := readFile(t, sys, "/etc/timezone"); got != tt.zone+"\n" {
				t.Errorf("/etc/timezone = %q", got)
			}
		})
	}
}

func TestLocale(t *testing.T) {
	const genExec = "generate locale %s: locale-gen"
	tests := []struct {
		name  string
		setup setup
		// live: `locale -a` answers this; otherwise the target cannot run
		// commands and /usr/lib/locale is looked at.
		live     *string
		locale   string
		genLines []string // lines expected in locale.gen after, uncommented
		want     []string
		wantGen  bool
		defaults string
	}{{
		name:     "uncomment, set LANG, generate",
		locale:   "en_US.UTF-8",
		genLines: []string{"en_US.UTF-8 UTF-8", "en_GB.UTF-8 UTF-8"},
		want:     []string{"write /etc/locale.gen 0644 0:0", "write /etc/default/locale 0644 0:0"},
		wantGen:  true,
		defaults: "LANG=en_US.UTF-8\n",
	}, {
		name:     "files in state, not compiled",
		locale:   "en_GB.UTF-8",
		wantGen:  true,
		defaults: "LANG=en_GB.UTF-8\n",
	}, {
		name:     "compiled in its own directory",
		setup:    setup{mkdir("/usr/lib/locale", 0o755, 0, 0), mkdir("/usr/lib/locale/en_GB.utf8", 0o755, 0, 0)},
		locale:   "en_GB.UTF-8",
		defaults: "LANG=en_GB.UTF-8\n",
	}, {
		name:     "live, compiled",
		live:     ptr("C\nC.utf8\nPOSIX\nen_GB.utf8\n"),
		locale:   "en_GB.UTF-8",
		defaults: "LANG=en_GB.UTF-8\n",
	}, {
		name:     "live, not compiled; other lines of /etc/default/locale stay",
		setup:    setup{write("/etc/default/locale", "LANGUAGE=de_DE:de\nLANG=\"en_GB.UTF-8\"\nLC_ALL=C\n", 0o644, 0, 0)},
		live:     ptr("C\nC.utf8\nPOSIX\nen_GB.utf8\n"),
		locale:   "de_DE.UTF-8",
		genLines: []string{"de_DE.UTF-8 UTF-8"},
		want:     []string{"write /etc/locale.gen 0644 0:0", "write /etc/default/locale 0644 0:0"},
		wantGen:  true,
		defaults: "LANGUAGE=de_DE:de\nLANG=de_DE.UTF-8\nLC_ALL=C\n",
	}, {
		name:     "no charset in the name: the one of its line",
		live:     ptr("C\nC.utf8\nPOSIX\nen_GB\n"),
		locale:   "en_GB",
		genLines: []string{"en_GB ISO-8859-1"},
		want:     []string{"write /etc/locale.gen 0644 0:0", "write /etc/default/locale 0644 0:0"},
		defaults: "LANG=en_GB\n",
	}, {
		name:     "a locale.gen without the line gets it; missing files are made",
		setup:    setup{write("/etc/locale.gen", "# header", 0o644, 0, 0), &ops.Change{Kind: ops.Remove, Path: "/etc/default/locale"}},
		locale:   "fr_FR.UTF-8",
		genLines: []string{"fr_FR.UTF-8 UTF-8"},
		want:     []string{"write /etc/locale.gen 0644 0:0", "write /etc/default/locale 0644 0:0"},
		wantGen:  true,
		defaults: "LANG=fr_FR.UTF-8\n",
	}, {
		name:     "C is built in",
		locale:   "C",
		want:     []string{"write /etc/default/locale 0644 0:0"},
		defaults: "LANG=C\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sys ops.System
			if tt.live != nil {
				sys = newLiveRoot(t, map[string]string{"locale -a": *tt.live})
			} else {
				sys, _ = opstest.Root(t)
			}
			tt.setup.apply(t, sys)
			genBefore := readFile(t, sys, "/etc/locale.gen")
			changes := opstest.Converge(t, opstest.Env(sys), &ops.Locale{Name: tt.locale})
			var got []string // contents are checked below
			for _, c := range changes {
				if c.Kind != ops.Run {
					got = append(got, fmt.Sprintf("%s %s %s %d:%d", c.Kind, c.Path, c.Mode, c.UID, c.GID))
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Plan() changes (-want +got):\n%s", diff)
			}
			var wantExec []string
			if tt.wantGen {
				wantExec = []string{fmt.Sprintf(genExec, tt.locale)}
			}
			if diff := cmp.Diff(wantExec, opstest.ExecLines(changes)); diff != "" {
				t.Errorf("Plan() execs (-want +got):\n%s", diff)
			}
			// Only the locale's own line changes (or is added).
			lines := func(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }
			before, after := lines(genBefore), lines(readFile(t, sys, "/etc/locale.gen"))
			changed := len(after) - len(before)
			for i := range min(len(before), len(after)) {
				if before[i] != after[i] && !slices.Contains(tt.genLines, after[i]) {
					t.Errorf("locale.gen line %d: %q became %q", i+1, before[i], after[i])
				} else if before[i] != after[i] {
					changed++
				}
			}
			if changed > 1 {
				t.Errorf("locale.gen: %d lines changed, want at most 1", changed)
			}
			gen := "\n" + readFile(t, sys, "/etc/locale.gen")
			for _, l := range tt.genLines {
				if !strings.Contains(gen, "\n"+l+"\n") {
					t.Errorf("locale.gen has no line %q", l)
				}
			}
			if got := readFile(t, sys, "/etc/default/locale"); got != tt.defaults {
				t.Errorf("/etc/default/locale = %q, want %q", got, tt.defaults)
			}
		})
	}
}

// TestLocaleArchive reads a real locale-archive, made by glibc's localedef
// from the host's locale sources.
func TestLocaleArchive(t *testing.T) {
	localedef, err := exec.LookPath("localedef")
	if err != nil {
		t.Skip("localedef (glibc, Debian package libc-bin) is not installed")
	}
	if _, err := os.Stat("/usr/share/i18n/locales/en_GB"); err != nil {
		t.Skip("no glibc locale sources (Debian package locales) to build an archive from")
	}
	sys, dir := opstest.Root(t)
	setup{mkdir("/usr/lib/locale", 0o755, 0, 0)}.apply(t, sys)
	out, err := exec.Command(localedef, "-i", "en_GB", "-c", "-f", "UTF-8", "--prefix="+dir, "en_GB.UTF-8").CombinedOutput()
	if err != nil {
		t.Fatalf("localedef: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "usr/lib/locale/locale-archive")); err != nil {
		t.Fatalf("localedef made no archive: %v", err)
	}
	for locale, wantGen := range map[string]bool{"en_GB.UTF-8": false, "en_US.UTF-8": true} {
		changes := opstest.Plan(t, opstest.Env(sys), &ops.Locale{Name: locale})
		if got := len(opstest.Execs(changes)) > 0; got != wantGen {
			t.Errorf("%s: Plan() runs locale-gen = %v, want %v (changes %v)", locale, got, wantGen, opstest.Files(changes))
		}
	}
}
