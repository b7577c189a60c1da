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
)

// debianRoot is a Debian bookworm root made by debootstrap (TESTING.md),
// used read-only.
const debianRoot = "/tmp/deb-template"

// bookwormCopy returns a writable view of debianRoot: an overlay mount, or
// a copy where overlays cannot be mounted.
func bookwormCopy(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(debianRoot, "usr/bin/systemctl")); err != nil {
		t.Skipf("no Debian bookworm root with systemd at %s (make one with debootstrap, see /work/shared/TESTING.md): %v", debianRoot, err)
	}
	if os.Geteuid() != 0 {
		t.Skip("running systemctl in a chroot needs root")
	}
	dir := t.TempDir()
	merged := filepath.Join(dir, "root")
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := "lowerdir=" + debianRoot + ",upperdir=" + filepath.Join(dir, "upper") + ",workdir=" + filepath.Join(dir, "work")
	if out, err := exec.Command("mount", "-t", "overlay", "overlay", "-o", opts, merged).CombinedOutput(); err == nil {
		t.Cleanup(func() {
			if out, err := exec.Command("umount", merged).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v: %s", merged, err, out)
			}
		})
		return merged
	} else {
		t.Logf("no overlay mount (%v: %s); copying %s", err, out, debianRoot)
	}
	if err := os.Remove(merged); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", debianRoot, merged).CombinedOutput(); err != nil {
		t.Fatalf("copying %s: %v: %s", debianRoot, err, out)
	}
	return merged
}

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
	root := bookwormCopy(t)
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
