package firmware

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// MaxLineLength is the longest config.txt line the firmware reads.
const MaxLineLength = 98

// Config is a parsed config.txt. Its zero value is an empty file.
type Config struct {
	lines []line
}

type line struct {
	text string // without its end of line
	eol  string // "\n", "\r\n", or "" for a last line without one
}

// ParseConfig parses config.txt content. It never fails: every byte is kept
// and Bytes returns b unchanged until an edit is made.
func ParseConfig(b []byte) *Config {
	c := &Config{}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			c.lines = append(c.lines, line{text: string(b)})
			break
		}
		text, eol := b[:i], "\n"
		if bytes.HasSuffix(text, []byte("\r")) {
			text, eol = text[:len(text)-1], "\r\n"
		}
		c.lines = append(c.lines, line{text: string(text), eol: eol})
		b = b[i+1:]
	}
	return c
}

// Bytes returns the content of the file.
func (c *Config) Bytes() []byte {
	var buf bytes.Buffer
	for _, l := range c.lines {
		buf.WriteString(l.text)
		buf.WriteString(l.eol)
	}
	return buf.Bytes()
}

// Line kinds.
const (
	blankLine = iota
	commentLine
	headerLine
	assignLine
	otherLine
)

// lineInfo is what scan learns about one line.
type lineInfo struct {
	kind    int
	filters []string // the filters in force at this line (a header: after it)
	key     string   // assignLine: text before "=", trimmed
	value   string   // assignLine: text after "=", trimmed
	// scope is the index of the dtoverlay line whose parameters a dtparam
	// here would set, or -1 for the base device tree.
	scope int
}

// scan classifies every line.
func (c *Config) scan() []lineInfo {
	infos := make([]lineInfo, len(c.lines))
	var filters []string
	scope := -1
	for i, l := range c.lines {
		info := lineInfo{scope: scope}
		info.kind, info.key, info.value = classify(l.text)
		switch info.kind {
		case headerLine:
			filters = applyFilter(filters, info.value)
		case assignLine:
			if isOverlayKey(info.key) {
				if info.value == "" {
					scope = -1
				} else {
					scope = i
				}
			}
		}
		info.filters = filters
		infos[i] = info
	}
	return infos
}

// classify returns a line's kind; for an assignment its key and value, for
// a header its filter.
func classify(text string) (kind int, key, value string) {
	t := strings.TrimSpace(text)
	switch {
	case t == "":
		return blankLine, "", ""
	case strings.HasPrefix(t, "#"):
		return commentLine, "", ""
	case strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]"):
		return headerLine, "", strings.TrimSpace(t[1 : len(t)-1])
	}
	k, v, ok := strings.Cut(t, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return otherLine, "", ""
	}
	return assignLine, strings.TrimSpace(k), strings.TrimSpace(v)
}

// uncommented returns the assignment a comment line would be without its
// leading "#"s, if it is one.
func uncommented(text string) (key, value string, ok bool) {
	t := strings.TrimLeft(strings.TrimSpace(text), "#")
	kind, key, value := classify(t)
	return key, value, kind == assignLine
}

func isOverlayKey(k string) bool { return k == "dtoverlay" || k == "device_tree_overlay" }
func isParamKey(k string) bool   { return k == "dtparam" || k == "device_tree_param" }

// modelFilters replace each other: a Pi is one model at a time.
var modelFilters = map[string]bool{
	"pi0": true, "pi0w": true, "pi02": true, "pi1": true, "pi2": true, "pi3": true, "pi3+": true,
	"pi4": true, "pi400": true, "pi5": true, "pi500": true, "pi500+": true,
	"cm1": true, "cm3": true, "cm3+": true, "cm4": true, "cm4s": true, "cm5": true,
}

// filterType is what makes two filters replace each other.
func filterType(f string) string {
	lower := strings.ToLower(f)
	switch {
	case modelFilters[lower] || strings.HasPrefix(lower, "board-type="):
		return "model"
	case strings.HasPrefix(lower, "0x"):
		return "serial"
	}
	if i := strings.IndexAny(f, "=:"); i >= 0 {
		return f[:i]
	}
	return f
}

// applyFilter returns the filters in force after a [f] header.
func applyFilter(filters []string, f string) []string {
	if f == "all" {
		return nil
	}
	out := make([]string, 0, len(filters)+1)
	replaced := false
	for _, g := range filters {
		if filterType(g) == filterType(f) {
			if !replaced {
				out = append(out, f)
				replaced = true
			}
			continue
		}
		out = append(out, g)
	}
	if !replaced {
		out = append(out, f)
	}
	return out
}

