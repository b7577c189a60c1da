package ops

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"path"
	"regexp"
	"strings"
)

func init() {
	Register("server.hostname", func() Op { return new(Hostname) })
	Register("server.user", func() Op { return new(User) })
	Register("server.timezone", func() Op { return new(Timezone) })
	Register("server.locale", func() Op { return new(Locale) })
}

// Hostname is the target's host name: /etc/hostname and the 127.0.1.1 line
// of /etc/hosts.
type Hostname struct {
	Name string `json:"name"`
}

// User is a login account, made by editing /etc/passwd, shadow, group and
// gshadow directly so that it works on an image too.
type User struct {
	Name string `json:"name"`
	// UID is the wanted user id; 0 picks the first free one from UID_MIN.
	UID    int      `json:"uid,omitempty"`
	Groups []string `json:"groups"` // supplementary groups, exactly these
	Shell  string   `json:"shell"`
	Home   string   `json:"home"` // default /home/NAME
	// PasswordHash is a crypt(3) hash; nil leaves an existing one alone
	// (a new account gets "*": no password login, keys still work).
	PasswordHash *string  `json:"password_hash,omitempty"`
	SSHKeys      []string `json:"ssh_keys"` // ~/.ssh/authorized_keys, exactly these
	Sudo         bool     `json:"sudo"`     // passwordless sudo via /etc/sudoers.d
}

// Timezone is the target's time zone ("Europe/London").
type Timezone struct {
	Name string `json:"name"`
}

// Locale is the target's default locale ("en_GB.UTF-8"), generated.
type Locale struct {
	Name string `json:"name"`
}

func (o *Hostname) Kind() string    { return "server.hostname" }
func (o *Hostname) Summary() string { return o.Name }
func (o *User) Kind() string        { return "server.user" }
func (o *User) Summary() string     { return o.Name }
func (o *Timezone) Kind() string    { return "server.timezone" }
func (o *Timezone) Summary() string { return o.Name }
func (o *Locale) Kind() string      { return "server.locale" }
func (o *Locale) Summary() string   { return o.Name }

