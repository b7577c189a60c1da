package firstboot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/recipes"
	"github.com/pibake/pibake/reconcile"
)

// Where the hand-off puts things on the Pi.
const (
	// AgentPath is the agent: under /usr/local, which Debian's packages
	// never touch, and in a lib directory, off PATH, because it is the
	// unit's program, not a command for people: a pibake they install
	// in /usr/local/bin (or a recipe does) is theirs to manage.
	AgentPath = "/usr/local/lib/pibake/pibake"
	// Dir holds the recipe and the secrets, root's alone.
	Dir         = "/etc/pibake"
	RecipePath  = Dir + "/recipe.json"
	SecretsPath = Dir + "/secrets.env"
	// Unit is the first-boot service.
	Unit     = "pibake-firstboot.service"
	UnitPath = "/etc/systemd/system/" + Unit
	// StateDir keeps the count of failed attempts, for the back-off.
	StateDir = "/var/lib/pibake"
	// Pos is the position the hand-off's steps report, in place of a
	// recipe line.
	Pos = "pibake:first-boot"
)

// UnitText is pibake-firstboot.service.
const UnitText = `# pibake-firstboot.service, written by "pibake bake". It applies the baked
# recipe (/etc/pibake/recipe.json) to this machine with the same code as
# "pibake apply --target local", and when the machine is in state removes
# /etc/pibake/secrets.env and disables itself. Its report is in the journal:
#   journalctl -u pibake-firstboot
#
# Type=exec, not oneshot: a oneshot unit holds multi-user.target until it
# ends, so the boot would not finish (no console login, services ordered
# after multi-user.target held back) until every apt and pip install is done,
# or ever while the network is down and the agent retries. A robot should
# boot, answer ssh and be looked at while its first boot runs; the recipe's
# own services are started by this run (systemd.service running=True) once
# what they need is installed.
#
# Retries: Bookworm's systemd 252 has no RestartSteps= or RestartMaxDelaySec=
# (254 and later), so the back-off is the agent's own: after a failed attempt
# it waits (15 s, doubling up to 10 min) and exits non-zero, and
# Restart=on-failure starts a fresh attempt, which reads the recipe again.
# StartLimitIntervalSec=0: never give up.
#
# Ordering: after the network is up; after Raspberry Pi OS's own first-boot
# user setup (userconfig.service, Bookworm) and cloud-init's user, ssh and
# hostname setup (cloud-config.service, Trixie), so that the recipe's state
# is what stays. (Not after cloud-final.service: that is ordered after
# multi-user.target, which waits for this unit to start: a cycle.)
[Unit]
Description=pibake first boot: apply the baked recipe
Documentation=https://github.com/pibake/pibake
ConditionPathExists=/etc/pibake/recipe.json
Wants=network-online.target
After=network-online.target userconfig.service cloud-config.service
StartLimitIntervalSec=0

[Service]
Type=exec
ExecStart=/usr/local/lib/pibake/pibake firstboot --dir /etc/pibake
Restart=on-failure
RestartSec=1
StandardOutput=journal
StandardError=journal
SyslogIdentifier=pibake-firstboot

[Install]
WantedBy=multi-user.target
`

// Handoff is what a baked image needs for its first boot.
type Handoff struct {
	// Recipe is the compiled recipe, secret tokens intact (never resolved
	// values).
	Recipe *recipes.Recipe
	// Secrets are the values first boot needs; the bake decides which
	// (SecretsForDeferred). Each must be one the recipe uses.
	Secrets recipes.Secrets
	// Agent is the pibake binary for the image's architecture
	// (Agent(DetectArch(image))).
	Agent []byte
}

