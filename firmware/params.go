package firmware

import (
	"fmt"
	"strings"
)

// paramLine is an active dtparam line of the base device tree.
type paramLine struct {
	index  int
	key    string   // dtparam or device_tree_param
	tokens []string // "name=value" or "name"
	edited bool
}

func splitParams(value string) []string {
	if value == "" {
		return nil
	}
	return strings.Split(value, ",")
}

// paramToken splits "name=value" (or a bare "name", which means on).
func paramToken(tok string) (name, value string) {
	name, value, ok := strings.Cut(tok, "=")
	if !ok {
		return strings.TrimSpace(tok), "on"
	}
	return strings.TrimSpace(name), strings.TrimSpace(value)
}

func renderParam(name, value string) string {
	if value == "" {
		return name
	}
	return name + "=" + value
}

var (
	truthy = map[string]bool{"on": true, "true": true, "yes": true, "okay": true, "1": true}
	falsy  = map[string]bool{"off": true, "false": true, "no": true, "0": true}
)

// sameValue reports whether two parameter values mean the same: equal, or
// both boolean words for on, or both for off.
func sameValue(a, b string) bool {
	if a == "" {
		a = "on"
	}
	if b == "" {
		b = "on"
	}
	if a == b {
		return true
	}
	a, b = strings.ToLower(a), strings.ToLower(b)
	return truthy[a] && truthy[b] || falsy[a] && falsy[b]
}

// baseParamLines returns the active dtparam lines of section that set the
// base device tree (no overlay in scope).
func (c *Config) baseParamLines(infos []lineInfo, section string) []*paramLine {
	var out []*paramLine
	for i, info := range infos {
		if info.kind == assignLine && isParamKey(info.key) && info.scope < 0 && inSection(info.filters, section) {
			out = append(out, &paramLine{index: i, key: info.key, tokens: splitParams(info.value)})
		}
	}
	return out
}

// writeParamLines writes edited lines back; lines left with no parameter
// are removed.
func (c *Config) writeParamLines(pls []*paramLine) error {
	del := map[int]bool{}
	texts := map[int]string{}
	for _, pl := range pls {
		if !pl.edited {
			continue
		}
		var toks []string
		for _, t := range pl.tokens {
			if t != "" {
				toks = append(toks, t)
			}
		}
		if len(toks) == 0 {
			del[pl.index] = true
			continue
		}
		text, err := c.indented(pl.index, pl.key+"="+strings.Join(toks, ","))
		if err != nil {
			return err
		}
		texts[pl.index] = text
	}
	for i, text := range texts {
		c.lines[i].text = text
	}
	c.remove(del)
	return nil
}

type occurrence struct {
	pl    *paramLine
	tok   int
	value string
}

func occurrences(pls []*paramLine, names map[string]bool) []occurrence {
	var out []occurrence
	for _, pl := range pls {
		for j, t := range pl.tokens {
			if n, v := paramToken(t); names[n] {
				out = append(out, occurrence{pl, j, v})
			}
		}
	}
	return out
}

func (c *Config) checkParam(section, name, value string, aliases []string) (map[string]bool, error) {
	if err := CheckSection(section); err != nil {
		return nil, err
	}
	if err := CheckParam(name, value); err != nil {
		return nil, err
	}
	names := map[string]bool{name: true}
	for _, n := range aliases {
		if err := checkName("dtparam", n); err != nil {
			return nil, err
		}
		names[n] = true
	}
	return names, nil
}

// CheckParam returns an error unless SetParam can write dtparam=name=value.
func CheckParam(name, value string) error {
	if err := checkName("dtparam", name); err != nil {
		return err
	}
	if err := checkValue("dtparam "+name, value); err != nil {
		return err
	}
	if strings.ContainsAny(value, ", \t=") {
		return fmt.Errorf("dtparam %s value %q: a value cannot hold commas, spaces or \"=\"", name, value)
	}
	return nil
}

