package firmware

import (
	"fmt"
	"slices"
	"strings"
)

// Overlay is a device tree overlay with its parameters, as on a
// "dtoverlay=name,param=value,bare" line.
type Overlay struct {
	Name   string
	Params []string // "param=value" or a bare "param", in order
}

// ParseOverlay parses "name,param=value,bare" (the value of a dtoverlay
// line) and checks it.
func ParseOverlay(s string) (Overlay, error) {
	toks := strings.Split(s, ",")
	o := Overlay{Name: toks[0]}
	if len(toks) > 1 {
		o.Params = toks[1:]
	}
	return o, o.Check()
}

// String is o as a dtoverlay value: "name,param=value".
func (o Overlay) String() string {
	return strings.Join(append([]string{o.Name}, o.Params...), ",")
}

// Check returns an error unless o can be written to config.txt.
func (o Overlay) Check() error {
	if err := CheckOverlayName(o.Name); err != nil {
		return err
	}
	for _, p := range o.Params {
		name, value, _ := strings.Cut(p, "=")
		if p == "" || name == "" {
			return fmt.Errorf("overlay %s: empty parameter", o.Name)
		}
		if err := checkName("overlay "+o.Name+" parameter", name); err != nil {
			return err
		}
		if strings.ContainsAny(value, ", \t") || hasControl(value) {
			return fmt.Errorf("overlay %s: parameter %q: a value cannot hold commas, spaces or control characters", o.Name, p)
		}
	}
	return nil
}

// CheckOverlayName returns an error unless name can be an overlay's name
// (the overlays directory holds name.dtbo).
func CheckOverlayName(name string) error {
	if name == "" {
		return fmt.Errorf("overlay name is empty")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '+' || r == '.') {
			return fmt.Errorf("overlay name %q: only letters, digits and -_+. are allowed", name)
		}
	}
	if strings.HasPrefix(name, ".") {
		return fmt.Errorf("overlay name %q starts with a dot", name)
	}
	return nil
}

// multiInstance lists overlays made to be loaded more than once, with the
// parameters that tell their instances apart and those parameters' defaults
// (from the overlays' README).
var multiInstance = map[string]map[string]string{
	"i2c-gpio":       {"bus": "0"},
	"w1-gpio":        {"gpiopin": "4"},
	"w1-gpio-pullup": {"gpiopin": "4"},
}

// OverlayKey returns the parameters that tell instances of the named overlay
// apart, for overlays known to be loaded more than once (i2c-gpio: bus;
// w1-gpio: gpiopin); nil for others, which have one instance per section.
func OverlayKey(name string) []string {
	var key []string
	for k := range multiInstance[name] {
		key = append(key, k)
	}
	slices.Sort(key)
	return key
}

// paramValue is the value of param in params: "on" when bare, the known
// default (or "") when absent.
func paramValue(overlay string, params []string, param string) string {
	v, ok := multiInstance[overlay][param]
	if !ok {
		v = ""
	}
	for _, t := range params {
		if n, val := paramToken(t); n == param {
			v = val
		}
	}
	return v
}

func sameInstance(a, b Overlay, key []string) bool {
	if a.Name != b.Name {
		return false
	}
	for _, k := range key {
		if !sameValue(paramValue(a.Name, a.Params, k), paramValue(b.Name, b.Params, k)) {
			return false
		}
	}
	return true
}

