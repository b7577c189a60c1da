package ssh

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxIncludeDepth is OpenSSH's READCONF_MAX_DEPTH: an Include that includes
// itself stops here instead of looping.
const maxIncludeDepth = 16

// Config is one ssh_config(5) file, read for syntax. Its Include lines are
// followed when it is resolved, because OpenSSH reads them only from an
// active block, relative to the home directory of the user resolving.
type Config struct {
	name  string
	lines []configLine
}

type configLine struct {
	pos     string // FILE:LINE
	keyword string // lower case
	args    []string
	rest    string // the text after the keyword, for ProxyCommand
}

// Options carries what OpenSSH would take from the local system.
type Options struct {
	LocalUser string // %u, Match localuser, and the User when nobody names one
	HomeDir   string // ~, %d, and where relative Include paths start (HomeDir/.ssh)
}

// StrictHostKeyChecking is the ssh_config value of that name, normalised:
// "yes", "no", "ask" or "accept-new" ("off" and "false" read as "no",
// "true" as "yes").
type StrictHostKeyChecking string

// Policy maps the ssh_config value to what pibake, which never asks, does:
// "accept-new" and "no" accept a host seen for the first time, "yes" and
// "ask" refuse it. A changed key is refused whatever the value.
func (s StrictHostKeyChecking) Policy() Policy {
	if s == "accept-new" || s == "no" {
		return AcceptNew
	}
	return Strict
}

// Host is the effective configuration for reaching one host.
type Host struct {
	Alias                 string // the name Host lines matched (%n)
	HostName              string
	User                  string
	Port                  int
	IdentityFiles         []string // expanded; OpenSSH's defaults when none is configured
	IdentitiesOnly        bool
	ProxyJump             []string // nil: none
	ProxyCommand          string   // expanded; "": none
	UserKnownHostsFiles   []string // expanded
	GlobalKnownHostsFiles []string // expanded
	StrictHostKeyChecking StrictHostKeyChecking
	HostKeyAlias          string
	HashKnownHosts        bool
	ConnectTimeout        time.Duration // 0: none (the system's TCP timeout)
}

// ErrUnsupported is wrapped by errors for config that is valid for OpenSSH
// but that this package will not follow, such as Match exec.
var ErrUnsupported = errors.New("not supported")

// ParseConfig reads an ssh_config(5) file. name is used in errors, as
// FILE:LINE, and is the file's path. Values that OpenSSH would refuse
// anywhere in the file (a bad Port, an unterminated quote) are errors even
// in blocks that would never match, as they are for ssh.
func ParseConfig(name string, r io.Reader) (*Config, error) {
	c := &Config{name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		pos := fmt.Sprintf("%s:%d", name, n)
		l, ok, err := parseLine(pos, sc.Text())
		if err != nil {
			return nil, err
		}
		if ok {
			c.lines = append(c.lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return c, nil
}

func parseLine(pos, text string) (configLine, bool, error) {
	s := strings.TrimRight(text, " \t\r\n")
	s = strings.TrimLeft(s, " \t")
	if s == "" || s[0] == '#' {
		return configLine{}, false, nil
	}
	end := strings.IndexAny(s, " \t=")
	if end < 0 {
		end = len(s)
	}
	keyword := strings.ToLower(s[:end])
	rest := strings.TrimLeft(s[end:], " \t")
	if strings.HasPrefix(rest, "=") {
		rest = strings.TrimLeft(rest[1:], " \t")
	}
	args, err := splitArgs(rest)
	if err != nil {
		return configLine{}, false, fmt.Errorf("%s: %s: %w", pos, keyword, err)
	}
	l := configLine{pos: pos, keyword: keyword, args: args, rest: rest}
	return l, true, l.check()
}

// splitArgs splits as OpenSSH's argv_split: white space separates, single
// or double quotes group, a backslash escapes a quote, a backslash or (out
// of quotes) a space, and an unquoted # starts a comment.
func splitArgs(s string) ([]string, error) {
	var args []string
	for i := 0; i < len(s); {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) || s[i] == '#' {
			break
		}
		var arg strings.Builder
		var quote byte
		for ; i < len(s); i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				next := s[i+1]
				if next == '\'' || next == '"' || next == '\\' || quote == 0 && next == ' ' {
					arg.WriteByte(next)
					i++
					continue
				}
			}
			if quote == 0 && (c == ' ' || c == '\t') {
				break
			}
			if quote == 0 && (c == '"' || c == '\'') {
				quote = c
				continue
			}
			if quote != 0 && c == quote {
				quote = 0
				continue
			}
			arg.WriteByte(c)
		}
		if quote != 0 {
			return nil, fmt.Errorf("unterminated quote")
		}
		args = append(args, arg.String())
	}
	return args, nil
}

