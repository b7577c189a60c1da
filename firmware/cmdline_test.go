package firmware

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func piOSCmdline(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "rootfs", "boot", "firmware", "cmdline.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseCmdline(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"\n", nil},
		{"a b  c\n", []string{"a", "b", "c"}},
		{"  a\tb \r\n", []string{"a", "b"}},
		{"a\nb c\n", []string{"a"}},
		{`a x="1 2" b`, []string{"a", `x="1 2"`, "b"}},
		{`a "unterminated b`, []string{"a", `"unterminated b`}},
	} {
		c := ParseCmdline([]byte(tt.in))
		if got := c.Tokens(); !slices.Equal(got, tt.want) {
			t.Errorf("ParseCmdline(%q).Tokens() = %q, want %q", tt.in, got, tt.want)
		}
		if got := string(c.Bytes()); got != tt.in {
			t.Errorf("ParseCmdline(%q).Bytes() = %q", tt.in, got)
		}
	}
}

func TestCmdlineEdits(t *testing.T) {
	pi := piOSCmdline(t)
	line := strings.TrimSuffix(pi, "\n")
	for _, tt := range []struct {
		name    string
		in      string
		edit    func(c *Cmdline) error
		want    string
		wantErr string
	}{
		{"add", pi, add("cfg80211.ieee80211_regdom=GB"), line + " cfg80211.ieee80211_regdom=GB\n", ""},
		{"exact token present", pi, add("rootwait"), pi, ""},
		{"key=value replaces in place", pi, add("root=/dev/sda2"), strings.Replace(pi, "root=PARTUUID=8a438930-02", "root=/dev/sda2", 1), ""},
		{"repeatable key added", pi, add("console=ttyAMA1,9600"), line + " console=ttyAMA1,9600\n", ""},
		{"duplicates of a key collapse", "a=1 b a=2\n", add("a=3"), "b a=3\n", ""},
		{"no trailing newline kept", "a b", add("c"), "a b c", ""},
		{"CRLF kept", "a b\r\n", add("c"), "a b c\r\n", ""},
		{"empty file", "", add("quiet"), "quiet", ""},
		{"add first", "console=tty1 root=x\n", func(c *Cmdline) error { return c.AddFirst("console=serial0,115200") },
			"console=serial0,115200 console=tty1 root=x\n", ""},
		{"add first keeps leading space", "  a\n", func(c *Cmdline) error { return c.AddFirst("b") }, "  b a\n", ""},
		{"remove", pi, remove("quiet"), strings.Replace(pi, " quiet", "", 1), ""},
		{"remove the first", "  a b\n", remove("a"), "  b\n", ""},
		{"remove the only", "a\n", remove("a"), "\n", ""},
		{"remove key", pi, func(c *Cmdline) error { c.RemoveKey("console"); return nil },
			strings.Replace(pi, "console=serial0,115200 console=tty1 ", "", 1), ""},
		{"serial console off", pi, func(c *Cmdline) error { return SetSerialConsole(c, false) },
			strings.Replace(pi, "console=serial0,115200 ", "", 1), ""},
		{"serial console on", "console=tty1 root=x\n", func(c *Cmdline) error { return SetSerialConsole(c, true) },
			"console=serial0,115200 console=tty1 root=x\n", ""},
		{"serial console on, in state", pi, func(c *Cmdline) error { return SetSerialConsole(c, true) }, pi, ""},
		{"serial console speed changed", "console=ttyAMA0,9600 console=tty1\n", func(c *Cmdline) error { return SetSerialConsole(c, true) },
			"console=serial0,115200 console=tty1\n", ""},
		{"bad token", pi, add("a b"), "", "no spaces"},
		{"empty token", pi, add(""), "", "empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := ParseCmdline([]byte(tt.in))
			err := tt.edit(c)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(c.Bytes()); got != tt.want {
				t.Errorf("edit of %q = %q, want %q", tt.in, got, tt.want)
			}
			again := ParseCmdline(c.Bytes())
			if err := tt.edit(again); err != nil {
				t.Fatal(err)
			}
			if got := string(again.Bytes()); got != tt.want {
				t.Errorf("second edit = %q, want %q (not idempotent)", got, tt.want)
			}
		})
	}
}

func add(tok string) func(*Cmdline) error {
	return func(c *Cmdline) error { return c.Add(tok) }
}

func remove(tok string) func(*Cmdline) error {
	return func(c *Cmdline) error { c.Remove(tok); return nil }
}
