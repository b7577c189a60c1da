package ops

import (
	"fmt"
	"strconv"
	"strings"
)

// accountFile is one of the colon-separated account databases (/etc/passwd,
// shadow, group, gshadow), edited in place as the shadow tools do: entries
// are found by name, and every line pibake does not change stays byte for
// byte (comments, NIS "+" lines, malformed lines included).
type accountFile struct {
	path   string
	fields int // fields an entry has: passwd 7, shadow 9, group and gshadow 4
	lines  []string
	exists bool
	edited bool
}

const (
	passwdFile  = "/etc/passwd"
	shadowFile  = "/etc/shadow"
	groupFile   = "/etc/group"
	gshadowFile = "/etc/gshadow"
)

// readAccountFile reads p, which may be missing (then it is empty).
func readAccountFile(env *Env, p string, fields int) (*accountFile, error) {
	content, exists, err := readTextFile(env, p)
	if err != nil {
		return nil, err
	}
	f := &accountFile{path: p, fields: fields, exists: exists}
	for _, l := range splitLines(content) {
		f.lines = append(f.lines, strings.TrimSuffix(l, "\n"))
	}
	return f, nil
}

// find returns the line index of the entry called name, or -1.
func (f *accountFile) find(name string) int {
	for i, l := range f.lines {
		if first, _, ok := strings.Cut(l, ":"); ok && first == name {
			return i
		}
	}
	return -1
}

// entry returns the fields of line i, padded to f.fields.
func (f *accountFile) entry(i int) []string {
	fields := strings.Split(f.lines[i], ":")
	for len(fields) < f.fields {
		fields = append(fields, "")
	}
	return fields
}

// set replaces line i with fields when they differ from it.
func (f *accountFile) set(i int, fields []string) {
	if l := strings.Join(fields, ":"); l != f.lines[i] {
		f.lines[i] = l
		f.edited = true
	}
}

// add appends an entry.
func (f *accountFile) add(fields ...string) {
	f.lines = append(f.lines, strings.Join(fields, ":"))
	f.edited = true
}

// ids returns the numbers in field 2 (the UID or GID) of every entry.
func (f *accountFile) ids() map[int]bool {
	used := map[int]bool{}
	for i := range f.lines {
		if n, err := strconv.Atoi(f.entry(i)[2]); err == nil {
			used[n] = true
		}
	}
	return used
}

func (f *accountFile) content() []byte {
	if len(f.lines) == 0 {
		return nil
	}
	return []byte(strings.Join(f.lines, "\n") + "\n")
}

// plan returns the write of f when it was edited, keeping its mode and
// owner; a missing file is made with mode and owner root:group.
func (f *accountFile) plan(env *Env, mode Mode, group string, sensitive bool) ([]*Change, error) {
	if !f.edited {
		return nil, nil
	}
	if !f.exists {
		if _, err := env.GID(group); err != nil {
			group = "root"
		}
	}
	return editFile(env, FileSpec{Path: f.path, Content: f.content(), Mode: mode, Group: group, Sensitive: sensitive})
}

// members splits a member list ("pi,bob").
func members(list string) []string {
	if list == "" {
		return nil
	}
	return strings.Split(list, ",")
}

// withMember returns list with name in it (added last) or out of it (every
// occurrence), as want says.
func withMember(list, name string, want bool) string {
	names := members(list)
	out := names[:0:0]
	has := false
	for _, n := range names {
		if n == name {
			if !want {
				continue
			}
			has = true
		}
		out = append(out, n)
	}
	if want && !has {
		out = append(out, name)
	}
	return strings.Join(out, ",")
}

// loginDefs reads the integer settings of /etc/login.defs
// ("UID_MIN 1000"); a missing file or setting gives the defaults.
func loginDefs(env *Env, defaults map[string]int) (map[string]int, error) {
	values := make(map[string]int, len(defaults))
	for k, v := range defaults {
		values[k] = v
	}
	content, _, err := readTextFile(env, "/etc/login.defs")
	if err != nil {
		return nil, err
	}
	for _, l := range splitLines(content) {
		fields := strings.Fields(l)
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if _, wanted := defaults[fields[0]]; !wanted {
			continue
		}
		n, err := strconv.ParseInt(fields[1], 0, 64)
		if err != nil {
			return nil, fmt.Errorf("/etc/login.defs: %s: %q is not a number", fields[0], fields[1])
		}
		values[fields[0]] = int(n)
	}
	return values, nil
}

// adduserConf reads the settings of /etc/adduser.conf (NAME=value, maybe
// quoted); a missing file or setting gives the defaults.
func adduserConf(env *Env, defaults map[string]string) (map[string]string, error) {
	values := make(map[string]string, len(defaults))
	for k, v := range defaults {
		values[k] = v
	}
	content, _, err := readTextFile(env, "/etc/adduser.conf")
	if err != nil {
		return nil, err
	}
	for _, l := range splitLines(content) {
		name, value, ok := strings.Cut(strings.TrimSpace(l), "=")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if _, wanted := defaults[name]; !wanted {
			continue
		}
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		values[name] = value
	}
	return values, nil
}
