package fat

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// shortName is an 8.3 name as stored: 8 bytes of base and 3 of extension,
// upper case, padded with spaces.
type shortName [11]byte

func (s shortName) String() string { return s.display(0) }

// display is the short name as Linux shows it: "CONFIG.TXT", or
// "config.txt" when the NT lower-case flags (byte 12) say so.
func (s shortName) display(ntCase byte) string {
	base := strings.TrimRight(decodeOEM(s[:8]), " ")
	ext := strings.TrimRight(decodeOEM(s[8:]), " ")
	if s[0] == 0x05 { // a first byte of 0xE5 is stored as 0x05
		base = string(cp437[0xe5-0x80]) + base[1:]
	}
	if ntCase&ntLowerBase != 0 {
		base = strings.ToLower(base)
	}
	if ntCase&ntLowerExt != 0 {
		ext = strings.ToLower(ext)
	}
	if ext == "" {
		return base
	}
	return base + "." + ext
}

// checksum is the VFAT checksum of the short name that long-name entries
// carry, so that a driver can tell they still belong to it.
func (s shortName) checksum() byte {
	var sum byte
	for _, c := range s {
		sum = (sum&1)<<7 + sum>>1 + c
	}
	return sum
}

// The NT case flags in byte 12 of a short entry.
const (
	ntLowerBase = 0x08
	ntLowerExt  = 0x10
)

// shortSpecials are the punctuation characters a short name may hold
// besides A-Z and 0-9.
const shortSpecials = "!#$%&'()-@^_`{}~"

func shortChar(c rune) bool {
	return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c < utf8.RuneSelf && strings.ContainsRune(shortSpecials, c)
}

// checkName refuses names no FAT driver would create.
func checkName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("%w %q", ErrInvalidName, name)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w %q: not UTF-8", ErrInvalidName, name)
	case strings.HasSuffix(name, ".") || strings.HasSuffix(name, " "):
		// Drivers strip these, so the name would not read back as written.
		return fmt.Errorf("%w %q: ends in a dot or space", ErrInvalidName, name)
	case len(utf16.Encode([]rune(name))) > 255:
		return fmt.Errorf("%w %q: longer than 255 UTF-16 units", ErrInvalidName, name)
	}
	for _, c := range name {
		if c < 0x20 || strings.ContainsRune(`"*/:<>?\|`, c) {
			return fmt.Errorf("%w %q: FAT does not allow %q in names", ErrInvalidName, name, c)
		}
	}
	return nil
}

// plainShortName returns the short entry for a name that fits 8.3 exactly,
// in one case per part ("config.txt", "README", "Image.gz" does not fit):
// such a name needs no long-name entries.
func plainShortName(name string) (s shortName, ntCase byte, ok bool) {
	base, ext, dot := strings.Cut(name, ".")
	if base == "" || len(base) > 8 || len(ext) > 3 || (dot && ext == "") || strings.Contains(ext, ".") {
		return s, 0, false
	}
	part := func(p string, dst []byte, lowerFlag byte) bool {
		lower, upper := false, false
		for i, c := range p {
			switch {
			case c >= 'a' && c <= 'z':
				lower = true
				c -= 'a' - 'A'
			case c >= 'A' && c <= 'Z':
				upper = true
			case !shortChar(c):
				return false
			}
			dst[i] = byte(c)
		}
		if lower {
			ntCase |= lowerFlag
		}
		return !(lower && upper)
	}
	copy(s[:], "           ")
	if !part(base, s[:8], ntLowerBase) || !part(ext, s[8:], ntLowerExt) {
		return s, 0, false
	}
	return s, ntCase, true
}

