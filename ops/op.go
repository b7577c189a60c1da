package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
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

// A Validator checks an op's own arguments: pure checks, with no access to
// any target, so that a recipe is judged the same when it compiles, when
// its JSON is decoded and before each run. An error names the argument
// first ("gpio: 30 is not a GPIO pin on the 40-pin header (2–27)"), without
// the op's kind: callers add the step or recipe position.
//
// Plan must not repeat these checks but may rely on them: the engine calls
// Plan (the function) for every step, which validates first. Ops without
// argument rules need not implement Validator.
type Validator interface {
	Validate() error
}

// Placeholders stand in an op's strings for values known only when a run
// starts (a recipe's secrets): PlaceholderStart, a name, PlaceholderEnd.
// The markers are private-use characters, which no real configuration
// holds.
const (
	PlaceholderStart = "\ue000"
	PlaceholderEnd   = "\ue001"
)

var placeholderPattern = regexp.MustCompile(PlaceholderStart + "[^" + PlaceholderEnd + "]*" + PlaceholderEnd)

// placeholderStandIn is what a placeholder is taken to be while checking:
// a value of the shape most checks accept (a name, a label, a passphrase
// of 8 characters, a hash without ':').
const placeholderStandIn = "xxxxxxxx"

// Validate checks op's arguments if it is a Validator. A placeholder's value
// is unknown, so an op that fails only because of one (a passphrase's
// length, a ':' in a password hash) is accepted: it is checked again with
// each placeholder replaced by a stand-in, and its real values are checked
// when the run that resolves them plans it. When that check fails too, its
// error is returned unless it shows the stand-in; then op's own is, which
// shows the placeholder.
func Validate(op Op) error {
	v, ok := op.(Validator)
	if !ok {
		return nil
	}
	err := v.Validate()
	if err == nil {
		return nil
	}
	b, jsonErr := json.Marshal(op)
	if jsonErr != nil || !bytes.Contains(b, []byte(PlaceholderStart)) {
		return err
	}
	standIn, ok := New(op.Kind())
	if !ok || json.Unmarshal(placeholderPattern.ReplaceAll(b, []byte(placeholderStandIn)), standIn) != nil {
		return err
	}
	v, ok = standIn.(Validator)
	if !ok {
		return err
	}
	standInErr := v.Validate()
	switch {
	case standInErr == nil:
		return nil
	case strings.Contains(standInErr.Error(), placeholderStandIn):
		return err
	}
	return standInErr
}

// Plan validates op, then plans it: what the engine does for every step.
func Plan(ctx context.Context, env *Env, op Op) ([]*Change, error) {
	if err := Validate(op); err != nil {
		return nil, err
	}
	return op.Plan(ctx, env)
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

// UnmarshalJSON decodes what MarshalJSON encodes; unknown op kinds,
// unknown arguments and arguments that fail Validate are errors.
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
	if err := Validate(op); err != nil {
		return fmt.Errorf("step %s (%s): %w", j.ID, j.Op, err)
	}
	s.ID, s.Pos, s.Op = j.ID, j.Pos, op
	return nil
}
