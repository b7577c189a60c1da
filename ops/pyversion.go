package ops

import (
	"cmp"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// This file reads Python package requirements as pip.venv takes them and
// compares them with what a venv has installed: PEP 503 names and PEP 440
// versions and specifiers.
//
// Limits: environment markers ("; python_version < '3.9'"), URLs
// ("name @ https://...") and pip options are refused; extras ("name[cv]")
// are passed to pip but only the package itself is checked, not the extras'
// dependencies; ">" and "<" compare versions plainly (PEP 440's special
// cases for post- and pre-releases of the named version are not applied),
// and pre-releases are not excluded from matching.

// pyNormalize is the PEP 503 normalised form of a project name.
func pyNormalize(name string) string {
	return strings.ToLower(pySeparators.ReplaceAllString(name, "-"))
}

var pySeparators = regexp.MustCompile(`[-_.]+`)

// A pyRequirement is "name[extras] spec, spec".
type pyRequirement struct {
	Raw   string
	Name  string // normalised
	Specs []pySpec
}

type pySpec struct {
	Op      string // ==, !=, >=, <=, >, <, ~=, ===
	Version string
}

var (
	pyReqRe  = regexp.MustCompile(`^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[A-Za-z0-9._,\s-]*\])?\s*(.*)$`)
	pySpecRe = regexp.MustCompile(`^(===|==|!=|>=|<=|~=|>|<)\s*([A-Za-z0-9.*+!_-]+)$`)
)

func parsePyRequirement(s string) (*pyRequirement, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, ";@") || strings.HasPrefix(s, "-") {
		return nil, fmt.Errorf("package %q: only name[extras] and version specifiers are supported (no markers, URLs or pip options; use requirements= for those)", s)
	}
	m := pyReqRe.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("invalid package %q", s)
	}
	req := &pyRequirement{Raw: s, Name: pyNormalize(m[1])}
	if rest := strings.TrimSpace(m[3]); rest != "" {
		for _, part := range strings.Split(rest, ",") {
			sm := pySpecRe.FindStringSubmatch(strings.TrimSpace(part))
			if sm == nil {
				return nil, fmt.Errorf("package %q: bad version specifier %q", s, strings.TrimSpace(part))
			}
			spec := pySpec{Op: sm[1], Version: sm[2]}
			if spec.Op != "===" {
				v := strings.TrimSuffix(spec.Version, ".*")
				if strings.HasSuffix(spec.Version, ".*") && spec.Op != "==" && spec.Op != "!=" {
					return nil, fmt.Errorf("package %q: %s does not take a wildcard", s, spec.Op)
				}
				if _, err := parsePyVersion(v); err != nil {
					return nil, fmt.Errorf("package %q: %w", s, err)
				}
				if spec.Op == "~=" && !strings.Contains(v, ".") {
					return nil, fmt.Errorf("package %q: ~= needs a version with at least two parts", s)
				}
			}
			req.Specs = append(req.Specs, spec)
		}
	}
	return req, nil
}

// satisfiedBy reports whether an installed version matches every specifier.
func (r *pyRequirement) satisfiedBy(installed string) bool {
	v, err := parsePyVersion(installed)
	if err != nil {
		// Not a PEP 440 version: only === can match it.
		for _, s := range r.Specs {
			if s.Op != "===" || s.Version != installed {
				return false
			}
		}
		return true
	}
	for _, s := range r.Specs {
		if !s.matches(v, installed) {
			return false
		}
	}
	return true
}

func (s pySpec) matches(v *pyVersion, raw string) bool {
	if s.Op == "===" {
		return s.Version == raw
	}
	if strings.HasSuffix(s.Version, ".*") {
		want, _ := parsePyVersion(strings.TrimSuffix(s.Version, ".*"))
		match := v.hasPrefix(want)
		if s.Op == "!=" {
			return !match
		}
		return match
	}
	want, _ := parsePyVersion(s.Version)
	if want.local == "" {
		v = v.withoutLocal() // PEP 440: a local label is ignored unless asked for
	}
	c := v.compare(want)
	switch s.Op {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case ">=":
		return c >= 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case "<":
		return c < 0
	case "~=":
		prefix := *want
		prefix.release = want.release[:len(want.release)-1]
		prefix.pre, prefix.post, prefix.dev = nil, nil, nil
		return c >= 0 && v.hasPrefix(&prefix)
	}
	return false
}

