//go:build linux

package ops_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/opstest"
	"github.com/pibake/pibake/reconcile/local"
	"github.com/pibake/pibake/reconcile/testhost"
)

// unitLinks lists /etc/systemd/system under root: links with their
// targets, directories with a trailing slash, files by name.
func unitLinks(t *testing.T, root string) []string {
	t.Helper()
	top := filepath.Join(root, "etc/systemd/system")
	var out []string
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(top, p)
		switch {
		case rel == ".":
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, rel+" -> "+target)
		case d.IsDir():
			out = append(out, rel+"/")
		default:
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestEnableMatchesSystemctl enables and disables units with bookworm's own
// systemctl in a chroot, then does the same with systemd.service from the
// same state, and compares what /etc/systemd/system holds.
func TestEnableMatchesSystemctl(t *testing.T) {
	root := testhost.New(t).Root
	units := map[string]string{
		"etc/systemd/system/robot.service": "[Service]\nExecStart=/bin/true\n[Install]\n" +
			"WantedBy=multi-user.target graphical.target\nRequiredBy=network-online.target\nAlias=robo.service\nAlso=helper.timer missing.service\n",
		"usr/local/lib/systemd/system/helper.timer": "[Timer]\nOnBootSec=1\n[Install]\nWantedBy=timers.target\n",
		"etc/systemd/system/worker@.service": "[Service]\nExecStart=/bin/echo %i\n[Install]\n" +
			"WantedBy=multi-user.target\nDefaultInstance=main\nAlias=wk@.service\n",
		"usr/lib/systemd/system/multi.service": "[Service]\nExecStart=/bin/true\n[Install]\n" +
			"WantedBy=multi-user.target\nWantedBy=\nWantedBy=basic.target\nAlias=multi-%p.service\n",
	}
	for p, content := range units {
		writeFile(t, root, "/"+p, content)
	}
	steps := []struct {
		unit   string
		enable bool
	}{
		{"ssh", false}, // debootstrap enabled it
		{"ssh", true},
		{"ssh.socket", true},
		{"ssh.socket", false}, // removes the .wants it emptied
		{"robot", true},
		{"robot", false},
		{"worker@", true},
		{"worker@", false},
		{"worker@two", true},
		{"getty@tty2", true},
		{"getty@tty2", false},
		{"getty@tty1", false},
		{"getty@.service", true},
		{"systemd-networkd", true}, // Also= three units, an Alias
		{"systemd-networkd", false},
		{"multi", true},
		{"multi", false},
		{"e2scrub_reap", false},
	}
	sys, err := local.Dir(root)
	if err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(t.TempDir(), "saved")
	for _, step := range steps {
		verb := "disable"
		if step.enable {
			verb = "enable"
		}
		before := unitLinks(t, root)
		if out, err := exec.Command("cp", "-a", filepath.Join(root, "etc/systemd/system"), saved).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		cmd := exec.Command("chroot", root, "systemctl", verb, step.unit)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("systemctl %s %s: %v\n%s", verb, step.unit, err, out)
		}
		want := unitLinks(t, root)
		if cmp.Equal(want, before) {
			t.Errorf("systemctl %s %s changed nothing: the step tests nothing", verb, step.unit)
		}

		if err := os.RemoveAll(filepath.Join(root, "etc/systemd/system")); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", "-a", saved, filepath.Join(root, "etc/systemd/system")).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		os.RemoveAll(saved)
		if got := unitLinks(t, root); !cmp.Equal(got, before) {
			t.Fatalf("restoring /etc/systemd/system failed")
		}
		op := &ops.SystemdService{Name: step.unit, Enabled: ptr(step.enable)}
		opstest.Converge(t, opstest.Env(sys), op)
		if diff := cmp.Diff(want, unitLinks(t, root)); diff != "" {
			t.Errorf("systemctl %s %s made (-) but systemd.service made (+):\n%s", verb, step.unit, diff)
		}
	}
}
