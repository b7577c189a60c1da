package ops

import (
	"fmt"
	"path"
	"strings"
)

// This file enables and disables systemd units offline, by making and
// removing the symbolic links of their [Install] sections exactly as
// "systemctl enable" and "systemctl disable" of Debian bookworm (systemd 252)
// do. The behaviour was observed in a chroot of a debootstrapped bookworm
// root; ops/services_test.go compares the two.
//
// Limits: only the system scope, only /etc/systemd/system (no --runtime, no
// presets); [Install] settings in drop-ins are ignored (systemd ignores them
// too); the SysV init script links that Debian's systemctl also updates
// (/etc/rc?.d, through systemd-sysv-install) are not touched: under systemd
// a native unit overrides its init script, so they do not matter on a Pi.

// unitSearchPath is where systemctl looks for unit files, in its order, as
// "systemd-analyze unit-paths" prints it on bookworm (minus the generator,
// transient, control and attached directories, which hold no unit files a
// recipe enables). Debian puts /usr/local/lib before /lib, and /lib before
// /usr/lib; with a merged /usr (bookworm and Raspberry Pi OS), /lib is a
// link to usr/lib, so a packaged unit is found, and linked to, as
// /lib/systemd/system/NAME.
var unitSearchPath = []string{
	"/etc/systemd/system",
	"/run/systemd/system",
	"/usr/local/lib/systemd/system",
	"/lib/systemd/system",
	"/usr/lib/systemd/system",
}

// unitConfigDir is where enable links go.
const unitConfigDir = "/etc/systemd/system"

var unitSuffixes = []string{
	".service", ".socket", ".target", ".timer", ".path", ".mount",
	".automount", ".swap", ".slice", ".scope", ".device",
}

// unitFullName checks a unit name as a recipe gives it and adds ".service"
// when it has no unit type suffix, as systemctl does.
func unitFullName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("unit name is empty")
	}
	full := name
	if unitSuffix(name) == "" {
		full = name + ".service"
	}
	if len(full) > 255 {
		return "", fmt.Errorf("unit name %q is too long", name)
	}
	prefix := strings.TrimSuffix(full, unitSuffix(full))
	if prefix == "" || prefix[0] == '@' || strings.Count(prefix, "@") > 1 {
		return "", fmt.Errorf("invalid unit name %q", name)
	}
	for _, r := range prefix {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(":-_.\\@", r)) {
			return "", fmt.Errorf("invalid unit name %q: %q is not allowed (letters, digits and \":-_.\\@\" are)", name, r)
		}
	}
	return full, nil
}

func unitSuffix(name string) string {
	for _, s := range unitSuffixes {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			return s
		}
	}
	return ""
}

// unitSplit splits "getty@tty1.service" into "getty", "tty1", ".service";
// template reports whether the name has an "@" (with or without instance).
func unitSplit(name string) (prefix, instance, suffix string, template bool) {
	suffix = unitSuffix(name)
	base := strings.TrimSuffix(name, suffix)
	prefix, instance, template = strings.Cut(base, "@")
	return prefix, instance, suffix, template
}

// unitIsTemplate reports whether name is a template without instance: "getty@.service".
func unitIsTemplate(name string) bool {
	_, inst, _, tmpl := unitSplit(name)
	return tmpl && inst == ""
}

// unitInstanceOf returns the instance name of template for instance inst.
func unitInstanceOf(template, inst string) string {
	prefix, _, suffix, _ := unitSplit(template)
	return prefix + "@" + inst + suffix
}

// unitTemplateOf returns the template of an instance name.
func unitTemplateOf(name string) string {
	prefix, _, suffix, _ := unitSplit(name)
	return prefix + "@" + suffix
}

// A unitFile is a unit found along the search path.
type unitFile struct {
	Name    string // the name asked for: "worker@two.service"
	File    string // the file's base name: "worker@.service" for an instance
	Path    string // where it was found, and what enable links point to
	Masked  bool   // a link to /dev/null or an empty file
	Content []byte
	// Ours is true when the content comes from the recipe, not the target.
	Ours bool
}

