package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
)

// An Op is a piece of desired state: a struct of arguments from a recipe.
// Plan reads the target through env and returns the changes that would bring
// it into state; none means it is in state. Plan never changes the target.
type Op interface {
	// Kind is the op's name in recipes: "files.put".
	Kind() string
	// Summary says what the op is about in a few words: "/etc/hostname".
	Summary() string
	Plan(ctx context.Context, env *Env) ([]*Change, error)
}

// A Step is an Op in a recipe, with where it came from.
type Step struct {
	// ID names the step within its recipe; ops refer to other steps by it
	// (systemd.service's restart_on).
	ID string
	// Pos is the recipe position of the call that made it: "robot.star:12:1".
	Pos string
	Op  Op
}

var registry = map[string]func() Op{}

// Register makes an op kind known to Step's JSON decoding. The op packages'
// init functions call it.
func Register(kind string, newOp func() Op) {
	if _, dup := registry[kind]; dup {
		panic("ops: op kind registered twice: " + kind)
	}
	registry[kind] = newOp
}

// Kinds lists the registered op kinds, sorted.
func Kinds() []string {
	kinds := make([]string, 0, len(registry))
	for k := range registry {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// New returns a zero op of the given kind, or false if no such kind exists.
func New(kind string) (Op, bool) {
	newOp, ok := registry[kind]
	if !ok {
		return nil, false
	}
	return newOp(), true
}

type stepJSON struct {
	ID   string          `json:"id"`
	Pos  string          `json:"pos,omitempty"`
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args"`
}

// MarshalJSON encodes s as {"id":..,"pos":..,"op":"files.put","args":{..}}.
func (s *Step) MarshalJSON() ([]byte, error) {
	args, err := json.Marshal(s.Op)
	if err != nil {
		return nil, fmt.Errorf("step %s (%s): %w", s.ID, s.Op.Kind(), err)
	}
	return json.Marshal(stepJSON{ID: s.ID, Pos: s.Pos, Op: s.Op.Kind(), Args: args})
}

// UnmarshalJSON decodes what MarshalJSON encodes; unknown op kinds and
// unknown arguments are errors.
func (s *Step) UnmarshalJSON(b []byte) error {
	var j stepJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	op, ok := New(j.Op)
	if !ok {
		return fmt.Errorf("step %s: unknown op %q", j.ID, j.Op)
	}
	dec := json.NewDecoder(bytes.NewReader(j.Args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(op); err != nil {
		return fmt.Errorf("step %s (%s): %w", j.ID, j.Op, err)
	}
	s.ID, s.Pos, s.Op = j.ID, j.Pos, op
	return nil
}
