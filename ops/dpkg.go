package ops

import (
	"fmt"
	"strings"
)

// This file reads dpkg's database of installed packages
// (/var/lib/dpkg/status), so that apt.packages answers the same on an image
// and on a live Pi, and compares Debian versions as dpkg does.

const dpkgStatusFile = "/var/lib/dpkg/status"

// A dpkgPackage is one stanza of the status file.
type dpkgPackage struct {
	Name, Version, Arch string
	Installed           bool     // Status: <want> ok installed
	Provides            []string // virtual package names
}

// parseDpkgStatus parses the status file: stanzas separated by blank lines,
// "Field: value" lines, continuation lines starting with a space or tab.
func parseDpkgStatus(b []byte) []dpkgPackage {
	var pkgs []dpkgPackage
	var cur dpkgPackage
	var have bool
	flush := func() {
		if have && cur.Name != "" {
			pkgs = append(pkgs, cur)
		}
		cur, have = dpkgPackage{}, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		have = true
		if line[0] == ' ' || line[0] == '\t' {
			continue // continuation of a field we do not read
		}
		field, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(field) {
		case "package":
			cur.Name = value
		case "version":
			cur.Version = value
		case "architecture":
			cur.Arch = value
		case "status":
			f := strings.Fields(value)
			cur.Installed = len(f) == 3 && f[1] == "ok" && f[2] == "installed"
		case "provides":
			for _, p := range strings.Split(value, ",") {
				name, _, _ := strings.Cut(strings.TrimSpace(p), " ")
				name, _, _ = strings.Cut(name, "(")
				name, _, _ = strings.Cut(name, ":")
				if name != "" {
					cur.Provides = append(cur.Provides, name)
				}
			}
		}
	}
	flush()
	return pkgs
}

// An aptSpec is a package as a recipe names it: "git", "git=1:2.39.2-1.1",
// "libc6:armhf".
type aptSpec struct {
	Name, Arch, Version string
}

func (s aptSpec) String() string {
	out := s.Name
	if s.Arch != "" {
		out += ":" + s.Arch
	}
	if s.Version != "" {
		out += "=" + s.Version
	}
	return out
}

// parseAptSpec checks a package name (Debian policy 5.6.1: lower case
// letters, digits, "+", "-", "."; at least two characters, starting with a
// letter or digit), an optional ":arch" and an optional "=version".
func parseAptSpec(s string) (aptSpec, error) {
	var spec aptSpec
	rest, version, pinned := strings.Cut(s, "=")
	name, arch, qualified := strings.Cut(rest, ":")
	spec.Name, spec.Arch, spec.Version = name, arch, version
	if len(name) < 2 || !debLowerAlnum(name[0]) {
		return spec, fmt.Errorf("invalid package name %q", s)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !debLowerAlnum(c) && c != '+' && c != '-' && c != '.' {
			return spec, fmt.Errorf("invalid package name %q: %q is not allowed (lower case letters, digits, \"+-.\" are)", s, c)
		}
	}
	if qualified {
		if arch == "" || strings.Trim(arch, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return spec, fmt.Errorf("invalid architecture in %q", s)
		}
	}
	if pinned {
		if err := checkDebVersion(version); err != nil {
			return spec, fmt.Errorf("package %q: %w", s, err)
		}
	}
	return spec, nil
}

func debLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// checkDebVersion checks the syntax of [epoch:]upstream[-revision].
func checkDebVersion(v string) error {
	if v == "" {
		return fmt.Errorf("version is empty")
	}
	epoch, rest, hasEpoch := strings.Cut(v, ":")
	if hasEpoch {
		if epoch == "" || strings.Trim(epoch, "0123456789") != "" {
			return fmt.Errorf("version %q: bad epoch", v)
		}
	} else {
		rest = v
	}
	if rest == "" || rest[0] < '0' || rest[0] > '9' {
		return fmt.Errorf("version %q: the upstream version must start with a digit", v)
	}
	if strings.Trim(rest, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+~-:") != "" {
		return fmt.Errorf("version %q has characters a Debian version cannot have", v)
	}
	return nil
}

// compareDebVersions compares two Debian versions as dpkg does: epoch,
// then upstream version, then revision, each with dpkg's ordering ("~"
// before anything, even the end; letters before other characters; digit
// runs as numbers).
func compareDebVersions(a, b string) int {
	ea, ua, ra := splitDebVersion(a)
	eb, ub, rb := splitDebVersion(b)
	if c := debCompareNumber(ea, eb); c != 0 {
		return c
	}
	if c := debVerRevCmp(ua, ub); c != 0 {
		return c
	}
	return debVerRevCmp(ra, rb)
}

func splitDebVersion(v string) (epoch, upstream, revision string) {
	epoch, upstream, ok := strings.Cut(v, ":")
	if !ok {
		epoch, upstream = "0", v
	}
	if i := strings.LastIndexByte(upstream, '-'); i >= 0 {
		upstream, revision = upstream[:i], upstream[i+1:]
	}
	return epoch, upstream, revision
}

func debCompareNumber(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func debOrder(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return int(c)
	case c == '~':
		return -1
	case c == 0:
		return 0
	}
	return int(c) + 256
}

func debIsDigit(c byte) bool { return c >= '0' && c <= '9' }

// debVerRevCmp is dpkg's verrevcmp.
func debVerRevCmp(a, b string) int {
	at := func(s string, i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !debIsDigit(a[i])) || (j < len(b) && !debIsDigit(b[j])) {
			ac, bc := debOrder(at(a, i)), debOrder(at(b, j))
			if ac != bc {
				return debSign(ac - bc)
			}
			i++
			j++
		}
		for at(a, i) == '0' {
			i++
		}
		for at(b, j) == '0' {
			j++
		}
		firstDiff := 0
		for debIsDigit(at(a, i)) && debIsDigit(at(b, j)) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if debIsDigit(at(a, i)) {
			return 1
		}
		if debIsDigit(at(b, j)) {
			return -1
		}
		if firstDiff != 0 {
			return debSign(firstDiff)
		}
	}
	return 0
}

func debSign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// dpkgInstalled reports whether spec is installed: a package of that name
// (and architecture, and version) with Status "... ok installed", or, when
// virtual and for a name without version, an installed package that
// Provides it.
func dpkgInstalled(pkgs []dpkgPackage, spec aptSpec, virtual bool) bool {
	for _, p := range pkgs {
		if !p.Installed {
			continue
		}
		if p.Name == spec.Name && (spec.Arch == "" || spec.Arch == p.Arch || p.Arch == "all") &&
			(spec.Version == "" || compareDebVersions(p.Version, spec.Version) == 0) {
			return true
		}
		if virtual && spec.Version == "" && spec.Arch == "" {
			for _, v := range p.Provides {
				if v == spec.Name {
					return true
				}
			}
		}
	}
	return false
}
