package recipes

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"go.starlark.net/starlark"
)

// An Inventory is a fleet: the hosts a recipe is planned or applied to,
// each with the target to reach it by and the data its recipe sees as
// host.data. It is written in Starlark (see LoadInventory).
type Inventory struct {
	// Source is the inventory file as it was named, for messages.
	Source string
	// Hosts are in declaration order.
	Hosts []*InventoryHost
	// Groups are in declaration order, after the implicit "all".
	Groups []*InventoryGroup
}

// An InventoryHost is one host of an inventory.
type InventoryHost struct {
	// Name is what its recipe sees as host.name.
	Name string
	// Address is a target spec: dir:PATH, image:FILE, local, or anything
	// else for SSH ("pi@robot1.local", "ssh://pi@robot1:2222", an
	// ssh_config alias). It defaults to Name.
	Address string
	// Groups are the groups the host is in, in their declaration order,
	// without "all".
	Groups []string
	// Data is host.data (as Options.HostData): the data of its groups,
	// "all" first then in declaration order, merged key by key, and the
	// host's own data over them.
	Data map[string]any
	// Pos is where the host was declared, "FILE:LINE:COL".
	Pos string
}

// An InventoryGroup is a named set of hosts sharing data.
type InventoryGroup struct {
	Name string
	// Hosts are the names of its hosts, in their declaration order.
	Hosts []string
	// Data is the group's own data.
	Data map[string]any
	// Pos is where the group was declared; "" for an implicit "all".
	Pos string
}

// groupAll is the group every host is in.
const groupAll = "all"

// inventoryLoader collects the hosts and groups an inventory declares;
// names are resolved once the whole file has run, so a group may name a
// host declared after it and the other way round.
type inventoryLoader struct {
	c      *compiler
	hosts  []*InventoryHost
	named  map[*InventoryHost][]string // the groups host() named
	own    map[*InventoryHost]map[string]any
	groups []*InventoryGroup
}

// LoadInventory runs the Starlark inventory at path. It has two builtins,
// besides Starlark's own and load() of sibling files as in recipes:
//
//	host(name, address = None, groups = [], data = {})
//	group(name, data = {}, hosts = [])
//
// A host's address defaults to its name (an SSH host or alias). A host is
// in the groups it names and in those that name it; every host is in the
// group "all", which may be declared to give everyone data. Names are
// letters, digits, '-', '_' and '.', and a host and a group cannot share
// one. Data is a dict with string keys whose values are JSON-like: dict,
// list, str, int, float, bool or None. A mistake is an *Error at its
// position.
func LoadInventory(path string) (*Inventory, error) {
	c, abs, err := newCompiler(path, Options{})
	if err != nil {
		return nil, err
	}
	l := &inventoryLoader{c: c, named: map[*InventoryHost][]string{}, own: map[*InventoryHost]map[string]any{}}
	c.predeclared = starlark.StringDict{
		"host":  starlark.NewBuiltin("host", l.hostBuiltin),
		"group": starlark.NewBuiltin("group", l.groupBuiltin),
	}
	if err := c.run(abs); err != nil {
		return nil, err
	}
	return l.resolve(path)
}

func (l *inventoryLoader) hostBuiltin(thread *starlark.Thread, _ *starlark.Builtin, positional starlark.Tuple, keywords []starlark.Tuple) (starlark.Value, error) {
	pos := l.c.callerPos(thread)
	a, err := unpack("host", []string{"name"}, []string{"address", "groups", "data"}, nil, positional, keywords)
	if err != nil {
		return nil, &Error{Pos: pos, Msg: err.Error()}
	}
	h := &InventoryHost{Name: a.nonEmpty("name"), Pos: pos}
	h.Address = h.Name
	if addr := a.optStr("address"); addr != nil {
		h.Address = *addr
		if h.Address == "" {
			a.failf("address", "must not be empty (leave it out to reach the host by its name)")
		}
	}
	groups := a.strings("groups")
	data := a.data()
	if a.err != nil {
		return nil, &Error{Pos: pos, Msg: a.err.Error()}
	}
	if err := checkName("host", h.Name); err != nil {
		return nil, &Error{Pos: pos, Msg: err.Error()}
	}
	if prev := l.host(h.Name); prev != nil {
		return nil, &Error{Pos: pos, Msg: fmt.Sprintf("host %q: already declared at %s", h.Name, prev.Pos)}
	}
	l.hosts = append(l.hosts, h)
	l.named[h] = groups
	l.own[h] = data
	return starlark.None, nil
}

