package recipes

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"go.starlark.net/starlark"

	"github.com/pibake/pibake/ops"
)

// A secret in a recipe is a token in its strings, replaced by the value
// only when steps are resolved for a run: an ops placeholder, whose markers
// are private-use characters that no real configuration contains.
const (
	tokenStart = ops.PlaceholderStart
	tokenEnd   = ops.PlaceholderEnd
)

var (
	tokenPattern = regexp.MustCompile(tokenStart + `secret:([A-Za-z_][A-Za-z0-9_]*)` + tokenEnd)
	// quotedTokenPattern is a token as %q writes it into a message.
	quotedTokenPattern = regexp.MustCompile(`\\ue000secret:([A-Za-z_][A-Za-z0-9_]*)\\ue001`)
	namePattern        = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func token(name string) string { return tokenStart + "secret:" + name + tokenEnd }

// showTokens makes the secrets in a message readable: <secret:NAME>.
func showTokens(s string) string {
	return quotedTokenPattern.ReplaceAllString(tokenPattern.ReplaceAllString(s, "<secret:$1>"), "<secret:$1>")
}

// secretBuiltin is secret(name).
func secretBuiltin(thread *starlark.Thread, _ *starlark.Builtin, positional starlark.Tuple, keywords []starlark.Tuple) (starlark.Value, error) {
	a, err := unpack("secret", []string{"name"}, nil, nil, positional, keywords)
	if err != nil {
		return nil, err
	}
	name := a.str("name", "")
	if a.err != nil {
		return nil, a.err
	}
	if !namePattern.MatchString(name) {
		return nil, fmt.Errorf("secret: want a name of letters, digits and _ such as \"WIFI_PSK\", got %q", name)
	}
	return starlark.String(token(name)), nil
}

// secretsOf lists the secrets the steps use, sorted.
func secretsOf(steps []*ops.Step) []string {
	names := []string{}
	for _, s := range steps {
		visitStrings(reflect.ValueOf(s.Op), func(str string) {
			for _, m := range tokenPattern.FindAllStringSubmatch(str, -1) {
				if !slices.Contains(names, m[1]) {
					names = append(names, m[1])
				}
			}
		})
	}
	slices.Sort(names)
	return names
}

// tokensWhole reports whether every secret token in a builtin's argument
// is whole. Slicing or changing one would put part of a value, or
// nothing, where the value belongs. Only arguments are checked, not the
// ops: content read from local files (src=, files.sync) never passed
// through Starlark and may hold the marker characters by chance.
func tokensWhole(v starlark.Value) bool {
	switch v := v.(type) {
	case starlark.String:
		return wholeTokens(string(v))
	case starlark.Bytes:
		return wholeTokens(string(v))
	case *starlark.Dict:
		for _, item := range v.Items() {
			if !tokensWhole(item[0]) || !tokensWhole(item[1]) {
				return false
			}
		}
	default:
		if elems, ok := sequence(v); ok {
			for _, e := range elems {
				if !tokensWhole(e) {
					return false
				}
			}
		}
	}
	return true
}

func wholeTokens(s string) bool {
	if !strings.Contains(s, tokenStart) && !strings.Contains(s, tokenEnd) {
		return true
	}
	rest := tokenPattern.ReplaceAllString(s, "")
	return !strings.Contains(rest, tokenStart) && !strings.Contains(rest, tokenEnd)
}

// Secrets are secret values by name.
type Secrets map[string]string

// LoadSecrets reads secrets from file (none if "") and then from environ
// ("NAME=value" entries, as os.Environ returns), which overrides the file.
//
// The file has one NAME=value a line. Blank lines and lines starting with
// # are ignored; a line may start with "export ". A value may be in single
// quotes (taken literally) or double quotes (with \n, \t, \", \\ and \$
// escapes); unquoted, it ends at " #" and surrounding blanks are dropped.
func LoadSecrets(file string, environ []string) (Secrets, error) {
	s := Secrets{}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading secrets: %w", err)
		}
		if err := parseDotenv(file, b, s); err != nil {
			return nil, err
		}
	}
	for _, kv := range environ {
		// An empty variable does not hide the file's value: an unset
		// secret is more often exported empty by mistake than on purpose.
		if name, value, ok := strings.Cut(kv, "="); ok && name != "" && value != "" {
			s[name] = value
		}
	}
	return s, nil
}