// hostLabelRE is one label of an RFC 1123 host name.
var hostLabelRE = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?$`)

// Plan implements Op. /etc/hostname holds the name; the 127.0.1.1 line of
// /etc/hosts names it too (a fully qualified name, then its first label),
// as Debian's installer writes it. On a live system, the running host name
// is set as well when it differs.
func (o *Hostname) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	names := o.Name
	if short, _, fqdn := strings.Cut(o.Name, "."); fqdn {
		names += " " + short
	}
	changes, err := editFile(env, FileSpec{Path: "/etc/hostname", Content: []byte(o.Name + "\n"), Mode: 0o644})
	if err != nil {
		return nil, err
	}
	hosts, exists, err := readTextFile(env, "/etc/hosts")
	if err != nil {
		return nil, err
	}
	if !exists {
		hosts = []byte("127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n")
	}
	if edited := hostsNaming(hosts, names); !exists || !bytes.Equal(edited, hosts) {
		more, err := editFile(env, FileSpec{Path: "/etc/hosts", Content: edited, Mode: 0o644})
		if err != nil {
			return nil, err
		}
		changes = append(changes, more...)
	}
	set := len(changes) > 0
	if !set && env.Live() {
		res, _, err := env.Query(ctx, "hostname")
		if err != nil {
			return nil, err
		}
		set = res.ExitCode != 0 || strings.TrimSpace(string(res.Stdout)) != o.Name
	}
	if set {
		changes = append(changes, &Change{Kind: Run, Exec: &Exec{
			Description: "set the running host name", Argv: []string{"hostname", o.Name}, LiveOnly: true,
		}})
	}
	return changes, nil
}

func (o *Hostname) Validate() error {
	if o.Name == "" || len(o.Name) > 253 {
		return fmt.Errorf("name: want a host name of 1 to 253 characters, got %q", o.Name)
	}
	for _, label := range strings.Split(o.Name, ".") {
		if !hostLabelRE.MatchString(label) {
			return fmt.Errorf("name: %q is not a host name: label %q: want 1 to 63 letters, digits and '-', not starting or ending with '-' (RFC 1123)", o.Name, label)
		}
	}
	return nil
}

// hostsNaming returns the hosts file content with its first 127.0.1.1 line
// naming names (keeping the line's spacing and comment), or such a line
// appended.
func hostsNaming(content []byte, names string) []byte {
	const addr = "127.0.1.1"
	lines := splitLines(content)
	for i, l := range lines {
		text := strings.TrimSuffix(l, "\n")
		body, comment, hasComment := strings.Cut(text, "#")
		fields := strings.Fields(body)
		if len(fields) == 0 || fields[0] != addr {
			continue
		}
		if strings.Join(fields[1:], " ") == names {
			return content
		}
		start := strings.Index(body, addr) + len(addr)
		space := len(body[start:]) - len(strings.TrimLeft(body[start:], " \t"))
		sep := body[start : start+space]
		if sep == "" {
			sep = "\t"
		}
		edited := body[:start] + sep + names
		if hasComment {
			edited += " #" + comment
		}
		lines[i] = edited + l[len(text):]
		return []byte(strings.Join(lines, ""))
	}
	if n := len(lines); n > 0 && !strings.HasSuffix(lines[n-1], "\n") {
		lines[n-1] += "\n"
	}
	return []byte(strings.Join(append(lines, addr+"\t"+names+"\n"), ""))
}

const zoneinfo = "/usr/share/zoneinfo"

// Plan implements Op: /etc/localtime links to the zone's file, which must
// exist on the target (tzdata), and /etc/timezone names it. A regular file
// at /etc/localtime (a copied zone) is replaced by the link.
func (o *Timezone) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	name := o.Name
	zone := zoneinfo + "/" + name
	fi, err := env.Sys.Stat(zone)
	if err != nil {
		return nil, fmt.Errorf("timezone %s: %s does not exist on the target (unknown zone, or tzdata missing): %w", name, zone, err)
	}
	if !fi.IsRegular() {
		return nil, fmt.Errorf("timezone %s: %s is not a zone file", name, zone)
	}
	var changes []*Change
	lfi, err := env.LstatIfExists("/etc/localtime")
	if err != nil {
		return nil, err
	}
	if lfi != nil && !lfi.IsSymlink() && !lfi.IsDir() {
		changes = append(changes, &Change{Kind: Remove, Path: "/etc/localtime"}, &Change{Kind: Symlink, Path: "/etc/localtime", Target: zone})
	} else {
		if changes, err = env.EnsureLink("/etc/localtime", zone); err != nil {
			return nil, err
		}
	}
	more, err := editFile(env, FileSpec{Path: "/etc/timezone", Content: []byte(name + "\n"), Mode: 0o644})
	return append(changes, more...), err
}

func (o *Timezone) Validate() error {
	name := o.Name
	if name == "" || path.IsAbs(name) || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../") ||
		strings.ContainsAny(name, " \t\n") {
		return fmt.Errorf("name: want a zone name such as Europe/London, got %q", name)
	}
	return nil
}

var localeNameRE = regexp.MustCompile(`^[A-Za-z0-9_]+(\.[A-Za-z0-9_-]+)?(@[A-Za-z0-9_]+)?$`)

func (o *Locale) Validate() error {
	if !localeNameRE.MatchString(o.Name) {
		return fmt.Errorf("name: want a locale name such as en_GB.UTF-8, got %q", o.Name)
	}
	return nil
}

// Plan implements Op: the locale's line in /etc/locale.gen (uncommented,
// or added), LANG in /etc/default/locale, and locale-gen when the target
// has not compiled the locale: a fact from `locale -a` where the target
// runs commands, else from /usr/lib/locale (locale-archive or a directory
// of the locale's own). C and POSIX are built in.
func (o *Locale) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	name := o.Name
	var changes []*Change
	if name != "C" && name != "POSIX" {
		gen, _, err := readTextFile(env, "/etc/locale.gen")
		if err != nil {
			return nil, err
		}
		edited, err := localeGenWith(gen, name)
		if err != nil {
			return nil, fmt.Errorf("locale %s: /etc/locale.gen: %w", name, err)
		}
		if !bytes.Equal(edited, gen) {
			if changes, err = editFile(env, FileSpec{Path: "/etc/locale.gen", Content: edited, Mode: 0o644}); err != nil {
				return nil, err
			}
		}
	}
	defaults, exists, err := readTextFile(env, "/etc/default/locale")
	if err != nil {
		return nil, err
	}
	if edited := defaultLocaleWith(defaults, name); !exists || !bytes.Equal(edited, defaults) {
		more, err := editFile(env, FileSpec{Path: "/etc/default/locale", Content: edited, Mode: 0o644})
		if err != nil {
			return nil, err
		}
		changes = append(changes, more...)
	}
	if name == "C" || name == "POSIX" {
		return changes, nil
	}
	compiled, err := localeCompiled(ctx, env, name)
	if err != nil {
		return nil, fmt.Errorf("locale %s: %w", name, err)
	}
	if !compiled {
		changes = append(changes, &Change{Kind: Run, Exec: &Exec{Description: "generate locale " + name, Argv: []string{"locale-gen"}}})
	}
	return changes, nil
}

// localeGenWith returns locale.gen with name's line ("en_GB.UTF-8 UTF-8")
// uncommented, or added when the file has none, commented or not. The
// charset is the name's codeset or, for a name without one, the charset of
// its line in the file.
func localeGenWith(content []byte, name string) ([]byte, error) {
	lines := splitLines(content)
	entry := func(l string) (fields []string, commented bool) {
		t := strings.TrimSpace(l)
		commented = strings.HasPrefix(t, "#")
		return strings.Fields(strings.TrimLeft(t, "#")), commented
	}
	base, _, _ := strings.Cut(name, "@")
	_, charset, ok := strings.Cut(base, ".")
	if !ok {
		for _, l := range lines {
			if f, _ := entry(l); len(f) == 2 && f[0] == name {
				charset = f[1]
				break
			}
		}
		if charset == "" {
			return nil, fmt.Errorf("no line for %s, and its name has no charset (write it such as en_GB.UTF-8)", name)
		}
	}
	first := -1
	for i, l := range lines {
		f, commented := entry(l)
		if len(f) != 2 || f[0] != name || f[1] != charset {
			continue
		}
		if !commented {
			return content, nil
		}
		if first < 0 {
			first = i
		}
	}
	want := name + " " + charset
	if first >= 0 {
		lines[first] = want + lines[first][len(strings.TrimSuffix(lines[first], "\n")):]
	} else {
		if n := len(lines); n > 0 && !strings.HasSuffix(lines[n-1], "\n") {
			lines[n-1] += "\n"
		}
		lines = append(lines, want+"\n")
	}
	return []byte(strings.Join(lines, "")), nil
}

// defaultLocaleWith returns /etc/default/locale with its LANG set to name
// (other lines, LANGUAGE or LC_*, stay).
func defaultLocaleWith(content []byte, name string) []byte {
	lines := splitLines(content)
	for i, l := range lines {
		text := strings.TrimSuffix(l, "\n")
		value, ok := strings.CutPrefix(strings.TrimSpace(text), "LANG=")
		if !ok {
			continue
		}
		if strings.Trim(value, `"'`) == name {
			return content
		}
		lines[i] = "LANG=" + name + l[len(text):]
		return []byte(strings.Join(lines, ""))
	}
	if n := len(lines); n > 0 && !strings.HasSuffix(lines[n-1], "\n") {
		lines[n-1] += "\n"
	}
	return []byte(strings.Join(append(lines, "LANG="+name+"\n"), ""))
}