// Param returns the value of the base device tree parameter name (or one
// of its aliases, such as "i2c" for "i2c_arm") in section. A bare
// parameter reads as "on".
func (c *Config) Param(section, name string, aliases ...string) (value string, ok bool) {
	names := map[string]bool{name: true}
	for _, a := range aliases {
		names[a] = true
	}
	occ := occurrences(c.baseParamLines(c.scan(), section), names)
	if len(occ) == 0 {
		return "", false
	}
	return occ[len(occ)-1].value, true
}

// SetParam makes name=value a base device tree parameter in section (an
// empty value writes a bare "name"). An occurrence of name or one of its
// aliases is edited in place, even inside a combined line, and earlier
// conflicting ones are removed; else a commented "#dtparam=name=..." line
// in the section is uncommented; else a line is added after the section's
// last base dtparam line, or at its end.
func (c *Config) SetParam(section, name, value string, aliases ...string) error {
	names, err := c.checkParam(section, name, value, aliases)
	if err != nil {
		return err
	}
	token := renderParam(name, value)
	infos := c.scan()
	pls := c.baseParamLines(infos, section)
	if occ := occurrences(pls, names); len(occ) > 0 {
		last := occ[len(occ)-1]
		if !sameValue(last.value, value) {
			last.pl.tokens[last.tok] = token
			last.pl.edited = true
		}
		for _, o := range occ[:len(occ)-1] {
			if !sameValue(o.value, value) {
				o.pl.tokens[o.tok] = ""
				o.pl.edited = true
			}
		}
		return c.writeParamLines(pls)
	}

	text := "dtparam=" + token
	if err := checkLength(text); err != nil {
		return err
	}
	same, other := -1, -1
	for i, info := range infos {
		if info.kind != commentLine || info.scope >= 0 || !inSection(info.filters, section) {
			continue
		}
		k, v, ok := uncommented(c.lines[i].text)
		if !ok || !isParamKey(k) {
			continue
		}
		toks := splitParams(v)
		if len(toks) != 1 {
			continue // uncommenting would set other parameters too
		}
		if n, pv := paramToken(toks[0]); names[n] {
			other = i
			if n == name && sameValue(pv, value) {
				same = i
			}
		}
	}
	switch {
	case same >= 0:
		return c.uncomment(same)
	case other >= 0:
		return c.setText(other, text)
	case len(pls) > 0:
		// After a base parameter no overlay is in scope.
		c.insert(pls[len(pls)-1].index+1, text)
		return nil
	}
	return c.addLines(section, baseScope, text)
}

// RemoveParam removes every base occurrence of name (and its aliases) in
// section, removing lines left empty.
func (c *Config) RemoveParam(section, name string, aliases ...string) error {
	names, err := c.checkParam(section, name, "", aliases)
	if err != nil {
		return err
	}
	pls := c.baseParamLines(c.scan(), section)
	for _, o := range occurrences(pls, names) {
		o.pl.tokens[o.tok] = ""
		o.pl.edited = true
	}
	return c.writeParamLines(pls)
}

// scopeAt is the overlay in scope for a line inserted before line at.
func scopeAt(infos []lineInfo, at int) int {
	if at < len(infos) {
		return infos[at].scope
	}
	if at == 0 {
		return -1
	}
	last := infos[at-1]
	if last.kind == assignLine && isOverlayKey(last.key) {
		if last.value == "" {
			return -1
		}
		return at - 1
	}
	return last.scope
}

// captured returns the first active dtparam line from at on that is in the
// scope of the overlay in force at at (or of the base tree), or -1.
func captured(infos []lineInfo, at int) int {
	for i := at; i < len(infos); i++ {
		info := infos[i]
		if info.kind != assignLine {
			continue
		}
		if isOverlayKey(info.key) {
			return -1
		}
		if isParamKey(info.key) {
			return i
		}
	}
	return -1
}

// baseScope returns the lines that must precede a base dtparam inserted at
// at: a "dtoverlay=" when an overlay is in scope there.
func baseScope(infos []lineInfo, at int) (before, after []string, err error) {
	if scopeAt(infos, at) < 0 {
		return nil, nil, nil
	}
	if p := captured(infos, at); p >= 0 {
		return nil, nil, fmt.Errorf("config.txt line %d: cannot add a base dtparam before this overlay parameter without changing what it applies to", p+1)
	}
	return []string{"dtoverlay="}, nil, nil
}