// Steps are the hand-off as steps, for the bake to plan and apply with the
// recipe's own, so its report shows them and a second bake finds them in
// state: the agent (0755 root), the recipe (0600 root: a recipe may hold
// password hashes), the secrets (0600 root; absent, and removed if
// present, when none is needed) and the unit, enabled as systemctl enable
// would. Each step's Pos is Pos; their IDs start with "firstboot-", so they
// mix with a recipe's numbered steps.
func (h *Handoff) Steps() ([]*ops.Step, error) {
	if h.Recipe == nil {
		return nil, errors.New("first-boot hand-off: no recipe")
	}
	if len(h.Agent) == 0 {
		return nil, errors.New("first-boot hand-off: no agent")
	}
	if _, err := ELFArch(h.Agent); err != nil {
		return nil, fmt.Errorf("first-boot hand-off: agent: %w", err)
	}
	for name, value := range h.Secrets {
		if !slices.Contains(h.Recipe.Secrets, name) {
			return nil, fmt.Errorf("first-boot hand-off: secret %s is not one the recipe uses", name)
		}
		if value == "" {
			return nil, fmt.Errorf("first-boot hand-off: secret %s is empty", name)
		}
	}
	recipeJSON, err := json.MarshalIndent(h.Recipe, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("first-boot hand-off: encoding the recipe: %w", err)
	}
	if containsAny(recipeJSON, h.Secrets) {
		return nil, errors.New("first-boot hand-off: the recipe holds a secret's value: give it with its tokens, unresolved")
	}
	recipeFile := &PrivateFile{Path: RecipePath, Content: append(recipeJSON, '\n')}
	secretsFile := &PrivateFile{Path: SecretsPath}
	if len(h.Secrets) > 0 {
		secretsFile.Content = h.Secrets.Dotenv()
	}
	unit := UnitText
	enabled := true
	steps := []*ops.Step{
		{ID: "firstboot-agent", Op: &ops.FilePut{Path: AgentPath, Content: h.Agent, Mode: 0o755, Owner: "root", Group: "root"}},
		{ID: "firstboot-recipe", Op: recipeFile},
		{ID: "firstboot-secrets", Op: secretsFile},
		{ID: "firstboot-unit", Op: &ops.SystemdService{Name: Unit, Unit: &unit, Enabled: &enabled}},
	}
	for _, s := range steps {
		s.Pos = Pos
	}
	return steps, nil
}

func containsAny(b []byte, s recipes.Secrets) bool {
	for _, v := range s {
		if v != "" && strings.Contains(string(b), v) {
			return true
		}
	}
	return false
}

// PrivateFile is a file only root may read, whose content plans never
// show (secrets, a recipe with password hashes); with no Content, the
// file is absent. It is the hand-off's own op: recipes have none like
// it, and it is never stored as JSON.
type PrivateFile struct {
	Path    string
	Content []byte
}

func (o *PrivateFile) Kind() string    { return "firstboot.file" }
func (o *PrivateFile) Summary() string { return o.Path }

// Plan implements ops.Op.
func (o *PrivateFile) Plan(ctx context.Context, env *ops.Env) ([]*ops.Change, error) {
	if o.Content == nil {
		return env.EnsureAbsent(o.Path)
	}
	return env.EnsureFile(ops.FileSpec{Path: o.Path, Content: o.Content, Mode: 0o600, Sensitive: true})
}

// SecretsForDeferred picks from all the secrets that first boot needs:
// those used by the steps a bake's apply left deferred (or failed, or did
// not run), which the Pi runs again. The others stay behind: their steps are in state in
// the image, and first boot skips them (Run).
func SecretsForDeferred(r *recipes.Recipe, results []*reconcile.Result, all recipes.Secrets) recipes.Secrets {
	ids := map[string]bool{}
	for _, res := range results {
		switch res.Status {
		case reconcile.StatusDeferred, reconcile.StatusFailed, reconcile.StatusSkipped:
			ids[res.Step.ID] = true
		}
	}
	out := recipes.Secrets{}
	for i, step := range r.Steps {
		if !ids[step.ID] {
			continue
		}
		for _, name := range r.SecretNames(i) {
			if v := all[name]; v != "" {
				out[name] = v
			}
		}
	}
	return out
}