func sameParams(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	for i := range a {
		a[i] = strings.TrimSpace(a[i])
	}
	for i := range b {
		b[i] = strings.TrimSpace(b[i])
	}
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// overlayAt parses the overlay on an active dtoverlay line.
func overlayAt(info lineInfo) (Overlay, bool) {
	if info.kind != assignLine || !isOverlayKey(info.key) || info.value == "" {
		return Overlay{}, false
	}
	toks := strings.Split(info.value, ",")
	for i := range toks {
		toks[i] = strings.TrimSpace(toks[i])
	}
	o := Overlay{Name: toks[0]}
	if len(toks) > 1 {
		o.Params = toks[1:]
	}
	return o, true
}

// Overlays returns the overlays loaded in section, in order.
func (c *Config) Overlays(section string) []Overlay {
	var out []Overlay
	for _, info := range c.scan() {
		if o, ok := overlayAt(info); ok && inSection(info.filters, section) {
			out = append(out, o)
		}
	}
	return out
}

// HasOverlay reports whether section loads o exactly (same instance, same
// set of parameters), with key as in EnsureOverlay.
func (c *Config) HasOverlay(section string, o Overlay, key []string) bool {
	for _, have := range c.Overlays(section) {
		if sameInstance(have, o, key) && sameParams(have.Params, o.Params) {
			return true
		}
	}
	return false
}

// EnsureOverlay makes section load o. key names the parameters that tell
// instances of the overlay apart (see OverlayKey); nil means the name
// alone. The last line loading the same instance is rewritten if its
// parameters differ, and earlier lines of that instance are removed; else a
// commented line with the same parameters is uncommented; else a line is
// added at the end of the section.
func (c *Config) EnsureOverlay(section string, o Overlay, key []string) error {
	if err := CheckSection(section); err != nil {
		return err
	}
	if err := o.Check(); err != nil {
		return err
	}
	text := "dtoverlay=" + o.String()
	if err := checkLength(text); err != nil {
		return err
	}
	infos := c.scan()
	var same []int
	for i, info := range infos {
		if have, ok := overlayAt(info); ok && inSection(info.filters, section) && sameInstance(have, o, key) {
			same = append(same, i)
		}
	}
	if n := len(same); n > 0 {
		last := same[n-1]
		if have, _ := overlayAt(infos[last]); !sameParams(have.Params, o.Params) {
			if err := c.setText(last, text); err != nil {
				return err
			}
		}
		c.removeOverlayLines(infos, section, same[:n-1])
		return nil
	}
	for i := len(infos) - 1; i >= 0; i-- {
		info := infos[i]
		if info.kind != commentLine || !inSection(info.filters, section) {
			continue
		}
		k, v, ok := uncommented(c.lines[i].text)
		if !ok || !isOverlayKey(k) || v == "" {
			continue
		}
		have, _ := overlayAt(lineInfo{kind: assignLine, key: k, value: v})
		if have.Name == o.Name && sameParams(have.Params, o.Params) && captured(infos, i+1) < 0 {
			return c.uncomment(i)
		}
	}
	return c.addLines(section, overlayScope, text)
}

// overlayScope keeps a new overlay line from capturing the parameters that
// follow it.
func overlayScope(infos []lineInfo, at int) (before, after []string, err error) {
	p := captured(infos, at)
	if p < 0 {
		return nil, nil, nil
	}
	if scopeAt(infos, at) >= 0 {
		return nil, nil, fmt.Errorf("config.txt line %d: cannot add an overlay before this overlay parameter without changing what it applies to", p+1)
	}
	return nil, []string{"dtoverlay="}, nil
}

// RemoveOverlay removes the lines of section loading the instance o
// (matched as in EnsureOverlay: by name and key), with their parameters.
func (c *Config) RemoveOverlay(section string, o Overlay, key []string) error {
	if err := CheckSection(section); err != nil {
		return err
	}
	if err := o.Check(); err != nil {
		return err
	}
	infos := c.scan()
	var del []int
	for i, info := range infos {
		if have, ok := overlayAt(info); ok && inSection(info.filters, section) && sameInstance(have, o, key) {
			del = append(del, i)
		}
	}
	c.removeOverlayLines(infos, section, del)
	return nil
}

// RemoveOverlays removes every line of section loading the named overlay,
// whatever its parameters, with the dtparam lines that configure it.
func (c *Config) RemoveOverlays(section, name string) error {
	return c.RemoveOverlay(section, Overlay{Name: name}, nil)
}

// removeOverlayLines removes overlay lines and the dtparam lines of section
// in their scope.
func (c *Config) removeOverlayLines(infos []lineInfo, section string, overlays []int) {
	del := map[int]bool{}
	for _, i := range overlays {
		del[i] = true
	}
	for i, info := range infos {
		if info.kind == assignLine && isParamKey(info.key) && del[info.scope] && inSection(info.filters, section) {
			del[i] = true
		}
	}
	c.remove(del)
}
