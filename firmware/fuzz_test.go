package firmware

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// The seed corpus is in testdata/fuzz; run with
//	go test ./firmware -run '^$' -fuzz FuzzConfigEdit

var configSeeds = []string{
	"",
	"a=1",
	"a=1\r\nb=2\r\n",
	"#dtparam=i2c_arm=on\ndtparam=audio=on\ndtoverlay=vc4-kms-v3d\n[cm4]\notg_mode=1\n[cm5]\ndtoverlay=dwc2,dr_mode=host\n[all]\n",
	"[pi4]\n[tryboot]\nx=1\n[all]\n[gpio4=1]\ndtparam=spi\n",
	"dtoverlay=foo\ndtparam=x=1\n[pi4]\ndtparam=y=2\n",
	"  gpu_mem = 64  \n#gpu_mem=128\n[none]\ngpu_mem=1",
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range configSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got := ParseConfig(data).Bytes(); !bytes.Equal(got, data) {
			t.Fatalf("ParseConfig(%q).Bytes() = %q", data, got)
		}
	})
}

// tagged is a line with the section it is in.
type tagged struct{ text, section string }

// others returns the lines not in section, with their filters. Headers
// are in no section, so they are always among them.
func others(c *Config, section string) []tagged {
	var out []tagged
	for i, info := range c.scan() {
		if info.kind != headerLine && inSection(info.filters, section) {
			continue
		}
		out = append(out, tagged{c.lines[i].text, strings.Join(info.filters, "][")})
	}
	return out
}

func FuzzConfigEdit(f *testing.F) {
	for i, s := range configSeeds {
		f.Add([]byte(s), uint8(i), "all", "i2c_arm", "on")
		f.Add([]byte(s), uint8(i+1), "pi4", "gpu_mem", "128")
		f.Add([]byte(s), uint8(i+4), "all", "w1-gpio", "gpiopin=17")
	}
	f.Fuzz(func(t *testing.T, data []byte, op uint8, section, name, value string) {
		c := ParseConfig(data)
		var edit func(c *Config) error
		var check func(c *Config) bool
		switch op % 6 {
		case 0:
			edit = func(c *Config) error { return c.Set(section, name, value) }
			check = func(c *Config) bool { v, ok := c.Get(section, name); return ok && v == value }
		case 1:
			edit = func(c *Config) error { return c.Remove(section, name) }
			check = func(c *Config) bool { _, ok := c.Get(section, name); return !ok }
		case 2:
			edit = func(c *Config) error { return c.SetParam(section, name, value) }
			check = func(c *Config) bool { v, ok := c.Param(section, name); return ok && sameValue(v, value) }
		case 3:
			edit = func(c *Config) error { return c.RemoveParam(section, name) }
			check = func(c *Config) bool { _, ok := c.Param(section, name); return !ok }
		case 4:
			o := Overlay{Name: name}
			if value != "" {
				o.Params = strings.Split(value, ",")
			}
			key := OverlayKey(name)
			if op&8 != 0 {
				key = nil
			}
			edit = func(c *Config) error { return c.EnsureOverlay(section, o, key) }
			check = func(c *Config) bool { return c.HasOverlay(section, o, key) }
		case 5:
			edit = func(c *Config) error { return c.RemoveOverlays(section, name) }
			check = func(c *Config) bool {
				return !slices.ContainsFunc(c.Overlays(section), func(o Overlay) bool { return o.Name == name })
			}
		}
		before := others(c, section)
		if err := edit(c); err != nil {
			if got := c.Bytes(); !bytes.Equal(got, data) {
				t.Fatalf("failed edit (%v) changed the file: %q -> %q", err, data, got)
			}
			return
		}
		out := c.Bytes()
		if !check(c) {
			t.Fatalf("edit %d (%q %q %q) of %q = %q: not in state", op%6, section, name, value, data, out)
		}
		// Lines of other sections are kept, in order; the only lines added
		// outside the section are headers and blank lines.
		after := others(c, section)
		j := 0
		for _, l := range after {
			if j < len(before) && l == before[j] {
				j++
				continue
			}
			if t := strings.TrimSpace(l.text); t != "" && t != "[all]" && t != "["+section+"]" {
				j = -1
				break
			}
		}
		if j != len(before) {
			t.Fatalf("edit %d (%q %q %q) of %q = %q: lines of other sections changed", op%6, section, name, value, data, out)
		}
		// Editing again changes nothing.
		again := ParseConfig(out)
		if err := edit(again); err != nil {
			t.Fatalf("second edit of %q: %v", out, err)
		}
		if got := again.Bytes(); !bytes.Equal(got, out) {
			t.Fatalf("edit of %q = %q, again = %q: not idempotent", data, out, got)
		}
	})
}

var cmdlineSeeds = []string{
	"",
	"console=serial0,115200 console=tty1 root=PARTUUID=8a438930-02 rootfstype=ext4 fsck.repair=yes rootwait quiet\n",
	"  a\tb=1  b=2 \r\nsecond line\n",
	`x="a b" "y`,
}

func FuzzParseCmdline(f *testing.F) {
	for _, s := range cmdlineSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got := ParseCmdline(data).Bytes(); !bytes.Equal(got, data) {
			t.Fatalf("ParseCmdline(%q).Bytes() = %q", data, got)
		}
	})
}

func FuzzCmdlineEdit(f *testing.F) {
	for i, s := range cmdlineSeeds {
		f.Add([]byte(s), uint8(i), "quiet")
		f.Add([]byte(s), uint8(i+1), "console=ttyS0,9600")
		f.Add([]byte(s), uint8(i+2), "root=/dev/sda2")
	}
	f.Fuzz(func(t *testing.T, data []byte, op uint8, token string) {
		c := ParseCmdline(data)
		var edit func(c *Cmdline) error
		switch op % 4 {
		case 0:
			edit = func(c *Cmdline) error { return c.Add(token) }
		case 1:
			edit = func(c *Cmdline) error { return c.AddFirst(token) }
		case 2:
			edit = func(c *Cmdline) error { c.Remove(token); return nil }
		case 3:
			edit = func(c *Cmdline) error { c.RemoveKey(TokenKey(token)); return nil }
		}
		key := TokenKey(token)
		var before []string
		for _, t := range c.Tokens() {
			if TokenKey(t) != key {
				before = append(before, t)
			}
		}
		if err := edit(c); err != nil {
			if got := c.Bytes(); !bytes.Equal(got, data) {
				t.Fatalf("failed edit changed the line: %q -> %q", data, got)
			}
			return
		}
		out := c.Bytes()
		var after []string
		for _, t := range c.Tokens() {
			if TokenKey(t) != key {
				after = append(after, t)
			}
		}
		if !slices.Equal(before, after) {
			t.Fatalf("edit %d %q of %q = %q: other tokens changed", op%4, token, data, out)
		}
		if op%4 < 2 && !c.Has(token) || op%4 >= 2 && c.Has(token) {
			t.Fatalf("edit %d %q of %q = %q: not in state", op%4, token, data, out)
		}
		reparsed := ParseCmdline(out)
		if !slices.Equal(reparsed.Tokens(), c.Tokens()) {
			t.Fatalf("edit %d %q of %q = %q, which parses as %q, not %q", op%4, token, data, out, reparsed.Tokens(), c.Tokens())
		}
		if err := edit(reparsed); err != nil {
			t.Fatal(err)
		}
		if got := reparsed.Bytes(); !bytes.Equal(got, out) {
			t.Fatalf("edit of %q = %q, again = %q: not idempotent", data, out, got)
		}
	})
}