func parseDotenv(file string, b []byte, into Secrets) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		name, value, err := parseDotenvLine(sc.Text())
		if err != nil {
			return fmt.Errorf("%s:%d: %w", file, line, err)
		}
		if name != "" {
			into[name] = value
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// parseDotenvLine returns the name and value on a line, or "" for a
// blank line or a comment.
func parseDotenvLine(line string) (name, value string, err error) {
	line = strings.TrimSuffix(line, "\r")
	trimmed := strings.TrimSpace(line)
	if trimmed == "" || strings.HasPrefix(trimmed, "#") {
		return "", "", nil
	}
	if rest, ok := strings.CutPrefix(trimmed, "export "); ok {
		trimmed = strings.TrimLeft(rest, " \t")
	}
	name, raw, ok := strings.Cut(trimmed, "=")
	if !ok {
		return "", "", fmt.Errorf("want NAME=value, got %q", trimmed)
	}
	name = strings.TrimRight(name, " \t")
	if !namePattern.MatchString(name) {
		return "", "", fmt.Errorf("invalid name %q: want letters, digits and _, not starting with a digit", name)
	}
	raw = strings.TrimLeft(raw, " \t")
	switch {
	case strings.HasPrefix(raw, "'"):
		end := strings.IndexByte(raw[1:], '\'')
		if end < 0 {
			return "", "", fmt.Errorf("%s: missing closing '", name)
		}
		value, raw = raw[1:1+end], raw[2+end:]
	case strings.HasPrefix(raw, `"`):
		var b strings.Builder
		i := 1
		for ; i < len(raw) && raw[i] != '"'; i++ {
			if raw[i] != '\\' || i+1 == len(raw) {
				b.WriteByte(raw[i])
				continue
			}
			i++
			switch raw[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '"', '\\', '$', '\'':
				b.WriteByte(raw[i])
			default:
				b.WriteByte('\\')
				b.WriteByte(raw[i])
			}
		}
		if i >= len(raw) {
			return "", "", fmt.Errorf(`%s: missing closing "`, name)
		}
		value, raw = b.String(), raw[i+1:]
	default:
		if i := strings.Index(raw, " #"); i >= 0 {
			raw = raw[:i]
		}
		if i := strings.Index(raw, "\t#"); i >= 0 {
			raw = raw[:i]
		}
		return name, strings.TrimRight(raw, " \t"), nil
	}
	rest := strings.TrimSpace(raw)
	if rest != "" && !strings.HasPrefix(rest, "#") {
		return "", "", fmt.Errorf("%s: unexpected %q after the closing quote", name, rest)
	}
	return name, value, nil
}

// MissingSecretError is the error Resolve returns (one per secret, joined)
// when a secret the recipe uses has no value.
type MissingSecretError struct {
	Name  string
	Empty bool // set, but to the empty string
}

func (e *MissingSecretError) Error() string {
	if e.Empty {
		return fmt.Sprintf("secret %q is empty (give it a value in the environment or in --secrets FILE)", e.Name)
	}
	return fmt.Sprintf("secret %q is not set (export %s=... or put it in --secrets FILE)", e.Name, e.Name)
}

// Resolve returns the recipe's steps with secret values in place of their
// tokens, and a function that hides those values in any text (plans,
// diffs, logs) as <secret>. Steps without secrets share their op with r;
// treat them as read-only. It is an error when a secret the steps use has
// no value in s.
func (r *Recipe) Resolve(s Secrets) (steps []*ops.Step, redact func(string) string, err error) {
	used := map[string]string{}
	steps, missing := resolveSteps(r.Steps, s, used)
	if len(missing) > 0 {
		return nil, nil, errors.Join(missing...)
	}
	return steps, redactor(used), nil
}

// resolveSteps returns steps with the values in s in place of their
// tokens, recording in used the value of each secret met ("" for those
// with none), and a *MissingSecretError for each of those.
func resolveSteps(in []*ops.Step, s Secrets, used map[string]string) (steps []*ops.Step, missing []error) {
	replace := func(str string) string {
		return tokenPattern.ReplaceAllStringFunc(str, func(tok string) string {
			name := tokenPattern.FindStringSubmatch(tok)[1]
			value, ok := s[name]
			if !ok || value == "" {
				if _, reported := used[name]; !reported {
					missing = append(missing, &MissingSecretError{Name: name, Empty: ok})
				}
				used[name] = ""
				return tok
			}
			used[name] = value
			return value
		})
	}
	steps = make([]*ops.Step, len(in))
	for i, step := range in {
		resolved := *step
		if hasTokens(step.Op) {
			resolved.Op = replaceStrings(reflect.ValueOf(step.Op), replace).Interface().(ops.Op)
		}
		steps[i] = &resolved
	}
	return steps, missing
}

// redactor hides each non-empty value, as it is and as it appears inside
// a JSON string, and any unresolved token, as <secret>.
func redactor(values map[string]string) func(string) string {
	var hide []string
	for _, v := range values {
		if v == "" {
			continue
		}
		hide = append(hide, v)
		if quoted, err := json.Marshal(v); err == nil {
			if inner := string(quoted[1 : len(quoted)-1]); inner != v {
				hide = append(hide, inner)
			}
		}
	}
	// Longest first, so that a secret containing another is hidden whole.
	slices.SortFunc(hide, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	var pairs []string
	for _, v := range slices.Compact(hide) {
		pairs = append(pairs, v, "<secret>")
	}
	replacer := strings.NewReplacer(pairs...)
	return func(s string) string {
		return tokenPattern.ReplaceAllString(replacer.Replace(s), "<secret>")
	}
}

func hasTokens(op ops.Op) bool {
	found := false
	visitStrings(reflect.ValueOf(op), func(s string) {
		found = found || strings.Contains(s, tokenStart)
	})
	return found
}

var byteSlice = reflect.TypeFor[[]byte]()

// visitStrings calls f with every string (and byte string, such as
// ops.Data) in v, through pointers, structs and slices.
func visitStrings(v reflect.Value, f func(string)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			visitStrings(v.Elem(), f)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				visitStrings(v.Field(i), f)
			}
		}
	case reflect.String:
		f(v.String())
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			if b := v.Bytes(); bytes.Contains(b, []byte(tokenStart)) || bytes.Contains(b, []byte(tokenEnd)) {
				f(string(b))
			}
			return
		}
		for i := range v.Len() {
			visitStrings(v.Index(i), f)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			visitStrings(iter.Key(), f)
			visitStrings(iter.Value(), f)
		}
	}
}

