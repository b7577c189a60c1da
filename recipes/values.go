package recipes

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sort"

	"go.starlark.net/starlark"
)

// module is a builtin namespace such as files or apt. Unlike
// starlarkstruct.Module, a missing attribute names the module and suggests
// through aliases ("files.copy" → "put").
type module struct {
	name    string
	members starlark.StringDict
	aliases map[string]string // attribute a user might try → the one meant
}

var _ starlark.HasAttrs = (*module)(nil)

func (m *module) String() string        { return "<module " + m.name + ">" }
func (m *module) Type() string          { return "module" }
func (m *module) Freeze()               { m.members.Freeze() }
func (m *module) Truth() starlark.Bool  { return true }
func (m *module) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: module") }
func (m *module) AttrNames() []string   { return m.members.Keys() }

func (m *module) Attr(name string) (starlark.Value, error) {
	if v, ok := m.members[name]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("%s.%s does not exist%s", m.name, name, didYouMean(name, m.AttrNames(), m.aliases))
}

// opHandle is what an op builtin returns: a reference to the step it made,
// for systemd.service(restart_on=[...]).
type opHandle struct {
	kind string
	id   string
}

var _ starlark.Value = (*opHandle)(nil)

func (h *opHandle) String() string       { return fmt.Sprintf("<%s #%s>", h.kind, h.id) }
func (h *opHandle) Type() string         { return "step" }
func (h *opHandle) Freeze()              {}
func (h *opHandle) Truth() starlark.Bool { return true }
func (h *opHandle) Hash() (uint32, error) {
	f := fnv.New32a()
	f.Write([]byte(h.id))
	return f.Sum32(), nil
}

// fromJSON converts a value decoded from JSON (map[string]any, []any,
// string, float64, bool, nil; also Go ints) to a frozen Starlark value.
// Whole numbers become ints, so host.data["gpio"] can be passed where an
// int is wanted.
func fromJSON(v any) (starlark.Value, error) {
	switch v := v.(type) {
	case nil:
		return starlark.None, nil
	case bool:
		return starlark.Bool(v), nil
	case string:
		return starlark.String(v), nil
	case int:
		return starlark.MakeInt(v), nil
	case int64:
		return starlark.MakeInt64(v), nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) <= 1<<53 {
			return starlark.MakeInt64(int64(v)), nil
		}
		return starlark.Float(v), nil
	case []any:
		elems := make([]starlark.Value, len(v))
		for i, e := range v {
			sv, err := fromJSON(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]%w", i, err)
			}
			elems[i] = sv
		}
		l := starlark.NewList(elems)
		l.Freeze()
		return l, nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d := starlark.NewDict(len(v))
		for _, k := range keys {
			sv, err := fromJSON(v[k])
			if err != nil {
				return nil, fmt.Errorf("[%q]%w", k, err)
			}
			if err := d.SetKey(starlark.String(k), sv); err != nil {
				return nil, err
			}
		}
		d.Freeze()
		return d, nil
	}
	return nil, fmt.Errorf(": unsupported type %T", v)
}

// sortedKeys is the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