// inSection reports whether filters are exactly [section].
func inSection(filters []string, section string) bool {
	if section == "all" {
		return len(filters) == 0
	}
	return len(filters) == 1 && filters[0] == section
}

// CheckSection returns an error unless s names a section: a filter without
// its brackets, such as "all", "pi4" or "gpio4=1".
func CheckSection(s string) error {
	if s == "" {
		return errors.New("config.txt section is empty (use \"all\" for every model)")
	}
	if strings.TrimSpace(s) != s {
		return fmt.Errorf("config.txt section %q has leading or trailing spaces", s)
	}
	if strings.ContainsAny(s, "[]#") || hasControl(s) {
		return fmt.Errorf("config.txt section %q: want a filter without brackets, such as \"all\", \"pi4\" or \"gpio4=1\"", s)
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// checkName checks a setting or parameter name.
func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%s name is empty", what)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.:+", r)) {
			return fmt.Errorf("%s name %q: only letters, digits and _-.:+ are allowed", what, name)
		}
	}
	return nil
}

// checkValue checks a value for a config.txt line.
func checkValue(what, value string) error {
	if strings.TrimSpace(value) != value {
		return fmt.Errorf("%s value %q has leading or trailing spaces", what, value)
	}
	if hasControl(value) {
		return fmt.Errorf("%s value %q has control characters", what, value)
	}
	return nil
}

func checkLength(text string) error {
	if len(text) > MaxLineLength {
		return fmt.Errorf("config.txt line %q is %d characters long; the firmware reads at most %d", text, len(text), MaxLineLength)
	}
	return nil
}

// newline is the file's end of line: that of its first line, or "\n".
func (c *Config) newline() string {
	for _, l := range c.lines {
		if l.eol != "" {
			return l.eol
		}
	}
	return "\n"
}

// insert puts new lines before line at (len(lines) appends). A file that
// ended without a newline still does.
func (c *Config) insert(at int, texts ...string) {
	if len(texts) == 0 {
		return
	}
	nl := c.newline()
	added := make([]line, len(texts))
	for i, t := range texts {
		added[i] = line{text: t, eol: nl}
	}
	if at == len(c.lines) && at > 0 && c.lines[at-1].eol == "" {
		c.lines[at-1].eol = nl
		added[len(added)-1].eol = ""
	}
	c.lines = append(c.lines[:at], append(added, c.lines[at:]...)...)
}

// remove deletes the lines whose indexes are in del. A file that ended
// without a newline still does.
func (c *Config) remove(del map[int]bool) {
	if len(del) == 0 {
		return
	}
	lastEOL := ""
	if n := len(c.lines); n > 0 {
		lastEOL = c.lines[n-1].eol
	}
	kept := c.lines[:0]
	for i, l := range c.lines {
		if !del[i] {
			kept = append(kept, l)
		}
	}
	c.lines = kept
	if n := len(c.lines); n > 0 && lastEOL == "" {
		c.lines[n-1].eol = ""
	}
}

// indented is text with the indentation of line i.
func (c *Config) indented(i int, text string) (string, error) {
	old := c.lines[i].text
	text = old[:len(old)-len(strings.TrimLeft(old, " \t"))] + text
	return text, checkLength(text)
}

// setText replaces the text of line i, keeping its indentation.
func (c *Config) setText(i int, text string) error {
	text, err := c.indented(i, text)
	if err != nil {
		return err
	}
	c.lines[i].text = text
	return nil
}

// uncomment removes the "#"s (and the spaces after them) from line i.
func (c *Config) uncomment(i int) error {
	old := c.lines[i].text
	indent := old[:len(old)-len(strings.TrimLeft(old, " \t"))]
	text := indent + strings.TrimLeft(strings.TrimLeft(old[len(indent):], "#"), " \t")
	if err := checkLength(text); err != nil {
		return err
	}
	c.lines[i].text = text
	return nil
}

// regions returns the [start, end) line ranges of section, in file order.
// The lines before any header are a region of [all], even when empty; so
// is an empty region right after a header.
func regions(infos []lineInfo, section string) [][2]int {
	var out [][2]int
	start := 0
	var filters []string
	for i := 0; i <= len(infos); i++ {
		if i < len(infos) && infos[i].kind != headerLine {
			continue
		}
		if inSection(filters, section) {
			out = append(out, [2]int{start, i})
		}
		if i < len(infos) {
			filters, start = infos[i].filters, i+1
		}
	}
	return out
}