// check refuses values OpenSSH refuses, wherever they are.
func (l configLine) check() error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%s: %s: %s", l.pos, l.keyword, fmt.Sprintf(format, a...))
	}
	one := func() (string, error) {
		if len(l.args) != 1 {
			return "", fail("want one argument, got %d", len(l.args))
		}
		return l.args[0], nil
	}
	switch l.keyword {
	case "host":
		if len(l.args) == 0 {
			return fail("missing pattern")
		}
	case "match":
		_, err := parseMatch(l)
		return err
	case "include":
		if len(l.args) == 0 {
			return fail("missing file")
		}
	case "port":
		v, err := one()
		if err != nil {
			return err
		}
		if _, err := parsePort(v); err != nil {
			return fail("%v", err)
		}
	case "hostname", "user", "hostkeyalias", "identityfile":
		if _, err := one(); err != nil {
			return err
		}
	case "identitiesonly", "hashknownhosts":
		v, err := one()
		if err != nil {
			return err
		}
		if _, err := parseYesNo(v); err != nil {
			return fail("%v", err)
		}
	case "stricthostkeychecking":
		v, err := one()
		if err != nil {
			return err
		}
		if _, err := parseStrict(v); err != nil {
			return fail("%v", err)
		}
	case "connecttimeout":
		v, err := one()
		if err != nil {
			return err
		}
		if _, err := parseSeconds(v); err != nil {
			return fail("%v", err)
		}
	case "proxyjump":
		v, err := one()
		if err != nil {
			return fail("want one comma-separated list")
		}
		if _, err := parseJump(v); err != nil {
			return fail("%v", err)
		}
	case "proxycommand":
		if l.rest == "" {
			return fail("missing command")
		}
	case "userknownhostsfile", "globalknownhostsfile":
		if len(l.args) == 0 {
			return fail("missing file")
		}
	}
	return nil
}

func parseYesNo(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "true":
		return true, nil
	case "no", "false":
		return false, nil
	}
	return false, fmt.Errorf("want yes or no, got %q", s)
}

func parseStrict(s string) (StrictHostKeyChecking, error) {
	switch strings.ToLower(s) {
	case "yes", "true":
		return "yes", nil
	case "no", "off", "false":
		return "no", nil
	case "ask":
		return "ask", nil
	case "accept-new":
		return "accept-new", nil
	}
	return "", fmt.Errorf("want yes, no, ask, accept-new or off, got %q", s)
}

// parseSeconds reads OpenSSH's time format: 30, 30s, 1m30s, 1h, 1d, 1w.
func parseSeconds(s string) (time.Duration, error) {
	bad := fmt.Errorf("bad time %q: want seconds, or a number with s, m, h, d or w", s)
	if s == "" {
		return 0, bad
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, bad
		}
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, bad
		}
		unit := time.Second
		if i < len(s) {
			switch s[i] {
			case 's', 'S':
			case 'm', 'M':
				unit = time.Minute
			case 'h', 'H':
				unit = time.Hour
			case 'd', 'D':
				unit = 24 * time.Hour
			case 'w', 'W':
				unit = 7 * 24 * time.Hour
			default:
				return 0, bad
			}
			i++
		}
		total += time.Duration(n) * unit
		s = s[i:]
	}
	return total, nil
}

