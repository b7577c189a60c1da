package firstboot

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/opstest"
	"github.com/pibake/pibake/recipes"
	"github.com/pibake/pibake/recipes/recipetest"
	"github.com/pibake/pibake/reconcile"
)

const handoffRecipe = `
files.put("/etc/robot.conf", content = "speed = 3\n")
files.put("/etc/robot/token", content = secret("ROBOT_TOKEN"), mode = "0600")
network.wifi("lab", secret("WIFI_PSK"), "GB")
`

// runSteps applies (or plans) steps on sys and returns the summary and
// the text report.
func runSteps(t *testing.T, sys ops.System, steps []*ops.Step, apply bool) (reconcile.Summary, string) {
	t.Helper()
	var out bytes.Buffer
	sum, err := reconcile.Run(context.Background(), sys, steps, reconcile.Options{Apply: apply, Now: opstest.Now},
		reconcile.NewTextReporter(&out, reconcile.TextOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	return sum, out.String()
}

func TestHandoffSteps(t *testing.T) {
	sys, root := opstest.Root(t)
	agent := buildTiny(t, "arm64", "")
	r := recipetest.Compile(t, handoffRecipe)
	h := &Handoff{Recipe: r, Secrets: recipes.Secrets{"ROBOT_TOKEN": "t0k\"en"}, Agent: agent}
	steps, err := h.Steps()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		if s.Pos != Pos {
			t.Errorf("step %s Pos = %q, want %q", s.ID, s.Pos, Pos)
		}
	}
	sum, out := runSteps(t, sys, steps, true)
	if sum.Failed != 0 || sum.Changed != len(steps) {
		t.Fatalf("apply: %+v\n%s", sum, out)
	}
	if strings.Contains(out, "t0k") {
		t.Errorf("the report shows a secret:\n%s", out)
	}
	t.Logf("apply:\n%s", out)

	for _, f := range []struct {
		path string
		mode ops.Mode
	}{{AgentPath, 0o755}, {RecipePath, 0o600}, {SecretsPath, 0o600}, {UnitPath, 0o644}} {
		fi, err := sys.Lstat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if ops.ModeOf(fi.Mode) != f.mode || fi.UID != 0 || fi.GID != 0 || !fi.IsRegular() {
			t.Errorf("%s: %v %d:%d, want a file %s 0:0", f.path, fi.Mode, fi.UID, fi.GID, f.mode)
		}
	}
	if got, _ := sys.ReadFile(AgentPath); !bytes.Equal(got, agent) {
		t.Error("the agent in the image differs from the one given")
	}
	// The recipe goes in with its tokens, and reads back as the same recipe.
	b, _ := sys.ReadFile(RecipePath)
	back, err := recipes.Load(filepath.Join(root, RecipePath), recipes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("t0k")) || len(back.Steps) != len(r.Steps) || strings.Join(back.Secrets, ",") != "ROBOT_TOKEN,WIFI_PSK" {
		t.Errorf("recipe.json does not read back as the recipe:\n%s", b)
	}
	secrets, err := recipes.LoadSecrets(filepath.Join(root, SecretsPath), nil)
	if err != nil || len(secrets) != 1 || secrets["ROBOT_TOKEN"] != "t0k\"en" {
		t.Errorf("secrets.env reads back as %v, %v", secrets, err)
	}
	link, err := sys.Lstat("/etc/systemd/system/multi-user.target.wants/" + Unit)
	if err != nil || link.Target != UnitPath {
		t.Errorf("wants link: %+v, %v; want a link to %s", link, err, UnitPath)
	}

	// A second bake finds it all in state.
	if sum, out := runSteps(t, sys, steps, false); sum.Changed != 0 || sum.Pending != 0 || sum.Failed != 0 {
		t.Errorf("plan after apply: %+v\n%s", sum, out)
	}

	// Without secrets to keep, secrets.env goes.
	h.Secrets = nil
	steps, err = h.Steps()
	if err != nil {
		t.Fatal(err)
	}
	if sum, out := runSteps(t, sys, steps, true); sum.Changed != 1 || !strings.Contains(out, "remove file "+SecretsPath) {
		t.Errorf("apply without secrets: %+v\n%s", sum, out)
	}
	if _, err := sys.Lstat(SecretsPath); err == nil {
		t.Errorf("%s is still there", SecretsPath)
	}
	if sum, out := runSteps(t, sys, steps, false); sum.Changed != 0 || sum.Pending != 0 {
		t.Errorf("plan after apply without secrets: %+v\n%s", sum, out)
	}
}

func TestHandoffErrors(t *testing.T) {
	r := recipetest.Compile(t, handoffRecipe)
	agent := buildTiny(t, "arm64", "")
	resolved, _, err := r.Resolve(recipes.Secrets{"ROBOT_TOKEN": "t0k-value", "WIFI_PSK": "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		h    Handoff
		want string
	}{
		{"no recipe", Handoff{Agent: agent}, "no recipe"},
		{"no agent", Handoff{Recipe: r}, "no agent"},
		{"agent not ELF", Handoff{Recipe: r, Agent: []byte("#!/bin/sh\n")}, "not an ELF file"},
		{"unused secret", Handoff{Recipe: r, Agent: agent, Secrets: recipes.Secrets{"OTHER": "x"}}, "secret OTHER is not one the recipe uses"},
		{"empty secret", Handoff{Recipe: r, Agent: agent, Secrets: recipes.Secrets{"WIFI_PSK": ""}}, "secret WIFI_PSK is empty"},
		{"resolved recipe", Handoff{Recipe: &recipes.Recipe{Source: r.Source, Secrets: r.Secrets, Steps: resolved}, Agent: agent,
			Secrets: recipes.Secrets{"ROBOT_TOKEN": "t0k-value"}}, "holds a secret's value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.h.Steps(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Steps() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSecretsForDeferred(t *testing.T) {
	r := recipetest.Compile(t, `
files.put("/etc/a", content = secret("A"))
shell.run("use " + secret("B"), creates = "/etc/b")
shell.run("use " + secret("C"), creates = "/etc/c")
`)
	results := []*reconcile.Result{
		{Step: r.Steps[0], Status: reconcile.StatusChanged},
		{Step: r.Steps[1], Status: reconcile.StatusDeferred},
		{Step: r.Steps[2], Status: reconcile.StatusOK},
	}
	got := SecretsForDeferred(r, results, recipes.Secrets{"A": "a", "B": "b", "C": "c"})
	if len(got) != 1 || got["B"] != "b" {
		t.Errorf("SecretsForDeferred = %v, want only B", got)
	}
}