// generateShortName makes the short name for a name that needs long-name
// entries: the basis name as Windows and Linux make it ("Config Backup
// 1.txt" → CONFIGBA.TXT), with a numeric tail ("CONFIG~1.TXT") when the
// basis lost characters or is taken; taken reports names in use.
func generateShortName(name string, taken func(shortName) bool) (shortName, error) {
	u := []rune(name)
	// The extension follows the last dot, unless only dots and spaces
	// precede it (".bashrc" has none).
	extStart := -1
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] == '.' {
			if strings.Trim(string(u[:i]), ". ") != "" {
				extStart = i + 1
			}
			break
		}
	}
	baseRunes, extRunes := u, []rune(nil)
	if extStart >= 0 {
		baseRunes, extRunes = u[:extStart-1], u[extStart:]
	}
	lossy := false
	convert := func(rs []rune, max int) string {
		var b strings.Builder
		for _, c := range rs {
			switch {
			case c == '.' || c == ' ':
				lossy = true
				continue
			case c >= 'a' && c <= 'z':
				c -= 'a' - 'A'
			case !shortChar(c):
				c, lossy = '_', true
			}
			if b.Len() == max {
				lossy = true
				break
			}
			b.WriteRune(c)
		}
		return b.String()
	}
	base, ext := convert(baseRunes, 8), convert(extRunes, 3)
	if base == "" {
		base = "_"
	}
	make83 := func(base string) shortName {
		var s shortName
		copy(s[:], fmt.Sprintf("%-8s%-3s", base, ext))
		return s
	}
	if s := make83(base); !lossy && !taken(s) {
		return s, nil
	}
	for n := 1; n <= 999999; n++ {
		tail := "~" + strconv.Itoa(n)
		b := base
		if len(b) > 8-len(tail) {
			b = b[:8-len(tail)]
		}
		if s := make83(b + tail); !taken(s) {
			return s, nil
		}
	}
	return shortName{}, fmt.Errorf("%w: no free short name for %q", ErrNoSpace, name)
}

// Long-name (VFAT) entries hold 13 UTF-16 units each, at these offsets.
var lfnOffsets = [13]int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}

const (
	attrReadOnly = 0x01
	attrHidden   = 0x02
	attrSystem   = 0x04
	attrVolume   = 0x08
	attrDir      = 0x10
	attrArchive  = 0x20
	attrLongName = 0x0f
	slotSize     = 32
	slotDeleted  = 0xe5
)

// longNameSlots encodes name as long-name entries, in the order they are
// stored (the last part first), each carrying sum, the short name's
// checksum.
func longNameSlots(name string, sum byte) []byte {
	units := utf16.Encode([]rune(name))
	n := (len(units) + 12) / 13
	out := make([]byte, n*slotSize)
	for i := 0; i < n; i++ {
		slot := out[(n-1-i)*slotSize:][:slotSize]
		slot[0] = byte(i + 1)
		if i == n-1 {
			slot[0] |= 0x40
		}
		slot[11] = attrLongName
		slot[13] = sum
		for j, off := range lfnOffsets {
			k := i*13 + j
			var u uint16 = 0xffff // padding after the terminator
			switch {
			case k < len(units):
				u = units[k]
			case k == len(units):
				u = 0
			}
			slot[off], slot[off+1] = byte(u), byte(u>>8)
		}
	}
	return out
}

// longNamePart is the UTF-16 units of one long-name entry, up to its
// terminator.
func longNamePart(slot []byte) []uint16 {
	var units []uint16
	for _, off := range lfnOffsets {
		u := uint16(slot[off]) | uint16(slot[off+1])<<8
		if u == 0 {
			break
		}
		units = append(units, u)
	}
	return units
}

// encodeTime is t as a FAT date, time and hundredths (0-199).
func encodeTime(t time.Time) (date, clock uint16, centis byte) {
	t = t.UTC()
	switch {
	case t.Year() < 1980:
		return 0<<9 | 1<<5 | 1, 0, 0
	case t.Year() > 2107:
		return 127<<9 | 12<<5 | 31, 23<<11 | 59<<5 | 29, 199
	}
	date = uint16(t.Year()-1980)<<9 | uint16(t.Month())<<5 | uint16(t.Day())
	clock = uint16(t.Hour())<<11 | uint16(t.Minute())<<5 | uint16(t.Second()/2)
	centis = byte(t.Second()%2*100 + t.Nanosecond()/10_000_000)
	return date, clock, centis
}

func decodeTime(date, clock uint16) time.Time {
	return time.Date(int(date>>9)+1980, time.Month(date>>5&0x0f), int(date&0x1f),
		int(clock>>11), int(clock>>5&0x3f), int(clock&0x1f)*2, 0, time.UTC)
}

// decodeOEM reads short-name bytes in code page 437, Linux's default.
func decodeOEM(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		if c < 0x80 {
			s.WriteByte(c)
		} else {
			s.WriteRune(cp437[c-0x80])
		}
	}
	return s.String()
}

var cp437 = []rune("ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0")