// appendPoint returns where a new line of section goes: after the last
// non-blank line of its last region. ok is false when the file has no such
// section.
func appendPoint(infos []lineInfo, section string) (at int, ok bool) {
	rs := regions(infos, section)
	if len(rs) == 0 {
		return 0, false
	}
	r := rs[len(rs)-1]
	at = r[0]
	for i := r[0]; i < r[1]; i++ {
		if infos[i].kind != blankLine {
			at = i + 1
		}
	}
	return at, true
}

// addLines adds texts to section: at its append point, or in a new
// section at the end of the file. around, if not nil, is given the
// insertion point and returns lines to put before and after texts (a
// "dtoverlay=" reset), or an error if texts cannot go there.
func (c *Config) addLines(section string, around func(infos []lineInfo, at int) (before, after []string, err error), texts ...string) error {
	for _, t := range texts {
		if err := checkLength(t); err != nil {
			return err
		}
	}
	infos := c.scan()
	at, ok := appendPoint(infos, section)
	if !ok {
		at = len(c.lines)
	}
	var before, after []string
	if around != nil {
		var err error
		if before, after, err = around(infos, at); err != nil {
			return err
		}
	}
	body := append(append(before, texts...), after...)
	if ok {
		c.insert(at, body...)
		return nil
	}
	var add []string
	if n := len(c.lines); n > 0 && infos[n-1].kind != blankLine {
		add = append(add, "")
	}
	if n := len(infos); n > 0 && len(infos[n-1].filters) > 0 {
		// Filters of other types would add up with [section].
		add = append(add, "[all]")
	}
	add = append(add, "["+section+"]")
	add = append(add, body...)
	add = append(add, "[all]")
	c.insert(len(c.lines), add...)
	return nil
}

// Get returns the value of the setting name in section: its last active
// assignment there.
func (c *Config) Get(section, name string) (value string, ok bool) {
	for _, info := range c.scan() {
		if info.kind == assignLine && info.key == name && inSection(info.filters, section) {
			value, ok = info.value, true
		}
	}
	return value, ok
}

// Set makes name=value the setting in section: it edits the last active
// assignment, removing earlier conflicting ones; or uncomments a commented
// assignment of name in the section (preferring one with this value); or
// adds a line. Use SetParam and EnsureOverlay for dtparam and dtoverlay.
func (c *Config) Set(section, name, value string) error {
	if err := c.checkSetting(section, name, value); err != nil {
		return err
	}
	text := name + "=" + value
	infos := c.scan()
	var active []int
	for i, info := range infos {
		if info.kind == assignLine && info.key == name && inSection(info.filters, section) {
			active = append(active, i)
		}
	}
	if n := len(active); n > 0 {
		last := active[n-1]
		if infos[last].value != value {
			if err := c.setText(last, text); err != nil {
				return err
			}
		}
		del := map[int]bool{}
		for _, i := range active[:n-1] {
			if infos[i].value != value {
				del[i] = true
			}
		}
		c.remove(del)
		return nil
	}
	same, other := -1, -1
	for i, info := range infos {
		if info.kind != commentLine || !inSection(info.filters, section) {
			continue
		}
		if k, v, ok := uncommented(c.lines[i].text); ok && k == name {
			other = i
			if v == value {
				same = i
			}
		}
	}
	switch {
	case same >= 0:
		return c.uncomment(same)
	case other >= 0:
		return c.setText(other, text)
	}
	return c.addLines(section, nil, text)
}

// Remove removes every active assignment of name in section.
func (c *Config) Remove(section, name string) error {
	if err := c.checkSetting(section, name, ""); err != nil {
		return err
	}
	del := map[int]bool{}
	for i, info := range c.scan() {
		if info.kind == assignLine && info.key == name && inSection(info.filters, section) {
			del[i] = true
		}
	}
	c.remove(del)
	return nil
}

func (c *Config) checkSetting(section, name, value string) error {
	if err := CheckSection(section); err != nil {
		return err
	}
	return CheckSetting(name, value)
}

// CheckSettingName returns an error unless Set can set name: dtparam and
// dtoverlay have editors of their own (SetParam, EnsureOverlay).
func CheckSettingName(name string) error {
	if err := checkName("config.txt setting", name); err != nil {
		return err
	}
	if isParamKey(name) {
		return fmt.Errorf("config.txt setting %q: set device tree parameters one by one (firmware.config with name \"dtparam\" and value \"param=value\")", name)
	}
	if isOverlayKey(name) {
		return fmt.Errorf("config.txt setting %q: use firmware.overlay for overlays", name)
	}
	return nil
}

// CheckSetting returns an error unless Set can write name=value.
func CheckSetting(name, value string) error {
	if err := CheckSettingName(name); err != nil {
		return err
	}
	if err := checkValue("config.txt setting "+name, value); err != nil {
		return err
	}
	return checkLength(name + "=" + value)
}
