package recipes

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"go.starlark.net/starlark"

	"github.com/pibake/pibake/ops"
)

// args holds the arguments of one builtin call, bound to parameter names.
// We unpack by hand rather than with starlark.UnpackArgs so that messages
// name the builtin and the parameter, and suggest a parameter for a
// misspelt keyword.
//
// The typed getters record the first error and return a zero value, so a
// builder reads all its arguments and checks args.err once.
type args struct {
	fn       string // "files.put"
	required map[string]bool
	values   map[string]starlark.Value // absent: not given
	err      error
}

// unpack binds positional and keyword arguments to the parameters of fn:
// the required ones first, then the optional ones, in order. aliases maps
// names a user might try to the parameter they meant, for suggestions only.
func unpack(fn string, required, optional []string, aliases map[string]string, positional starlark.Tuple, keywords []starlark.Tuple) (*args, error) {
	names := slices.Concat(required, optional)
	a := &args{fn: fn, required: map[string]bool{}, values: map[string]starlark.Value{}}
	for _, name := range required {
		a.required[name] = true
	}
	if len(positional) > len(names) {
		return nil, fmt.Errorf("%s: got %d positional arguments, want at most %d", fn, len(positional), len(names))
	}
	for i, v := range positional {
		a.values[names[i]] = v
	}
	for _, kv := range keywords {
		name := string(kv[0].(starlark.String))
		if !slices.Contains(names, name) {
			return nil, fmt.Errorf("%s: unknown argument %q%s", fn, name, didYouMean(name, names, aliases))
		}
		if _, dup := a.values[name]; dup {
			return nil, fmt.Errorf("%s: got more than one value for argument %q", fn, name)
		}
		a.values[name] = kv[1]
	}
	var missing []string
	for _, name := range required {
		if _, ok := a.values[name]; !ok {
			missing = append(missing, strconv.Quote(name))
		}
	}
	switch len(missing) {
	case 0:
	case 1:
		return nil, fmt.Errorf("%s: missing argument %s", fn, missing[0])
	default:
		return nil, fmt.Errorf("%s: missing arguments %s", fn, strings.Join(missing, ", "))
	}
	return a, nil
}

// failf records an error about parameter param, unless one is recorded.
func (a *args) failf(param, format string, x ...any) {
	if a.err == nil {
		a.err = fmt.Errorf("%s: %s: %s", a.fn, param, fmt.Sprintf(format, x...))
	}
}

// errorf is an error about the call as a whole.
func (a *args) errorf(format string, x ...any) error {
	return fmt.Errorf("%s: %s", a.fn, fmt.Sprintf(format, x...))
}

// get returns the value of param, or false when it was not given or is
// None. None for a required parameter is an error: want says what the
// parameter takes ("a string").
func (a *args) get(param, want string) (starlark.Value, bool) {
	v, ok := a.values[param]
	if !ok {
		return nil, false
	}
	if v == starlark.None {
		if a.required[param] {
			a.failf(param, "want %s, got None", want)
		}
		return nil, false
	}
	return v, true
}

// typeName is how messages name the type of v.
func typeName(v starlark.Value) string {
	if v == starlark.None {
		return "None"
	}
	return v.Type()
}

func (a *args) str(param, def string) string {
	v, ok := a.get(param, "a string")
	if !ok {
		return def
	}
	s, ok := v.(starlark.String)
	if !ok {
		a.failf(param, "want a string, got %s", typeName(v))
		return def
	}
	return string(s)
}

// nonEmpty is str for a parameter that must not be empty.
func (a *args) nonEmpty(param string) string {
	s := a.str(param, "")
	if s == "" {
		a.failf(param, "must not be empty")
	}
	return s
}

// optStr is a string parameter whose None (or absence) means nil.
func (a *args) optStr(param string) *string {
	v, ok := a.get(param, "a string")
	if !ok {
		return nil
	}
	s, ok := v.(starlark.String)
	if !ok {
		a.failf(param, "want a string or None, got %s", typeName(v))
		return nil
	}
	str := string(s)
	return &str
}

func (a *args) boolean(param string, def bool) bool {
	v, ok := a.get(param, "True or False")
	if !ok {
		return def
	}
	b, ok := v.(starlark.Bool)
	if !ok {
		a.failf(param, "want True or False, got %s", typeName(v))
		return def
	}
	return bool(b)
}

// optBool is a bool parameter where None means nil (leave alone) and
// absence means def.
func (a *args) optBool(param string, def *bool) *bool {
	v, given := a.values[param]
	if !given {
		return def
	}
	if v == starlark.None {
		return nil
	}
	b, ok := v.(starlark.Bool)
	if !ok {
		a.failf(param, "want True, False or None, got %s", typeName(v))
		return def
	}
	return ptr(bool(b))
}

// unsetZero is an int parameter of an op that reads 0 as "unset" (the
// default pin, a free uid): None or absence is 0, and a given 0 is refused,
// since it would silently mean the default. The op's Validate judges the
// range.
func (a *args) unsetZero(param string) int {
	v, ok := a.get(param, "an int")
	if !ok {
		return 0
	}
	i, ok := v.(starlark.Int)
	if !ok {
		a.failf(param, "want an int, got %s", typeName(v))
		return 0
	}
	n, ok := i.Int64()
	if !ok || n != int64(int(n)) {
		a.failf(param, "%s is too large", i)
		return 0
	}
	if n == 0 {
		a.failf(param, "0 would mean the default here; leave %s out (or None) for that", param)
	}
	return int(n)
}