// replaceStrings returns a deep copy of v with every string and byte
// string s replaced by f(s). Ops are plain data: pointers, structs,
// slices, maps and scalars.
func replaceStrings(v reflect.Value, f func(string) string) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			out.Set(replaceStrings(v.Elem(), f).Addr())
		}
	case reflect.Struct:
		out.Set(v)
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				out.Field(i).Set(replaceStrings(v.Field(i), f))
			}
		}
	case reflect.String:
		out.SetString(f(v.String()))
	case reflect.Slice:
		if v.IsNil() {
			break
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			out.SetBytes([]byte(f(string(v.Bytes()))))
			break
		}
		out.Set(reflect.MakeSlice(v.Type(), v.Len(), v.Len()))
		for i := range v.Len() {
			out.Index(i).Set(replaceStrings(v.Index(i), f))
		}
	case reflect.Map:
		if v.IsNil() {
			break
		}
		out.Set(reflect.MakeMapWithSize(v.Type(), v.Len()))
		iter := v.MapRange()
		for iter.Next() {
			out.SetMapIndex(replaceStrings(iter.Key(), f), replaceStrings(iter.Value(), f))
		}
	default:
		out.Set(v)
	}
	return out
}

// ParseSecrets reads secrets from b, a file in the format LoadSecrets
// reads; name is the file's name, for messages.
func ParseSecrets(name string, b []byte) (Secrets, error) {
	s := Secrets{}
	if err := parseDotenv(name, b, s); err != nil {
		return nil, err
	}
	return s, nil
}

// Dotenv is s as a file LoadSecrets reads back exactly: one NAME="value"
// a line, sorted by name, values double-quoted with \n, \r, \t, \", \\
// and \$ escaped.
func (s Secrets) Dotenv() []byte {
	names := make([]string, 0, len(s))
	for name := range s {
		names = append(names, name)
	}
	slices.Sort(names)
	escape := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	var b bytes.Buffer
	for _, name := range names {
		b.WriteString(name + `="` + escape.Replace(s[name]) + "\"\n")
	}
	return b.Bytes()
}

// SecretNames lists the secrets that step i (an index into Steps) uses,
// sorted; none for an index out of range. A bake uses it to choose the
// secrets the Pi's first boot needs: those of the steps it defers.
func (r *Recipe) SecretNames(i int) []string {
	if i < 0 || i >= len(r.Steps) {
		return nil
	}
	return secretsOf(r.Steps[i : i+1])
}

// Unresolved is a step a lenient resolution could not resolve: the
// secrets it uses that have no value.
type Unresolved struct {
	StepID  string
	Secrets []string // sorted
}

// ResolveLenient is Resolve for a run that holds only some of the
// recipe's secrets, such as a Pi's first boot: a bake keeps on the Pi only
// the secrets of the steps it could not finish (a Wi-Fi passphrase whose
// file the bake wrote stays behind). A step using a secret with no value
// (or an empty one) is no error: it is returned as it is, tokens intact,
// and listed in unresolved, in step order, for the caller to leave out of
// the run (reconcile.Options.Skip). The other steps are resolved as
// Resolve does, and redact hides the values used.
func (r *Recipe) ResolveLenient(s Secrets) (steps []*ops.Step, unresolved []Unresolved, redact func(string) string) {
	used := map[string]string{}
	steps = make([]*ops.Step, len(r.Steps))
	for i, step := range r.Steps {
		var missing []string
		for _, name := range r.SecretNames(i) {
			if s[name] == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			unresolved = append(unresolved, Unresolved{StepID: step.ID, Secrets: missing})
			steps[i] = step
			continue
		}
		resolved, _ := resolveSteps(r.Steps[i:i+1], s, used)
		steps[i] = resolved[0]
	}
	return steps, unresolved, redactor(used)
}