// localeCompiled reports whether the target has the locale name compiled.
func localeCompiled(ctx context.Context, env *Env, name string) (bool, error) {
	want := normalizeLocale(name)
	res, ok, err := env.Query(ctx, "locale", "-a")
	if err != nil {
		return false, err
	}
	if ok {
		if res.ExitCode != 0 {
			return false, fmt.Errorf("locale -a: exit status %d: %s", res.ExitCode, bytes.TrimSpace(res.Stderr))
		}
		for _, l := range strings.Split(string(res.Stdout), "\n") {
			if normalizeLocale(strings.TrimSpace(l)) == want {
				return true, nil
			}
		}
		return false, nil
	}
	for _, dir := range []string{want, name} {
		if fi, err := env.Sys.Stat("/usr/lib/locale/" + dir); err == nil && fi.IsDir() {
			return true, nil
		}
	}
	archive, ok, err := env.ReadFileIfExists("/usr/lib/locale/locale-archive")
	if err != nil || !ok {
		return false, err
	}
	names, err := localeArchiveNames(archive)
	if err != nil {
		// A damaged archive has nothing usable: locale-gen remakes it.
		return false, nil
	}
	for _, n := range names {
		if normalizeLocale(n) == want {
			return true, nil
		}
	}
	return false, nil
}

// normalizeLocale normalizes the codeset of a locale name as glibc does
// (_nl_normalize_codeset): "en_GB.UTF-8" is "en_GB.utf8", "de_DE.ISO-8859-1"
// is "de_DE.iso88591".
func normalizeLocale(name string) string {
	base, modifier, hasModifier := strings.Cut(name, "@")
	lang, codeset, ok := strings.Cut(base, ".")
	if !ok {
		return name
	}
	var b strings.Builder
	digitsOnly := true
	for _, r := range codeset {
		switch {
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r - 'A' + 'a')
			digitsOnly = false
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
			digitsOnly = false
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	codeset = b.String()
	if digitsOnly {
		codeset = "iso" + codeset
	}
	out := lang + "." + codeset
	if hasModifier {
		out += "@" + modifier
	}
	return out
}

// localeArchiveNames lists the locales in a glibc locale-archive: the
// names its hash table points to (locarchive.h: a header of 32-bit words,
// then entries of hash, name offset and record offset).
func localeArchiveNames(b []byte) ([]string, error) {
	const magic = 0xde020109
	if len(b) < 56 {
		return nil, fmt.Errorf("locale-archive: too short")
	}
	var order binary.ByteOrder = binary.LittleEndian
	if order.Uint32(b) != magic {
		if order = binary.BigEndian; order.Uint32(b) != magic {
			return nil, fmt.Errorf("locale-archive: bad magic number")
		}
	}
	offset, size := uint64(order.Uint32(b[8:])), uint64(order.Uint32(b[16:]))
	if offset+12*size > uint64(len(b)) {
		return nil, fmt.Errorf("locale-archive: name table out of bounds")
	}
	var names []string
	for i := uint64(0); i < size; i++ {
		e := b[offset+12*i:]
		nameOffset, record := uint64(order.Uint32(e[4:])), order.Uint32(e[8:])
		if nameOffset == 0 || record == 0 || nameOffset >= uint64(len(b)) {
			continue
		}
		name := b[nameOffset:]
		if end := bytes.IndexByte(name, 0); end >= 0 {
			names = append(names, string(name[:end]))
		}
	}
	return names, nil
}