// findUnit looks name up along the search path, and an instance's template
// after the instance itself. It returns nil when there is no such unit.
func findUnit(env *Env, name string) (*unitFile, error) {
	names := []string{name}
	if _, inst, _, tmpl := unitSplit(name); tmpl && inst != "" {
		names = append(names, unitTemplateOf(name))
	}
	for _, file := range names {
		for _, dir := range unitSearchPath {
			p := path.Join(dir, file)
			fi, err := env.LstatIfExists(p)
			if err != nil {
				return nil, err
			}
			if fi == nil {
				continue
			}
			u := &unitFile{Name: name, File: file, Path: p}
			switch {
			case fi.IsSymlink() && (fi.Target == "/dev/null"):
				u.Masked = true
				return u, nil
			case fi.IsSymlink():
				target := fi.Target
				if !path.IsAbs(target) {
					target = path.Join(dir, target)
				}
				if path.Base(target) != file {
					return nil, fmt.Errorf("%s is an alias of %s (%s -> %s): name the unit itself", file, path.Base(target), p, fi.Target)
				}
				// A linked unit ("systemctl link"): enable links point
				// where the link points.
				u.Path = path.Clean(target)
			case fi.IsDir():
				return nil, fmt.Errorf("unit %s: %s is a directory", name, p)
			case fi.Size == 0 && fi.IsRegular():
				u.Masked = true
				return u, nil
			}
			content, err := env.Sys.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("unit %s: %w", name, err)
			}
			if len(content) == 0 {
				u.Masked = true
			}
			u.Content = content
			return u, nil
		}
	}
	return nil, nil
}

// unitInstall is the [Install] section of a unit file.
type unitInstall struct {
	WantedBy, RequiredBy, UpheldBy, Alias, Also []string
	DefaultInstance                             string
}

func (in *unitInstall) empty() bool {
	return len(in.WantedBy)+len(in.RequiredBy)+len(in.UpheldBy)+len(in.Alias)+len(in.Also) == 0
}

// parseUnitInstall reads the [Install] section of a unit file: lists are
// whitespace-separated, may be given several times, and an empty
// assignment resets them, as systemd reads them.
func parseUnitInstall(content []byte) (*unitInstall, error) {
	in := &unitInstall{}
	section := ""
	lines := strings.Split(strings.ReplaceAll(string(content), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		n := i + 1
		line := strings.TrimSpace(lines[i])
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			next := strings.TrimSpace(lines[i])
			if next != "" && (next[0] == '#' || next[0] == ';') {
				continue
			}
			line = strings.TrimSuffix(line, "\\") + " " + next
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: bad section header %q", n, line)
			}
			section = line[1 : len(line)-1]
			continue
		}
		if section != "Install" {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want KEY=VALUE in [Install], got %q", n, line)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		var list *[]string
		switch key {
		case "WantedBy":
			list = &in.WantedBy
		case "RequiredBy":
			list = &in.RequiredBy
		case "UpheldBy":
			list = &in.UpheldBy
		case "Alias":
			list = &in.Alias
		case "Also":
			list = &in.Also
		case "DefaultInstance":
			in.DefaultInstance = value
			continue
		default:
			continue // systemd warns and ignores unknown keys
		}
		if value == "" {
			*list = nil
			continue
		}
		*list = append(*list, strings.Fields(value)...)
	}
	return in, nil
}

// expandUnitSpecifiers expands the specifiers systemctl expands in [Install]
// values that matter for links: %n, %N, %p, %i and %%.
func expandUnitSpecifiers(s, name string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	prefix, inst, suffix, tmpl := unitSplit(name)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i++; i == len(s) {
			return "", fmt.Errorf("%q ends in %%", s)
		}
		switch s[i] {
		case '%':
			b.WriteByte('%')
		case 'n':
			b.WriteString(name)
		case 'N':
			b.WriteString(strings.TrimSuffix(name, suffix))
		case 'p':
			b.WriteString(prefix)
		case 'i':
			if tmpl {
				b.WriteString(inst)
			}
		default:
			return "", fmt.Errorf("%q: specifier %%%c is not supported here (only %%n, %%N, %%p, %%i and %%%%)", s, s[i])
		}
	}
	return b.String(), nil
}

// A unitLink is one link that enabling a unit makes.
type unitLink struct{ Path, Target string }

