package ssh

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Target is where the user asked to go, before ssh_config has its say.
// User and Port are zero when the user did not give them.
type Target struct {
	User string
	Host string // an alias, a name or an address; IPv6 without brackets
	Port int
}

// String gives the target back in the ssh:// form.
func (t Target) String() string {
	var b strings.Builder
	b.WriteString("ssh://")
	if t.User != "" {
		b.WriteString(url.User(t.User).String())
		b.WriteByte('@')
	}
	host := t.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	b.WriteString(host)
	if t.Port != 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(t.Port))
	}
	return b.String()
}

// ParseTarget parses ssh://[user@]host[:port] or [user@]host. An IPv6
// address is written in brackets: ssh://user@[::1]:2222, user@[::1].
// Without ssh:// a colon after the host is not a port (scp's host:path
// reads the same), so it is refused: use ssh:// to give a port.
func ParseTarget(s string) (Target, error) {
	if rest, ok := strings.CutPrefix(s, "ssh://"); ok {
		t, err := parseAuthority(rest, true)
		if err != nil {
			return Target{}, fmt.Errorf("target %q: %w", s, err)
		}
		return t, nil
	}
	if strings.Contains(s, "://") {
		return Target{}, fmt.Errorf("target %q: only ssh:// is understood", s)
	}
	t, err := parseAuthority(s, false)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w", s, err)
	}
	return t, nil
}

func parseAuthority(s string, withPort bool) (Target, error) {
	var t Target
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		user := s[:i]
		if withPort {
			var err error
			if user, err = url.PathUnescape(user); err != nil {
				return Target{}, fmt.Errorf("user: %w", err)
			}
		}
		if user == "" {
			return Target{}, fmt.Errorf("empty user before @")
		}
		if strings.ContainsAny(user, " \t\r\n") {
			return Target{}, fmt.Errorf("user %q has white space", user)
		}
		t.User = user
		s = s[i+1:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		return Target{}, fmt.Errorf("unexpected %q after the host: a target names a host, not a path", s[i:])
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return Target{}, fmt.Errorf("missing ] after IPv6 address")
		}
		host = s[1:end]
		after := s[end+1:]
		switch {
		case after == "":
		case strings.HasPrefix(after, ":"):
			port = after[1:]
			if port == "" {
				return Target{}, fmt.Errorf("empty port after ':'")
			}
		default:
			return Target{}, fmt.Errorf("unexpected %q after ]", after)
		}
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is6() {
			return Target{}, fmt.Errorf("%q in brackets is not an IPv6 address", host)
		}
	} else if i := strings.IndexByte(s, ':'); i >= 0 {
		if strings.Count(s, ":") > 1 {
			return Target{}, fmt.Errorf("an IPv6 address goes in brackets: [%s]", s)
		}
		host, port = s[:i], s[i+1:]
		if port == "" {
			return Target{}, fmt.Errorf("empty port after ':'")
		}
	}
	if host == "" {
		return Target{}, fmt.Errorf("empty host")
	}
	if strings.ContainsAny(host, " \t\r\n@[]") {
		return Target{}, fmt.Errorf("host %q has characters a host name cannot have", host)
	}
	if port != "" {
		if !withPort {
			return Target{}, fmt.Errorf("a port is given as ssh://host:%s (without ssh://, host:port is not a port)", port)
		}
		p, err := parsePort(port)
		if err != nil {
			return Target{}, err
		}
		t.Port = p
	}
	t.Host = host
	return t, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("bad port %q: want a number from 1 to 65535", s)
	}
	return p, nil
}
