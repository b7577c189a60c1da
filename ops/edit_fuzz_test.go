package ops

import (
	"bytes"
	"regexp"
	"testing"
)

// FuzzEditLine checks that files.line's edit converges: editing what it
// made changes nothing, and a present line is there afterwards.
func FuzzEditLine(f *testing.F) {
	f.Add([]byte("a\nb\n"), "c", "", true)
	f.Add([]byte("c\na\nc"), "c", "", false)
	f.Add([]byte("#PermitRootLogin yes\nX\nPermitRootLogin no"), "PermitRootLogin no", `^#?PermitRootLogin\b`, true)
	f.Add([]byte("old=1\n"), "new=1", "^old=", true)
	f.Fuzz(func(t *testing.T, content []byte, line, match string, present bool) {
		if bytes.ContainsRune([]byte(line), '\n') {
			return
		}
		var re *regexp.Regexp
		if match != "" {
			var err error
			if re, err = regexp.Compile(match); err != nil {
				return
			}
		}
		once := editLine(content, line, re, present)
		if twice := editLine(once, line, re, present); !bytes.Equal(once, twice) {
			t.Errorf("editLine(%q) = %q, then %q", content, once, twice)
		}
		if present && !bytes.Contains(append([]byte("\n"), once...), []byte("\n"+line+"\n")) &&
			!bytes.HasSuffix(append([]byte("\n"), once...), []byte("\n"+line)) {
			t.Errorf("editLine(%q, %q) = %q, without the line", content, line, once)
		}
	})
}

// FuzzLocaleArchiveNames checks that a damaged archive gives an error or
// names, never a panic.
func FuzzLocaleArchiveNames(f *testing.F) {
	header := make([]byte, 80)
	copy(header, []byte{0x09, 0x01, 0x02, 0xde, 0, 0, 0, 0, 56, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0})
	f.Add(header)
	f.Fuzz(func(t *testing.T, b []byte) {
		localeArchiveNames(b)
	})
}
