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

const extraStatus = `
Package: postfix
Status: install ok installed
Architecture: arm64
Version: 3.7.11-0+deb12u1
Provides: default-mta, mail-transport-agent
Description: postfix

Package: libfoo1
Status: install ok installed
Architecture: armhf
Multi-Arch: same
Version: 1.0-1
Description: libfoo1
 with a continuation line
 .

Package: halfway
Status: install ok unpacked
Architecture: arm64
Version: 1.0
Description: halfway

Package: gone
Status: deinstall ok config-files
Architecture: arm64
Version: 1.0
Description: gone
`

func TestAptPackagesPlan(t *testing.T) {
	install := func(names string) []string {
		return []string{"install " + strings.ReplaceAll(names, " ", ", ") + ": apt-get install -y " + names}
	}
	remove := func(names string) []string {
		return []string{"remove " + strings.ReplaceAll(names, " ", ", ") + ": apt-get remove -y " + names}
	}
	tests := []struct {
		name string
		op   *ops.AptPackages
		want []string
	}{
		{"installed", &ops.AptPackages{Names: []string{"bash", "sudo"}, Present: true}, nil},
		{"missing", &ops.AptPackages{Names: []string{"bash", "git", "i2c-tools"}, Present: true}, install("git i2c-tools")},
		{"listed twice", &ops.AptPackages{Names: []string{"git", "git"}, Present: true}, install("git")},
		{"pinned, same version", &ops.AptPackages{Names: []string{"bash=5.2.15-2+b2", "openssh-server=1:9.2p1-2+deb12u2"}, Present: true}, nil},
		{"pinned, epoch 0 is none", &ops.AptPackages{Names: []string{"bash=0:5.2.15-2+b2"}, Present: true}, nil},
		{"pinned, other version", &ops.AptPackages{Names: []string{"bash=5.2.15-3"}, Present: true}, install("bash=5.2.15-3")},
		{"architecture", &ops.AptPackages{Names: []string{"bash:arm64", "libfoo1:armhf"}, Present: true}, nil},
		{"other architecture", &ops.AptPackages{Names: []string{"bash:armhf"}, Present: true}, install("bash:armhf")},
		{"virtual", &ops.AptPackages{Names: []string{"mail-transport-agent"}, Present: true}, nil},
		{"not fully installed", &ops.AptPackages{Names: []string{"halfway", "gone"}, Present: true}, install("halfway gone")},
		{"update only when installing", &ops.AptPackages{Names: []string{"bash"}, Present: true, Update: true}, nil},
		{"update", &ops.AptPackages{Names: []string{"git"}, Present: true, Update: true},
			append([]string{"update the package lists: apt-get update"}, install("git")...)},
		{"remove", &ops.AptPackages{Names: []string{"sudo", "nano", "git", "halfway"}}, remove("sudo")}, // nano: config-files only
		{"remove a virtual name: nothing real to remove", &ops.AptPackages{Names: []string{"mail-transport-agent"}}, nil},
		{"remove by architecture", &ops.AptPackages{Names: []string{"libfoo1:armhf", "bash:armhf"}}, remove("libfoo1:armhf")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, root := opstest.Root(t)
			f, err := os.OpenFile(filepath.Join(root, "var/lib/dpkg/status"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(extraStatus)
			f.Close()
			changes := opstest.Plan(t, opstest.Env(sys), tt.op)
			if diff := cmp.Diff(tt.want, opstest.ExecLines(changes)); diff != "" {
				t.Errorf("Plan execs (-want +got):\n%s", diff)
			}
			for _, c := range changes {
				if !cmp.Equal(c.Exec.Env, []string{"DEBIAN_FRONTEND=noninteractive"}) || c.Exec.LiveOnly {
					t.Errorf("%s: Env %q LiveOnly %v, want DEBIAN_FRONTEND=noninteractive, not live-only", c, c.Exec.Env, c.Exec.LiveOnly)
				}
			}
		})
	}
}

func TestAptPackagesErrors(t *testing.T) {
	sys, root := opstest.Root(t)
	tests := []struct {
		op   *ops.AptPackages
		want string
	}{
		{&ops.AptPackages{Present: true}, "names: want at least one package"},
		{&ops.AptPackages{Names: []string{"Git"}, Present: true}, `names: invalid package name "Git"`},
		{&ops.AptPackages{Names: []string{"g"}, Present: true}, `invalid package name "g"`},
		{&ops.AptPackages{Names: []string{"git; rm -rf /"}, Present: true}, `names: "git; rm -rf /" is not a package name (give several names as a list)`},
		{&ops.AptPackages{Names: []string{"-y"}, Present: true}, "invalid package name"},
		{&ops.AptPackages{Names: []string{"git:"}, Present: true}, "invalid architecture"},
		{&ops.AptPackages{Names: []string{"git=v1"}, Present: true}, "must start with a digit"},
		{&ops.AptPackages{Names: []string{"git=1.0"}}, "a version cannot be given with present=False"},
	}
	for _, tt := range tests {
		_, err := ops.Plan(context.Background(), opstest.Env(sys), tt.op)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Plan(%q) error = %v, want one containing %q", tt.op.Names, err, tt.want)
		}
	}
	os.Remove(filepath.Join(root, "var/lib/dpkg/status"))
	_, err := (&ops.AptPackages{Names: []string{"git"}, Present: true}).Plan(context.Background(), opstest.Env(sys))
	if err == nil || !strings.Contains(err.Error(), "the target has no /var/lib/dpkg/status") {
		t.Errorf("Plan without dpkg status: error = %v", err)
	}
}