// parseJump checks a ProxyJump list: "none", or [user@]host[:port] and
// ssh:// targets separated by commas.
func parseJump(s string) ([]string, error) {
	if strings.EqualFold(s, "none") {
		return nil, nil
	}
	hops := strings.Split(s, ",")
	for _, hop := range hops {
		if strings.HasPrefix(hop, "ssh://") {
			if _, err := ParseTarget(hop); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := parseAuthority(hop, true); err != nil {
			return nil, fmt.Errorf("jump host %q: %w", hop, err)
		}
	}
	return hops, nil
}

type matchCriterion struct {
	negated bool
	name    string
	arg     string
}

func parseMatch(l configLine) ([]matchCriterion, error) {
	if len(l.args) == 0 {
		return nil, fmt.Errorf("%s: match: missing criteria", l.pos)
	}
	var out []matchCriterion
	for i := 0; i < len(l.args); i++ {
		a := l.args[i]
		negated := strings.HasPrefix(a, "!")
		name := strings.ToLower(strings.TrimPrefix(a, "!"))
		switch name {
		case "all":
			if len(l.args) != 1 {
				return nil, fmt.Errorf("%s: match: 'all' cannot be combined with other criteria", l.pos)
			}
			out = append(out, matchCriterion{negated: negated, name: name})
		case "host", "originalhost", "user", "localuser":
			if i+1 == len(l.args) {
				return nil, fmt.Errorf("%s: match: %s needs an argument", l.pos, name)
			}
			i++
			out = append(out, matchCriterion{negated: negated, name: name, arg: l.args[i]})
		case "exec":
			return nil, fmt.Errorf("%s: match exec: %w: pibake never runs commands from an ssh config", l.pos, ErrUnsupported)
		default:
			return nil, fmt.Errorf("%s: match %s: %w", l.pos, name, ErrUnsupported)
		}
	}
	return out, nil
}

// resolver holds the values obtained so far: the first one wins.
type resolver struct {
	opts   Options
	alias  string
	target Target

	hostName, user, hostKeyAlias    *configValue
	port                            int
	identityFiles                   []configValue
	identitiesOnly, hashKnownHosts  *bool
	jumpSet, commandSet             bool
	jump                            []string
	command                         *configValue
	userKnownHosts, globalKnownHost []configValue
	strict                          StrictHostKeyChecking
	connectTimeout                  *time.Duration
}

// configValue is a value with where it came from, so that its tokens can
// be expanded after the whole config is read and still be blamed on a line.
type configValue struct {
	pos, value string
}

// Resolve gives the effective configuration for alias, as ssh would for
// `ssh [-l target.User] [-p target.Port] alias`: the target's user and port,
// given on the command line, win over the config. alias is what Host lines
// and Match originalhost match; when empty, target.Host is the alias.
func (c *Config) Resolve(alias string, target Target, opts Options) (*Host, error) {
	if alias == "" {
		alias = target.Host
	}
	if alias == "" {
		return nil, fmt.Errorf("resolving in %s: empty host", c.name)
	}
	r := &resolver{opts: opts, alias: alias, target: target, port: target.Port}
	if target.User != "" {
		r.user = &configValue{value: target.User}
	}
	if err := r.read(c, true, 0); err != nil {
		return nil, err
	}
	return r.host()
}

func (r *resolver) read(c *Config, active bool, depth int) error {
	neverMatch := !active
	for _, l := range c.lines {
		switch l.keyword {
		case "host":
			active = !neverMatch && r.matchHost(l.args)
			continue
		case "match":
			criteria, err := parseMatch(l)
			if err != nil {
				return err
			}
			matched, err := r.match(criteria)
			if err != nil {
				return err
			}
			active = !neverMatch && matched
			continue
		case "include":
			if err := r.include(l, active, depth); err != nil {
				return err
			}
			continue
		}
		if active {
			r.apply(l)
		}
	}
	return nil
}

func (r *resolver) include(l configLine, active bool, depth int) error {
	if depth+1 > maxIncludeDepth {
		return fmt.Errorf("%s: include: more than %d levels deep", l.pos, maxIncludeDepth)
	}
	for _, arg := range l.args {
		pattern, err := r.tilde(l.pos, arg)
		if err != nil {
			return err
		}
		if !filepath.IsAbs(pattern) {
			pattern = filepath.Join(r.opts.HomeDir, ".ssh", pattern)
		}
		names, err := filepath.Glob(pattern)
		if err != nil {
			return fmt.Errorf("%s: include %q: %w", l.pos, arg, err)
		}
		slices.Sort(names)
		for _, name := range names {
			f, err := os.Open(name)
			if err != nil {
				return fmt.Errorf("%s: include: %w", l.pos, err)
			}
			inc, err := ParseConfig(name, f)
			f.Close()
			if err != nil {
				return err
			}
			// An included file's Host and Match lines change which of its
			// own lines apply, never the including file's.
			if err := r.read(inc, active, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// matchHost judges a Host line: some pattern matches the alias and no
// negated one does. The alias is matched as given, case and all, as ssh does.
func (r *resolver) matchHost(patterns []string) bool {
	matched := false
	for _, p := range patterns {
		if negated, ok := strings.CutPrefix(p, "!"); ok {
			if matchPattern(r.alias, negated) {
				return false
			}
			continue
		}
		if matchPattern(r.alias, p) {
			matched = true
		}
	}
	return matched
}

func (r *resolver) match(criteria []matchCriterion) (bool, error) {
	for _, c := range criteria {
		var ok bool
		switch c.name {
		case "all":
			ok = true
		case "host":
			host := r.alias
			if r.hostName != nil {
				var err error
				if host, err = expandHostName(r.hostName, r.alias); err != nil {
					return false, err
				}
			}
			ok = matchList(strings.ToLower(host), c.arg, true)
		case "originalhost":
			ok = matchList(strings.ToLower(r.alias), c.arg, true)
		case "user":
			user := r.opts.LocalUser
			if r.user != nil {
				user = r.user.value
			}
			ok = matchList(user, c.arg, false)
		case "localuser":
			ok = matchList(r.opts.LocalUser, c.arg, false)
		}
		if ok == c.negated {
			return false, nil
		}
	}
	return true, nil
}

// apply takes the value of l where none was obtained before; l.check has
// already refused values that do not parse.
func (r *resolver) apply(l configLine) {
	arg := ""
	if len(l.args) > 0 {
		arg = l.args[0]
	}
	value := &configValue{pos: l.pos, value: arg}
	switch l.keyword {
	case "hostname":
		if r.hostName == nil {
			r.hostName = value
		}
	case "user":
		if r.user == nil {
			r.user = value
		}
	case "hostkeyalias":
		if r.hostKeyAlias == nil {
			r.hostKeyAlias = value
		}
	case "port":
		if r.port == 0 {
			r.port, _ = parsePort(arg)
		}
	case "identityfile":
		// Every IdentityFile counts, in order, as ssh tries them all; ssh
		// drops one written exactly as an earlier one.
		if !slices.ContainsFunc(r.identityFiles, func(v configValue) bool { return v.value == arg }) {
			r.identityFiles = append(r.identityFiles, *value)
		}
	case "identitiesonly":
		if r.identitiesOnly == nil {
			v, _ := parseYesNo(arg)
			r.identitiesOnly = &v
		}
	case "hashknownhosts":
		if r.hashKnownHosts == nil {
			v, _ := parseYesNo(arg)
			r.hashKnownHosts = &v
		}
	case "stricthostkeychecking":
		if r.strict == "" {
			r.strict, _ = parseStrict(arg)
		}
	case "connecttimeout":
		if r.connectTimeout == nil {
			v, _ := parseSeconds(arg)
			r.connectTimeout = &v
		}
	case "proxyjump":
		// ProxyJump and ProxyCommand exclude each other: the first wins,
		// except that "ProxyJump none" still lets a later ProxyCommand in,
		// as ssh -G shows OpenSSH 9 doing.
		if !r.jumpSet && !r.commandSet {
			r.jumpSet = true
			r.jump, _ = parseJump(arg)
		}
	case "proxycommand":
		if !r.commandSet && r.jump == nil {
			r.commandSet = true
			if !strings.EqualFold(l.rest, "none") {
				r.command = &configValue{pos: l.pos, value: l.rest}
			}
		}
	case "userknownhostsfile":
		if r.userKnownHosts == nil {
			for _, a := range l.args {
				r.userKnownHosts = append(r.userKnownHosts, configValue{pos: l.pos, value: a})
			}
		}
	case "globalknownhostsfile":
		if r.globalKnownHost == nil {
			for _, a := range l.args {
				r.globalKnownHost = append(r.globalKnownHost, configValue{pos: l.pos, value: a})
			}
		}
	}
}

func (r *resolver) host() (*Host, error) {
	h := &Host{
		Alias:                 r.alias,
		HostName:              r.alias,
		User:                  r.opts.LocalUser,
		Port:                  22,
		StrictHostKeyChecking: "ask",
		ProxyJump:             r.jump,
	}
	if r.hostName != nil {
		var err error
		if h.HostName, err = expandHostName(r.hostName, r.alias); err != nil {
			return nil, err
		}
	}
	// ssh lower-cases the name it connects to and looks up in known_hosts.
	h.HostName = strings.ToLower(h.HostName)
	if r.user != nil {
		h.User = r.user.value
	}
	if r.port != 0 {
		h.Port = r.port
	}
	if r.hostKeyAlias != nil {
		h.HostKeyAlias = r.hostKeyAlias.value
	}
	if r.identitiesOnly != nil {
		h.IdentitiesOnly = *r.identitiesOnly
	}
	if r.hashKnownHosts != nil {
		h.HashKnownHosts = *r.hashKnownHosts
	}
	if r.strict != "" {
		h.StrictHostKeyChecking = r.strict
	}
	if r.connectTimeout != nil {
		h.ConnectTimeout = *r.connectTimeout
	}
	tokens := map[byte]string{
		'd': r.opts.HomeDir,
		'h': h.HostName,
		'k': h.Alias,
		'n': h.Alias,
		'p': strconv.Itoa(h.Port),
		'r': h.User,
		'u': r.opts.LocalUser,
	}
	if h.HostKeyAlias != "" {
		tokens['k'] = h.HostKeyAlias
	}
	files := func(values []configValue, defaults []string) ([]string, error) {
		if values == nil {
			for _, d := range defaults {
				values = append(values, configValue{value: d})
			}
		}
		var out []string
		for _, v := range values {
			s, err := r.tilde(v.pos, v.value)
			if err != nil {
				return nil, err
			}
			if s, err = expandTokens(v.pos, s, tokens); err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	var err error
	if h.IdentityFiles, err = files(r.identityFiles, defaultIdentityFiles); err != nil {
		return nil, err
	}
	if h.UserKnownHostsFiles, err = files(r.userKnownHosts, []string{"~/.ssh/known_hosts", "~/.ssh/known_hosts2"}); err != nil {
		return nil, err
	}
	// ssh takes GlobalKnownHostsFile as written: no ~, no tokens.
	h.GlobalKnownHostsFiles = []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}
	if r.globalKnownHost != nil {
		h.GlobalKnownHostsFiles = nil
		for _, v := range r.globalKnownHost {
			h.GlobalKnownHostsFiles = append(h.GlobalKnownHostsFiles, v.value)
		}
	}
	if r.command != nil {
		proxyTokens := map[byte]string{'h': h.HostName, 'n': h.Alias, 'p': tokens['p'], 'r': h.User}
		if h.ProxyCommand, err = expandTokens(r.command.pos, r.command.value, proxyTokens); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// defaultIdentityFiles are the files OpenSSH 9 tries when none is configured.
var defaultIdentityFiles = []string{
	"~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ecdsa_sk",
	"~/.ssh/id_ed25519", "~/.ssh/id_ed25519_sk", "~/.ssh/id_xmss", "~/.ssh/id_dsa",
}

// tilde expands a leading ~ or ~/ to the home directory. ~user is refused:
// looking up other users is global state this package does not touch.
func (r *resolver) tilde(pos, s string) (string, error) {
	if !strings.HasPrefix(s, "~") {
		return s, nil
	}
	if s != "~" && !strings.HasPrefix(s, "~/") {
		return "", fmt.Errorf("%s: %q: ~user: %w, only ~ is", pos, s, ErrUnsupported)
	}
	if r.opts.HomeDir == "" {
		return "", fmt.Errorf("%s: %q: no home directory to expand ~ to", pos, s)
	}
	return r.opts.HomeDir + s[1:], nil
}

// expandHostName expands HostName's tokens, %h and %%, as ssh does.
func expandHostName(v *configValue, alias string) (string, error) {
	return expandTokens(v.pos, v.value, map[byte]string{'h': alias})
}

func expandTokens(pos, s string, tokens map[byte]string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("%s: %q: lone %% at the end", pos, s)
		}
		i++
		if s[i] == '%' {
			b.WriteByte('%')
			continue
		}
		v, ok := tokens[s[i]]
		if !ok {
			return "", fmt.Errorf("%s: %q: token %%%c: %w here", pos, s, s[i], ErrUnsupported)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// matchList judges an OpenSSH pattern list, "a*,b,!c": false if a negated
// pattern matches, else true if any other does.
func matchList(s, list string, foldCase bool) bool {
	matched := false
	for _, p := range strings.Split(list, ",") {
		if foldCase {
			p = strings.ToLower(p)
		}
		if negated, ok := strings.CutPrefix(p, "!"); ok {
			if matchPattern(s, negated) {
				return false
			}
			continue
		}
		if matchPattern(s, p) {
			matched = true
		}
	}
	return matched
}

// matchPattern matches s against a pattern where * is any run of
// characters and ? any one character; nothing else is special.
func matchPattern(s, pattern string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for len(pattern) > 0 && pattern[0] == '*' {
				pattern = pattern[1:]
			}
			if pattern == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if matchPattern(s[i:], pattern) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
		}
		s, pattern = s[1:], pattern[1:]
	}
	return s == ""
}
