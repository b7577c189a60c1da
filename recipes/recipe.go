package recipes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/pibake/pibake/ops"
)

// Options are what a recipe sees of the host it is compiled for.
type Options struct {
	// HostName is host.name.
	HostName string
	// HostData is host.data: a JSON object as encoding/json decodes it
	// (map[string]any, []any, string, float64, bool, nil). Whole numbers
	// become Starlark ints. nil is an empty dict.
	HostData map[string]any
	// Print receives the output of print() in recipes, as
	// "file:line:col: message". nil discards it.
	Print func(string)
}

// A Recipe is a compiled recipe: plain data, the same whether it was just
// compiled or decoded from JSON.
type Recipe struct {
	// Source is the recipe file as it was named when compiled, for
	// messages. Step positions name it, or files it loaded.
	Source string
	// Secrets are the names of the secrets the steps use, sorted.
	Secrets []string
	// Steps are the ops in recipe order, with IDs "1", "2", ...
	Steps []*ops.Step
}

// FormatVersion is the version of the JSON form of a Recipe.
const FormatVersion = 1

// Load compiles the Starlark recipe at path, or decodes a compiled recipe
// when path ends in .json (whose Source stays the recipe it was compiled
// from; opts do not apply). A mistake in a recipe is an *Error.
func Load(path string, opts Options) (*Recipe, error) {
	if filepath.Ext(path) != ".json" {
		return compile(path, opts)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := new(Recipe)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Source == "" {
		r.Source = path
	}
	return r, nil
}

type recipeJSON struct {
	Version int         `json:"pibake_recipe"`
	Source  string      `json:"source"`
	Secrets []string    `json:"secrets"`
	Steps   []*ops.Step `json:"steps"`
}

// MarshalJSON encodes r as
// {"pibake_recipe":1,"source":..,"secrets":[..],"steps":[..]}.
// Secrets appear as tokens, never as values.
func (r *Recipe) MarshalJSON() ([]byte, error) {
	j := recipeJSON{Version: FormatVersion, Source: r.Source, Secrets: r.Secrets, Steps: r.Steps}
	if j.Secrets == nil {
		j.Secrets = []string{}
	}
	if j.Steps == nil {
		j.Steps = []*ops.Step{}
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes what MarshalJSON encodes. Another format version,
// unknown fields and op kinds, and duplicate or dangling step IDs are
// errors.
func (r *Recipe) UnmarshalJSON(b []byte) error {
	var version struct {
		Version *int `json:"pibake_recipe"`
	}
	if err := json.Unmarshal(b, &version); err != nil {
		return errors.New(`not a pibake recipe: want {"pibake_recipe": 1, ...}`)
	}
	switch {
	case version.Version == nil:
		return fmt.Errorf("not a pibake recipe: no \"pibake_recipe\" version")
	case *version.Version != FormatVersion:
		return fmt.Errorf("recipe format version %d is not supported (this pibake reads version %d)", *version.Version, FormatVersion)
	}
	var j recipeJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("recipe: %w", err)
	}
	seen := map[string]bool{}
	for i, s := range j.Steps {
		if s == nil || s.Op == nil {
			return fmt.Errorf("recipe: step %d is empty", i+1)
		}
		if s.ID == "" || seen[s.ID] {
			return fmt.Errorf("recipe: step %d: missing or duplicate id %q", i+1, s.ID)
		}
		if svc, ok := s.Op.(*ops.SystemdService); ok {
			for _, id := range svc.RestartOn {
				if !seen[id] {
					return fmt.Errorf("recipe: step %s (%s): restart_on %q is not an earlier step", s.ID, s.Op.Kind(), id)
				}
			}
		}
		seen[s.ID] = true
	}
	if j.Secrets == nil {
		j.Secrets = []string{}
	}
	if !slices.IsSorted(j.Secrets) {
		return fmt.Errorf("recipe: secrets are not sorted")
	}
	*r = Recipe{Source: j.Source, Secrets: j.Secrets, Steps: j.Steps}
	if r.Steps == nil {
		r.Steps = []*ops.Step{}
	}
	return nil
}