// pyVersion is a parsed PEP 440 version.
type pyVersion struct {
	epoch   int
	release []int
	pre     *[2]int // kind (0 a, 1 b, 2 rc) and number
	post    *int
	dev     *int
	local   string
}

var pyVersionRe = regexp.MustCompile(`^v?(?:(\d+)!)?(\d+(?:\.\d+)*)` +
	`(?:[-_.]?(alpha|a|beta|b|preview|pre|c|rc)[-_.]?(\d+)?)?` +
	`(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d+)?)?` +
	`(?:[-_.]?(dev)[-_.]?(\d+)?)?` +
	`(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$`)

func parsePyVersion(s string) (*pyVersion, error) {
	m := pyVersionRe.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return nil, fmt.Errorf("invalid version %q (PEP 440)", s)
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	v := &pyVersion{epoch: num(m[1]), local: m[10]}
	for _, part := range strings.Split(m[2], ".") {
		v.release = append(v.release, num(part))
	}
	if m[3] != "" {
		kind := 0
		switch m[3] {
		case "b", "beta":
			kind = 1
		case "c", "rc", "pre", "preview":
			kind = 2
		}
		v.pre = &[2]int{kind, num(m[4])}
	}
	if m[5] != "" || m[6] != "" {
		n := num(m[5] + m[7])
		v.post = &n
	}
	if m[8] != "" {
		n := num(m[9])
		v.dev = &n
	}
	return v, nil
}

func (v *pyVersion) withoutLocal() *pyVersion {
	c := *v
	c.local = ""
	return &c
}

// hasPrefix reports whether v's release starts with p's release (trailing
// zeros padded), with the same epoch: the "==1.2.*" match.
func (v *pyVersion) hasPrefix(p *pyVersion) bool {
	if v.epoch != p.epoch {
		return false
	}
	for i, n := range p.release {
		have := 0
		if i < len(v.release) {
			have = v.release[i]
		}
		if have != n {
			return false
		}
	}
	return true
}

// compare orders versions as PEP 440 does: epoch, release (trailing zeros
// ignored), then dev < pre < final < post; local labels compare as strings.
func (v *pyVersion) compare(w *pyVersion) int {
	if c := cmp.Compare(v.epoch, w.epoch); c != 0 {
		return c
	}
	n := max(len(v.release), len(w.release))
	for i := 0; i < n; i++ {
		a, b := 0, 0
		if i < len(v.release) {
			a = v.release[i]
		}
		if i < len(w.release) {
			b = w.release[i]
		}
		if c := cmp.Compare(a, b); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(v.preKey(), w.preKey()); c != 0 {
		return c
	}
	if v.pre != nil && w.pre != nil {
		if c := cmp.Compare(v.pre[1], w.pre[1]); c != 0 {
			return c
		}
	}
	if c := pyCompareOptional(v.post, w.post, -1); c != 0 {
		return c
	}
	if c := pyCompareOptional(v.dev, w.dev, 1<<30); c != 0 {
		return c
	}
	return strings.Compare(v.local, w.local)
}

// preKey ranks the pre-release part: a dev release of a final version
// sorts before its pre-releases, a final one after them.
func (v *pyVersion) preKey() int {
	switch {
	case v.pre != nil:
		return v.pre[0]
	case v.post == nil && v.dev != nil:
		return -1
	}
	return 3
}

// pyCompareOptional compares optional numbers, a missing one counting as none.
func pyCompareOptional(a, b *int, none int) int {
	x, y := none, none
	if a != nil {
		x = *a
	}
	if b != nil {
		y = *b
	}
	return cmp.Compare(x, y)
}