// unitEnableLinks returns the links "systemctl enable NAME" makes for u,
// and for the units its Also= names (those that do not exist are skipped,
// as systemctl skips them with a warning).
func unitEnableLinks(env *Env, u *unitFile) ([]unitLink, error) {
	var links []unitLink
	seen := map[string]bool{}
	var walk func(u *unitFile, top bool) error
	walk = func(u *unitFile, top bool) error {
		if seen[u.Name] {
			return nil
		}
		seen[u.Name] = true
		if u.Masked {
			return fmt.Errorf("%s is masked (%s): unmask it first, by removing that file (files.absent)", u.Name, u.Path)
		}
		in, err := parseUnitInstall(u.Content)
		if err != nil {
			return fmt.Errorf("unit %s (%s): %w", u.Name, u.Path, err)
		}
		if top && u.Ours && in.empty() {
			return fmt.Errorf("unit %s cannot be enabled: its [Install] section has no WantedBy=, RequiredBy=, Alias= or Also= (add, say, WantedBy=multi-user.target; or leave enabled unset)", u.Name)
		}
		own, err := unitOwnLinks(u, in)
		if err != nil {
			return err
		}
		links = append(links, own...)
		for _, also := range in.Also {
			also, err := expandUnitSpecifiers(also, u.Name)
			if err != nil {
				return fmt.Errorf("unit %s: Also=%w", u.Name, err)
			}
			name, err := unitFullName(also)
			if err != nil {
				return fmt.Errorf("unit %s: Also=: %w", u.Name, err)
			}
			other, err := findUnit(env, name)
			if err != nil {
				return err
			}
			if other == nil {
				continue
			}
			if err := walk(other, false); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(u, true); err != nil {
		return nil, err
	}
	return links, nil
}

// unitOwnLinks are the WantedBy=, RequiredBy=, UpheldBy= and Alias= links
// of one unit.
func unitOwnLinks(u *unitFile, in *unitInstall) ([]unitLink, error) {
	// The name the .wants links carry: the instance for an instance, the
	// default instance for a template.
	linkName := u.Name
	if unitIsTemplate(u.Name) && in.DefaultInstance != "" {
		linkName = unitInstanceOf(u.Name, in.DefaultInstance)
	}
	var links []unitLink
	deps := []struct {
		dir  string
		list []string
	}{{".wants", in.WantedBy}, {".requires", in.RequiredBy}, {".upholds", in.UpheldBy}}
	for _, d := range deps {
		for _, target := range d.list {
			target, err := expandUnitSpecifiers(target, linkName)
			if err != nil {
				return nil, fmt.Errorf("unit %s: %w", u.Name, err)
			}
			if _, err := unitFullName(target); err != nil || unitSuffix(target) == "" {
				return nil, fmt.Errorf("unit %s: bad dependency %q in [Install]", u.Name, target)
			}
			if unitIsTemplate(linkName) {
				return nil, fmt.Errorf("template unit %s has no DefaultInstance= in [Install]: name an instance (%s)", u.Name, unitInstanceOf(u.Name, "NAME"))
			}
			links = append(links, unitLink{path.Join(unitConfigDir, target+d.dir, linkName), u.Path})
		}
	}
	for _, alias := range in.Alias {
		alias, err := expandUnitSpecifiers(alias, linkName)
		if err != nil {
			return nil, fmt.Errorf("unit %s: Alias=%w", u.Name, err)
		}
		if _, err := unitFullName(alias); err != nil || unitSuffix(alias) != unitSuffix(u.Name) {
			return nil, fmt.Errorf("unit %s: bad Alias=%s (it must be a unit name of the same type)", u.Name, alias)
		}
		_, inst, _, tmpl := unitSplit(u.Name)
		_, aliasInst, _, aliasTmpl := unitSplit(alias)
		switch {
		case tmpl != aliasTmpl:
			return nil, fmt.Errorf("unit %s: cannot alias it as %s (a template and its aliases must both be templates)", u.Name, alias)
		case tmpl && inst != "" && aliasInst == "":
			// Enabling an instance instantiates a template alias; enabling
			// the template itself links the template alias.
			alias = unitInstanceOf(alias, inst)
		}
		if alias == u.Name {
			continue
		}
		links = append(links, unitLink{path.Join(unitConfigDir, alias), u.Path})
	}
	return links, nil
}

// unitNamesForDisable are the link names "systemctl disable" removes for u:
// its own name, the instance its .wants links carry and its aliases.
func unitNamesForDisable(u *unitFile, in *unitInstall) map[string]bool {
	names := map[string]bool{u.Name: true}
	if in == nil {
		return names
	}
	if unitIsTemplate(u.Name) && in.DefaultInstance != "" {
		names[unitInstanceOf(u.Name, in.DefaultInstance)] = true
	}
	links, _ := unitOwnLinks(u, in) // names only; errors were the enable's business
	for _, l := range links {
		names[path.Base(l.Path)] = true
	}
	return names
}

// planEnable plans the links that enable u. A link that points elsewhere
// is replaced; one that reaches the same file by another path
// (/usr/lib/systemd/system/x instead of /lib/systemd/system/x) is kept, as
// systemctl keeps it.
func planEnable(env *Env, u *unitFile, cl *changeList) error {
	links, err := unitEnableLinks(env, u)
	if err != nil {
		return err
	}
	for _, l := range links {
		fi, err := env.LstatIfExists(l.Path)
		if err != nil {
			return err
		}
		if fi != nil && fi.IsSymlink() && fi.Target != l.Target {
			have := fi.Target
			if !path.IsAbs(have) {
				have = path.Join(path.Dir(l.Path), have)
			}
			if canonicalPath(env, have) == canonicalPath(env, l.Target) {
				continue
			}
		}
		changes, err := env.EnsureLink(l.Path, l.Target)
		if err != nil {
			return err
		}
		cl.add(changes...)
	}
	return nil
}

// planDisable plans the removal of the links that enable u (and the units
// its Also= names), as "systemctl disable" does: in /etc/systemd/system and
// its *.wants, *.requires and *.upholds directories, every link named as
// the unit or one of its aliases, and, for a unit that is not an instance,
// every link pointing to a file of the unit's name. Masks (links to
// /dev/null) stay. A directory emptied this way is removed, as systemctl
// removes it. For a unit whose file does not exist, u has no Content and
// only links of its name go.
//
// One deliberate difference: disabling an instance also removes the
// instance's aliases (wk@two.service for Alias=wk@.service), which
// systemctl 252 leaves behind.
func planDisable(env *Env, u *unitFile, cl *changeList) error {
	type target struct {
		names map[string]bool
		file  string // match links by their target's base name; "" for instances
	}
	var targets []target
	seen := map[string]bool{}
	var walk func(u *unitFile)
	walk = func(u *unitFile) {
		if seen[u.Name] {
			return
		}
		seen[u.Name] = true
		var in *unitInstall
		if !u.Masked && u.Content != nil {
			in, _ = parseUnitInstall(u.Content)
		}
		t := target{names: unitNamesForDisable(u, in)}
		if _, inst, _, tmpl := unitSplit(u.Name); !tmpl || inst == "" {
			t.file = u.File
		}
		targets = append(targets, t)
		if in == nil {
			return
		}
		for _, also := range in.Also {
			also, err := expandUnitSpecifiers(also, u.Name)
			if err != nil {
				continue
			}
			name, err := unitFullName(also)
			if err != nil {
				continue
			}
			if other, err := findUnit(env, name); err == nil && other != nil {
				walk(other)
			}
		}
	}
	walk(u)
	matches := func(fi *FileInfo, top bool) bool {
		if !fi.IsSymlink() || fi.Target == "/dev/null" {
			return false
		}
		for _, t := range targets {
			if top && fi.Name == t.file {
				continue // the unit file itself (or a linked unit), not an enable link
			}
			if t.names[fi.Name] || (t.file != "" && path.Base(fi.Target) == t.file) {
				return true
			}
		}
		return false
	}
	entries, err := readDirIfExists(env, unitConfigDir)
	if err != nil {
		return err
	}
	for _, fi := range entries {
		p := path.Join(unitConfigDir, fi.Name)
		if !fi.IsDir() {
			if matches(fi, true) {
				cl.add(&Change{Kind: Remove, Path: p})
			}
			continue
		}
		if !strings.HasSuffix(fi.Name, ".wants") && !strings.HasSuffix(fi.Name, ".requires") && !strings.HasSuffix(fi.Name, ".upholds") {
			continue
		}
		sub, err := env.Sys.ReadDir(p)
		if err != nil {
			return err
		}
		var remove []*Change
		for _, s := range sub {
			if matches(s, false) {
				remove = append(remove, &Change{Kind: Remove, Path: path.Join(p, s.Name)})
			}
		}
		if len(remove) > 0 && len(remove) == len(sub) {
			cl.add(&Change{Kind: Remove, Path: p})
			continue
		}
		cl.add(remove...)
	}
	return nil
}

func readDirIfExists(env *Env, dir string) ([]*FileInfo, error) {
	fi, err := env.LstatIfExists(dir)
	if err != nil || fi == nil {
		return nil, err
	}
	return env.Sys.ReadDir(dir)
}

// canonicalPath resolves the symbolic links in p within the target, as far
// as they exist; it is used to tell whether two links reach the same file.
func canonicalPath(env *Env, p string) string {
	r, err := ResolvePath(path.Clean(p), true, env.Sys.Lstat)
	if err != nil {
		return p
	}
	return r
}

// changeList collects an op's changes, dropping a second Mkdir or Remove
// of the same path (two links in one new .wants directory each plan it).
type changeList struct {
	changes []*Change
	seen    map[string]bool
}

func (cl *changeList) add(changes ...*Change) {
	if cl.seen == nil {
		cl.seen = map[string]bool{}
	}
	for _, c := range changes {
		if c.Kind == Mkdir || c.Kind == Remove {
			key := string(c.Kind) + " " + c.Path
			if cl.seen[key] {
				continue
			}
			cl.seen[key] = true
		}
		cl.changes = append(cl.changes, c)
	}
}

// wrote reports whether the list writes (or replaces) path p.
func (cl *changeList) wrote(p string) bool {
	for _, c := range cl.changes {
		if c.Path == p && (c.Kind == Write || c.Kind == Remove || c.Kind == Symlink) {
			return true
		}
	}
	return false
}
