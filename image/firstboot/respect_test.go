package firstboot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/opstest"
	"github.com/pibake/pibake/recipes/recipetest"
)

func removeChange(p string) *ops.Change { return &ops.Change{Kind: ops.Remove, Path: p} }

func TestRespectUser(t *testing.T) {
	sys, root := opstest.Root(t)
	// A desktop image also has the wizard's autostart entry.
	os.MkdirAll(filepath.Join(root, "etc/xdg/autostart"), 0o755)
	os.WriteFile(filepath.Join(root, piwizAutostart), []byte("[Desktop Entry]\nExec=piwiz\n"), 0o644)

	steps, err := Respect(sys, recipetest.Compile(t, `server.user("robot", groups = ["i2c"])`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range steps {
		got = append(got, s.Op.Kind()+" "+s.Op.Summary())
	}
	want := []string{
		"systemd.service userconfig.service",
		"systemd.service getty@tty1.service",
		"files.absent " + renameBanner,
		"files.absent " + piwizAutostart,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Respect steps (-want +got):\n%s", diff)
	}
	sum, out := runSteps(t, sys, steps, true)
	if sum.Failed != 0 || sum.Changed != len(steps) {
		t.Fatalf("apply: %+v\n%s", sum, out)
	}
	// As cancel-rename leaves it: the wizard's link gone, tty1's getty back.
	if _, err := sys.Lstat("/etc/systemd/system/multi-user.target.wants/userconfig.service"); err == nil {
		t.Error("userconfig.service is still enabled")
	}
	if fi, err := sys.Lstat("/etc/systemd/system/getty.target.wants/getty@tty1.service"); err != nil || !strings.HasSuffix(fi.Target, "/getty@.service") {
		t.Errorf("getty@tty1 link: %+v, %v", fi, err)
	}
	if sum, out := runSteps(t, sys, steps, false); sum.Changed != 0 || sum.Pending != 0 {
		t.Errorf("plan after apply: %+v\n%s", sum, out)
	}
}

func TestRespectNothingToDo(t *testing.T) {
	sys, _ := opstest.Root(t)
	// No user, and a hostname on an image without cloud-init (Bookworm).
	steps, err := Respect(sys, recipetest.Compile(t, `server.hostname("robot7")`))
	if err != nil || len(steps) != 0 {
		t.Fatalf("Respect = %v, %v; want no steps", steps, err)
	}
	// A user on an image without the wizard.
	for _, p := range []string{"/usr/lib/systemd/system/userconfig.service", renameBanner} {
		if err := sys.Apply(t.Context(), removeChange(p)); err != nil {
			t.Fatal(err)
		}
	}
	steps, err = Respect(sys, recipetest.Compile(t, `server.user("robot")`))
	if err != nil || len(steps) != 0 {
		t.Fatalf("Respect(no wizard) = %v, %v; want no steps", steps, err)
	}
}

func TestRespectCloudInitHostname(t *testing.T) {
	sys, root := opstest.Root(t)
	os.MkdirAll(filepath.Join(root, "etc/cloud/cloud.cfg.d"), 0o755)
	os.WriteFile(filepath.Join(root, cloudConfig), []byte("preserve_hostname: false\n"), 0o644)
	steps, err := Respect(sys, recipetest.Compile(t, `server.hostname("robot7")`))
	if err != nil || len(steps) != 1 {
		t.Fatalf("Respect = %v, %v; want one step", steps, err)
	}
	if sum, out := runSteps(t, sys, steps, true); sum.Changed != 1 {
		t.Fatalf("apply: %+v\n%s", sum, out)
	}
	b, err := sys.ReadFile(cloudHostnameFile)
	if err != nil || !strings.Contains(string(b), "\npreserve_hostname: true\n") {
		t.Errorf("%s = %q, %v", cloudHostnameFile, b, err)
	}
	if sum, out := runSteps(t, sys, steps, false); sum.Changed != 0 {
		t.Errorf("plan after apply: %+v\n%s", sum, out)
	}
}