func (l *inventoryLoader) groupBuiltin(thread *starlark.Thread, _ *starlark.Builtin, positional starlark.Tuple, keywords []starlark.Tuple) (starlark.Value, error) {
	pos := l.c.callerPos(thread)
	a, err := unpack("group", []string{"name"}, []string{"data", "hosts"}, nil, positional, keywords)
	if err != nil {
		return nil, &Error{Pos: pos, Msg: err.Error()}
	}
	g := &InventoryGroup{Name: a.nonEmpty("name"), Hosts: a.strings("hosts"), Data: a.data(), Pos: pos}
	if a.err != nil {
		return nil, &Error{Pos: pos, Msg: a.err.Error()}
	}
	if err := checkName("group", g.Name); err != nil {
		return nil, &Error{Pos: pos, Msg: err.Error()}
	}
	if prev := l.group(g.Name); prev != nil {
		return nil, &Error{Pos: pos, Msg: fmt.Sprintf("group %q: already declared at %s", g.Name, prev.Pos)}
	}
	if g.Name == groupAll && len(g.Hosts) > 0 {
		return nil, &Error{Pos: pos, Msg: `group "all": every host is in it; give it data, not hosts`}
	}
	l.groups = append(l.groups, g)
	return starlark.None, nil
}

func (l *inventoryLoader) host(name string) *InventoryHost {
	for _, h := range l.hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

func (l *inventoryLoader) group(name string) *InventoryGroup {
	for _, g := range l.groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// resolve checks the names hosts and groups give each other, then fills
// in memberships and merges data.
func (l *inventoryLoader) resolve(source string) (*Inventory, error) {
	all := l.group(groupAll)
	if all == nil {
		all = &InventoryGroup{Name: groupAll, Data: map[string]any{}}
	}
	groups := []*InventoryGroup{all}
	for _, g := range l.groups {
		if g != all {
			groups = append(groups, g)
		}
	}
	members := map[string]map[string]bool{} // group → host names
	for _, g := range groups {
		members[g.Name] = map[string]bool{}
		if h := l.host(g.Name); h != nil {
			return nil, &Error{Pos: g.Pos, Msg: fmt.Sprintf("group %q: a host has that name (%s); a limit could not tell them apart", g.Name, h.Pos)}
		}
		for _, name := range g.Hosts {
			if l.host(name) == nil {
				return nil, &Error{Pos: g.Pos, Msg: fmt.Sprintf("group %q: unknown host %q%s", g.Name, name, didYouMean(name, l.hostNames(), nil))}
			}
			members[g.Name][name] = true
		}
	}
	for _, h := range l.hosts {
		members[groupAll][h.Name] = true
		for _, name := range l.named[h] {
			if members[name] == nil {
				return nil, &Error{Pos: h.Pos, Msg: fmt.Sprintf("host %q: unknown group %q%s", h.Name, name, didYouMean(name, groupNames(groups), nil))}
			}
			members[name][h.Name] = true
		}
	}
	for _, g := range groups {
		g.Hosts = []string{}
		for _, h := range l.hosts {
			if members[g.Name][h.Name] {
				g.Hosts = append(g.Hosts, h.Name)
			}
		}
	}
	for _, h := range l.hosts {
		h.Groups = []string{}
		h.Data = map[string]any{}
		for _, g := range groups {
			if members[g.Name][h.Name] {
				maps.Copy(h.Data, g.Data)
				if g != all {
					h.Groups = append(h.Groups, g.Name)
				}
			}
		}
		maps.Copy(h.Data, l.own[h])
	}
	return &Inventory{Source: source, Hosts: l.hosts, Groups: groups}, nil
}

func (l *inventoryLoader) hostNames() []string {
	names := make([]string, len(l.hosts))
	for i, h := range l.hosts {
		names[i] = h.Name
	}
	return names
}

func groupNames(groups []*InventoryGroup) []string {
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.Name
	}
	return names
}

// checkName accepts the names a --limit can list: letters, digits, '-',
// '_' and '.', so no commas or spaces.
func checkName(what, name string) error {
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("%s %q: a name is letters, digits, '-', '_' and '.', not %q", what, name, r)
		}
	}
	return nil
}

