package fat

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func short(s string) shortName {
	var n shortName
	copy(n[:], s)
	return n
}

func TestChecksum(t *testing.T) {
	// mcopy wrote "Config Backup 1.txt" as CONFIG~1.TXT with checksum 0x01.
	if got := short("CONFIG~1TXT").checksum(); got != 0x01 {
		t.Errorf("checksum(CONFIG~1TXT) = %#02x, want 0x01", got)
	}
}

func TestPlainShortName(t *testing.T) {
	tests := []struct {
		name   string
		short  string
		ntCase byte
		ok     bool
	}{
		{"config.txt", "CONFIG  TXT", ntLowerBase | ntLowerExt, true},
		{"README", "README     ", 0, true},
		{"Image.gz", "", 0, false}, // mixed case in one part
		{"IMAGE.gz", "IMAGE   GZ ", ntLowerExt, true},
		{"bcm2712-rpi-5-b.dtb", "", 0, false},
		{"fixup4.dat", "FIXUP4  DAT", ntLowerBase | ntLowerExt, true},
		{"a.tar.gz", "", 0, false},
		{".hidden", "", 0, false},
		{"a b", "", 0, false},
		{"12345678.123", "12345678123", 0, true},
		{"123456789", "", 0, false},
		{"a+b.txt", "", 0, false},
		{"café", "", 0, false},
	}
	for _, tt := range tests {
		s, nt, ok := plainShortName(tt.name)
		if ok != tt.ok || (ok && (s != short(tt.short) || nt != tt.ntCase)) {
			t.Errorf("plainShortName(%q) = %q %#x %v, want %q %#x %v", tt.name, s[:], nt, ok, tt.short, tt.ntCase, tt.ok)
		}
	}
}

func TestGenerateShortName(t *testing.T) {
	taken := map[shortName]bool{}
	tests := []struct{ name, want string }{
		{"Config Backup 1.txt", "CONFIG~1TXT"},
		{"Config Backup 2.txt", "CONFIG~2TXT"},
		{"Mixed.Txt", "MIXED   TXT"}, // nothing lost: no tail
		{"mixed.TXT", "MIXED~1 TXT"}, // the basis is taken now
		{"foo.json", "FOO~1   JSO"},
		{"foo.jsonx", "FOO~2   JSO"},
		{".bashrc", "BASHRC~1   "},
		{"a.tar.gz", "ATAR~1  GZ "},
		{"café.txt", "CAF_~1  TXT"},
		{"日本語.txt", "___~1   TXT"},
		{"x y z", "XYZ~1      "},
		{"...", "_~1        "},
	}
	for _, tt := range tests {
		got, err := generateShortName(tt.name, func(s shortName) bool { return taken[s] })
		if err != nil || got != short(tt.want) {
			t.Errorf("generateShortName(%q) = %q, %v; want %q", tt.name, got[:], err, tt.want)
		}
		taken[got] = true
	}
	// Past ~9 the base shrinks to make room for the tail.
	for range 12 {
		got, _ := generateShortName("Long File Name.txt", func(s shortName) bool { return taken[s] })
		taken[got] = true
	}
	if !taken[short("LONGFI~9TXT")] || !taken[short("LONGF~10TXT")] || !taken[short("LONGF~12TXT")] {
		t.Errorf("tails past 9 not as expected: %v", taken)
	}
}

func TestCheckName(t *testing.T) {
	for _, name := range []string{"config.txt", "Config Backup 1.txt", ".hidden", "日本語", " leading space", strings.Repeat("x", 255)} {
		if err := checkName(name); err != nil {
			t.Errorf("checkName(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range []string{"", ".", "..", "a/b", `a\b`, "a:b", "a*", "a?", `a"`, "a<", "a>", "a|", "tab\there", "dot.", "space ", strings.Repeat("x", 256), "\xff"} {
		if err := checkName(name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("checkName(%q) = %v, want ErrInvalidName", name, err)
		}
	}
}

func TestLongNameRoundTrip(t *testing.T) {
	for _, name := range []string{"a", "exactly13char", "fourteen chars", "Config Backup 1.txt", "日本語のファイル名.txt", "emoji 🍓 pair", strings.Repeat("y", 255)} {
		s := short("NAME~1  TXT")
		slots := longNameSlots(name, s.checksum())
		d := &dir{data: append(slots, append(append([]byte{}, s[:]...), make([]byte, 21+64)...)...)}
		d.parse()
		if len(d.entries) != 1 || d.entries[0].long != name || d.entries[0].first != 0 {
			t.Errorf("%q: parsed %+v", name, d.entries)
		}
		// A checksum that does not match leaves the short name alone.
		d.data[13] ^= 0xff
		d.parse()
		if len(d.entries) != 1 || d.entries[0].long != "" {
			t.Errorf("%q with a bad checksum: parsed long name %q", name, d.entries[0].long)
		}
	}
}

func TestDisplay(t *testing.T) {
	tests := []struct {
		short  string
		ntCase byte
		want   string
	}{
		{"CONFIG  TXT", 0, "CONFIG.TXT"},
		{"CONFIG  TXT", ntLowerBase | ntLowerExt, "config.txt"},
		{"README     ", ntLowerBase, "readme"},
		{"IMAGE   GZ ", ntLowerExt, "IMAGE.gz"},
		{"\x05BC     TXT", 0, "σBC.TXT"},
		{"\x82T      TXT", 0, "éT.TXT"},
	}
	for _, tt := range tests {
		if got := short(tt.short).display(tt.ntCase); got != tt.want {
			t.Errorf("display(%q, %#x) = %q, want %q", tt.short, tt.ntCase, got, tt.want)
		}
	}
}

func TestTime(t *testing.T) {
	in := time.Date(2026, 5, 4, 12, 30, 43, 250_000_000, time.UTC)
	date, clock, centis := encodeTime(in)
	if got := decodeTime(date, clock); !got.Equal(time.Date(2026, 5, 4, 12, 30, 42, 0, time.UTC)) {
		t.Errorf("decodeTime(encodeTime(%v)) = %v", in, got)
	}
	if centis != 125 {
		t.Errorf("hundredths = %d, want 125", centis)
	}
	if d, _, _ := encodeTime(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)); decodeTime(d, 0).Year() != 1980 {
		t.Errorf("a time before 1980 is not clamped to 1980")
	}
}
