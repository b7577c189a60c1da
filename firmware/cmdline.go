package firmware

import (
	"fmt"
	"strings"
)

// Cmdline is a parsed cmdline.txt: one line of kernel parameters separated
// by spaces. Its zero value is an empty file.
type Cmdline struct {
	tokens []string
	seps   []string // seps[i] precedes tokens[i]; len(seps) == len(tokens)
	tail   string   // spaces after the last token, the end of line and anything after it
}

// ParseCmdline parses cmdline.txt content. It never fails: Bytes returns b
// unchanged until an edit is made. A double-quoted part of a token may hold
// spaces, as the kernel allows (param="a b").
func ParseCmdline(b []byte) *Cmdline {
	s := string(b)
	first, rest := s, ""
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		first, rest = s[:i], s[i:]
	}
	c := &Cmdline{}
	i := 0
	for {
		j := i
		for j < len(first) && isSpace(first[j]) {
			j++
		}
		if j == len(first) {
			c.tail = first[i:] + rest
			return c
		}
		k, quoted := j, false
		for k < len(first) && (quoted || !isSpace(first[k])) {
			if first[k] == '"' {
				quoted = !quoted
			}
			k++
		}
		c.seps = append(c.seps, first[i:j])
		c.tokens = append(c.tokens, first[j:k])
		i = k
	}
}

// isSpace is the kernel's isspace, less the newline that ends the line.
func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\v' || b == '\f' }

// Bytes returns the content of the file.
func (c *Cmdline) Bytes() []byte {
	var sb strings.Builder
	for i, t := range c.tokens {
		sb.WriteString(c.seps[i])
		sb.WriteString(t)
	}
	sb.WriteString(c.tail)
	return []byte(sb.String())
}

// Tokens returns the parameters, in order.
func (c *Cmdline) Tokens() []string { return append([]string(nil), c.tokens...) }

// TokenKey is the part of a token before "=" (the whole of a bare token).
func TokenKey(token string) string {
	k, _, _ := strings.Cut(token, "=")
	return k
}

// repeatable keys may be given more than once, each meaning something
// (several consoles, a mode per video connector).
var repeatable = map[string]bool{
	"console": true, "video": true, "systemd.setenv": true, "systemd.mask": true,
	"systemd.wants": true, "hugepagesz": true, "hugepages": true,
}

// CheckToken returns an error unless token can be a kernel parameter.
func CheckToken(token string) error {
	if token == "" || TokenKey(token) == "" {
		return fmt.Errorf("kernel parameter %q is empty", token)
	}
	if strings.ContainsAny(token, " \t") || hasControl(token) {
		return fmt.Errorf("kernel parameter %q: no spaces or control characters allowed", token)
	}
	if strings.Count(token, `"`)%2 != 0 {
		return fmt.Errorf("kernel parameter %q has an unbalanced quote", token)
	}
	return nil
}

// Has reports whether the exact token is present.
func (c *Cmdline) Has(token string) bool {
	for _, t := range c.tokens {
		if t == token {
			return true
		}
	}
	return false
}

// Get returns the values of the tokens with key ("" for a bare token).
func (c *Cmdline) Get(key string) []string {
	var out []string
	for _, t := range c.tokens {
		if TokenKey(t) == key {
			_, v, _ := strings.Cut(t, "=")
			out = append(out, v)
		}
	}
	return out
}

// Add adds token at the end. A present exact token is left alone; a
// key=value token replaces the tokens with its key in place (the last
// one; earlier ones are removed), except for keys that may repeat, such
// as console=.
func (c *Cmdline) Add(token string) error { return c.add(token, false) }

// AddFirst is Add, but a new token goes first. Since the kernel's
// /dev/console is the last console= given, a serial console added first
// leaves the screen the main console, as Raspberry Pi OS has it.
func (c *Cmdline) AddFirst(token string) error { return c.add(token, true) }

func (c *Cmdline) add(token string, first bool) error {
	if err := CheckToken(token); err != nil {
		return err
	}
	if c.Has(token) && (repeatable[TokenKey(token)] || len(c.Get(TokenKey(token))) == 1) {
		return nil
	}
	if key := TokenKey(token); !repeatable[key] {
		last := -1
		for i, t := range c.tokens {
			if TokenKey(t) == key {
				last = i
			}
		}
		if last >= 0 {
			c.tokens[last] = token
			c.RemoveFunc(func(i int, t string) bool { return i < last && TokenKey(t) == key })
			return nil
		}
	}
	if first {
		sep := " "
		if len(c.tokens) == 0 {
			sep = ""
		}
		c.tokens = append([]string{token}, c.tokens...)
		lead := ""
		if len(c.seps) > 0 {
			lead = c.seps[0]
			c.seps[0] = sep
		}
		c.seps = append([]string{lead}, c.seps...)
		return nil
	}
	sep := " "
	if n := len(c.tokens); n == 0 {
		sep = ""
	} else if last := c.tokens[n-1]; strings.Count(last, `"`)%2 != 0 {
		return fmt.Errorf("cmdline.txt: cannot add %q after %q, whose quote is not closed", token, last)
	}
	c.tokens = append(c.tokens, token)
	c.seps = append(c.seps, sep)
	return nil
}

// Remove removes every occurrence of the exact token.
func (c *Cmdline) Remove(token string) {
	c.RemoveFunc(func(_ int, t string) bool { return t == token })
}

// RemoveKey removes every token with key: "key=..." or a bare "key".
func (c *Cmdline) RemoveKey(key string) {
	c.RemoveFunc(func(_ int, t string) bool { return TokenKey(t) == key })
}

// RemoveFunc removes the tokens for which drop returns true; it is given
// each token's index and text. The spacing before a removed token goes
// with it (after it, for the first token).
func (c *Cmdline) RemoveFunc(drop func(i int, token string) bool) {
	var toks, seps []string
	for i, t := range c.tokens {
		if drop(i, t) {
			continue
		}
		toks = append(toks, t)
		if len(toks) == 1 && i > 0 {
			// The first kept token keeps the file's leading spacing.
			seps = append(seps, c.seps[0])
		} else {
			seps = append(seps, c.seps[i])
		}
	}
	c.tokens, c.seps = toks, seps
}