// mode is a permission mode: "0644" or an int (0o644).
func (a *args) mode(param string, def ops.Mode) ops.Mode {
	v, ok := a.get(param, `a string like "0644" or an int`)
	if !ok {
		return def
	}
	switch v := v.(type) {
	case starlark.String:
		m, err := ops.ParseMode(string(v))
		if err != nil {
			a.failf(param, "%v", err)
			return def
		}
		return m
	case starlark.Int:
		n, ok := v.Int64()
		if !ok || n < 0 || n > 0o7777 {
			a.failf(param, "%s is not a mode (want 0 to 0o7777)", v)
			return def
		}
		// 644 where 0o644 was meant is an easy slip, and 644 is a valid
		// but absurd mode (0o1204); a real mode in that range is rare.
		if n > 0o777 && n <= 777 && isOctalDigits(strconv.FormatInt(n, 10)) {
			a.failf(param, "%d is decimal; write 0o%d or \"0%d\"", n, n, n)
			return def
		}
		return ops.Mode(n)
	}
	a.failf(param, `want a string like "0644" or an int, got %s`, typeName(v))
	return def
}

func isOctalDigits(s string) bool {
	return strings.Trim(s, "01234567") == ""
}

// sequence returns the elements of a list or tuple value.
func sequence(v starlark.Value) ([]starlark.Value, bool) {
	switch v := v.(type) {
	case *starlark.List:
		out := make([]starlark.Value, v.Len())
		for i := range out {
			out[i] = v.Index(i)
		}
		return out, true
	case starlark.Tuple:
		return v, true
	}
	return nil, false
}

// strings is a list of strings; absence or None is an empty list.
func (a *args) strings(param string) []string {
	return a.stringList(param, false)
}

// stringsOrOne is strings that also takes a single string.
func (a *args) stringsOrOne(param string) []string {
	return a.stringList(param, true)
}

func (a *args) stringList(param string, single bool) []string {
	out := []string{}
	want := "a list of strings"
	if single {
		want = "a list of strings or a string"
	}
	v, ok := a.get(param, want)
	if !ok {
		return out
	}
	if s, ok := v.(starlark.String); ok && single {
		return append(out, string(s))
	}
	elems, ok := sequence(v)
	if !ok {
		a.failf(param, "want %s, got %s", want, typeName(v))
		return out
	}
	for i, e := range elems {
		s, ok := e.(starlark.String)
		if !ok {
			a.failf(fmt.Sprintf("%s[%d]", param, i), "want a string, got %s", typeName(e))
			return out
		}
		out = append(out, string(s))
	}
	return out
}

// steps is a list of op handles (or one), as step IDs.
func (a *args) steps(param string) []string {
	const want = "a list of steps (the values that builtins such as files.put return)"
	v, ok := a.get(param, want)
	if !ok {
		return nil
	}
	if h, ok := v.(*opHandle); ok {
		return []string{h.id}
	}
	elems, ok := sequence(v)
	if !ok {
		a.failf(param, "want %s, got %s", want, typeName(v))
		return nil
	}
	var ids []string
	for i, e := range elems {
		h, ok := e.(*opHandle)
		if !ok {
			a.failf(fmt.Sprintf("%s[%d]", param, i), "want a step (the value that a builtin such as files.put returns), got %s", typeName(e))
			return nil
		}
		if !slices.Contains(ids, h.id) {
			ids = append(ids, h.id)
		}
	}
	return ids
}

func ptr[T any](v T) *T { return &v }

// didYouMean suggests the candidate nearest to name, also through aliases
// (names a user might try, mapped to what they meant): ` (did you mean
// "names"?)`, or "".
func didYouMean(name string, candidates []string, aliases map[string]string) string {
	if target, ok := aliases[name]; ok {
		return fmt.Sprintf(" (did you mean %q?)", target)
	}
	all := slices.Clone(candidates)
	for alias := range aliases {
		all = append(all, alias)
	}
	slices.Sort(all) // map order must not pick between equally near names
	best := nearest(name, all)
	if target, ok := aliases[best]; ok {
		best = target
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// nearest returns the candidate nearest to x by edit distance, ignoring
// case and underscores, or "" if none is within half of x's length (one
// edit for short names, so that "pt" finds "put").
func nearest(x string, candidates []string) string {
	fold := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '_' {
				return -1
			}
			return unicode.ToLower(r)
		}, s)
	}
	x = fold(x)
	best, bestDistance := "", max(1, len(x)/2)+1
	for _, c := range candidates {
		if d := editDistance(x, fold(c)); d < bestDistance {
			best, bestDistance = c, d
		}
	}
	return best
}

// editDistance is the edit distance between byte strings, counting a
// swap of adjacent letters as one edit ("fiels" is one from "files"): the
// optimal string alignment distance.
func editDistance(x, y string) int {
	// Three rows of the usual table: two back, previous, current.
	back, prev, cur := make([]int, len(y)+1), make([]int, len(y)+1), make([]int, len(y)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(x); i++ {
		cur[0] = i
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j-1]+cost, prev[j]+1, cur[j-1]+1)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				cur[j] = min(cur[j], back[j-2]+1)
			}
		}
		back, prev, cur = prev, cur, back
	}
	return prev[len(y)]
}