// TestAptPackagesHost plans against this machine (a Debian system): the
// same code reads its dpkg database.
func TestAptPackagesHost(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skip("this machine has no dpkg database (not Debian-based)")
	}
	env := opstest.Env(local.NewHost())
	if got := opstest.Plan(t, env, &ops.AptPackages{Names: []string{"dpkg", "bash"}, Present: true}); len(got) != 0 {
		t.Errorf("Plan(dpkg, bash) on this machine = %v, want none", got)
	}
	got := opstest.ExecLines(opstest.Plan(t, env, &ops.AptPackages{Names: []string{"pibake-no-such-package"}, Present: true}))
	want := []string{"install pibake-no-such-package: apt-get install -y pibake-no-such-package"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Plan execs (-want +got):\n%s", diff)
	}
}

func TestCompareDebVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"0:1.0", "1.0", 0},
		{"1.0-1", "1.0-2", -1},
		{"1:1.0", "2.0", 1},
		{"1.0~rc1", "1.0", -1},
		{"1.0~~", "1.0~", -1},
		{"1.0", "1.0+b1", -1},
		{"1.0a", "1.0+", -1}, // letters sort before other characters
		{"1.10", "1.9", 1},
		{"1.002", "1.2", 0},
		{"5.2.15-2+b2", "5.2.15-2", 1},
		{"2.36-9+rpt2+deb12u4", "2.36-9+deb12u4", 1},
		{"1.0-1", "1.0", 1},
		{"9.2p1-2+deb12u2", "9.2p1-2+deb12u3", -1},
	}
	for _, tt := range tests {
		if got := ops.CompareDebVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareDebVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := ops.CompareDebVersions(tt.b, tt.a); got != -tt.want {
			t.Errorf("CompareDebVersions(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func FuzzCompareDebVersions(f *testing.F) {
	f.Add("1.0~rc1", "1:1.0-1")
	f.Fuzz(func(t *testing.T, a, b string) {
		if ab, ba := ops.CompareDebVersions(a, b), ops.CompareDebVersions(b, a); ab != -ba {
			t.Errorf("compare(%q, %q) = %d but compare(%q, %q) = %d", a, b, ab, b, a, ba)
		}
	})
}