// Select is the hosts a limit names, in declaration order: each entry is
// host and group names, separated by commas, and the hosts named or in a
// group named are selected. No names select every host. An unknown name
// is an error listing the names there are.
func (inv *Inventory) Select(limit []string) ([]*InventoryHost, error) {
	chosen := map[string]bool{}
	named := false
	for _, entry := range limit {
		for _, name := range strings.Split(entry, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			named = true
			if err := inv.choose(name, chosen); err != nil {
				return nil, err
			}
		}
	}
	if !named {
		return slices.Clone(inv.Hosts), nil
	}
	var out []*InventoryHost
	for _, h := range inv.Hosts {
		if chosen[h.Name] {
			out = append(out, h)
		}
	}
	return out, nil
}

func (inv *Inventory) choose(name string, chosen map[string]bool) error {
	hostNames := make([]string, len(inv.Hosts))
	for i, h := range inv.Hosts {
		hostNames[i] = h.Name
		if h.Name == name {
			chosen[name] = true
			return nil
		}
	}
	for _, g := range inv.Groups {
		if g.Name == name {
			for _, h := range g.Hosts {
				chosen[h] = true
			}
			return nil
		}
	}
	groups := groupNames(inv.Groups)
	return fmt.Errorf("%s: no host or group %q%s (hosts: %s; groups: %s)", inv.Source, name,
		didYouMean(name, slices.Concat(hostNames, groups), nil), strings.Join(hostNames, ", "), strings.Join(groups, ", "))
}

// data is the data parameter: a dict with string keys and JSON-like
// values, as Go values (see Options.HostData); absence or None is empty.
func (a *args) data() map[string]any {
	const param = "data"
	v, ok := a.get(param, "a dict")
	if !ok {
		return map[string]any{}
	}
	if _, ok := v.(*starlark.Dict); !ok {
		a.failf(param, "want a dict, got %s", typeName(v))
		return map[string]any{}
	}
	out, err := toJSON(v)
	if err != nil {
		a.failf(param+err.path, "%s", err.msg)
		return map[string]any{}
	}
	return out.(map[string]any)
}

// jsonError is a value toJSON cannot convert, at a path such as
// `["wifi"][0]`.
type jsonError struct{ path, msg string }

// toJSON turns a Starlark value into what encoding/json would decode
// (fromJSON's inverse), but with whole numbers as int64.
func toJSON(v starlark.Value) (any, *jsonError) {
	switch v := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(v), nil
	case starlark.String:
		return string(v), nil
	case starlark.Int:
		n, ok := v.Int64()
		if !ok || n > 1<<53 || n < -(1<<53) {
			return nil, &jsonError{msg: fmt.Sprintf("integer %s is too large", v)}
		}
		return n, nil
	case starlark.Float:
		f := float64(v)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, &jsonError{msg: fmt.Sprintf("%s is not a JSON number", v)}
		}
		return f, nil
	case *starlark.List, starlark.Tuple:
		elems, _ := sequence(v)
		out := make([]any, len(elems))
		for i, e := range elems {
			x, err := toJSON(e)
			if err != nil {
				err.path = fmt.Sprintf("[%d]%s", i, err.path)
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case *starlark.Dict:
		out := make(map[string]any, v.Len())
		for _, kv := range v.Items() {
			k, ok := kv[0].(starlark.String)
			if !ok {
				return nil, &jsonError{msg: fmt.Sprintf("key %s: want a string, got %s", kv[0], typeName(kv[0]))}
			}
			x, err := toJSON(kv[1])
			if err != nil {
				err.path = fmt.Sprintf("[%q]%s", string(k), err.path)
				return nil, err
			}
			out[string(k)] = x
		}
		return out, nil
	}
	return nil, &jsonError{msg: fmt.Sprintf("want dict, list, str, int, float, bool or None, got %s", typeName(v))}
}
