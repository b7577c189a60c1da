package reconcile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"unicode/utf8"

	"github.com/aymanbagabas/go-udiff"

	"github.com/pibake/pibake/ops"
)

const (
	// maxDiffInput bounds the content diffed: beyond it the diff costs more
	// than it tells.
	maxDiffInput = 1 << 20
	// maxDiffLines bounds a diff as shown.
	maxDiffLines = 300
	// maxNewFileLines bounds the diff of a file made from nothing (its
	// header and first lines).
	maxNewFileLines = 15
	diffContext     = 3
)

// describe says in words what the file change c does to sys as it is now,
// and gives a unified diff for new content. It reads sys but never fails:
// what it cannot read, it says.
func describe(sys ops.System, c *ops.Change) (description, diff string) {
	description, diff = describeChange(sys, c)
	if c.Note != "" {
		description += " (" + c.Note + ")"
	}
	return description, diff
}

func describeChange(sys ops.System, c *ops.Change) (description, diff string) {
	cur, err := sys.Lstat(c.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return c.String() + " (current state unreadable: " + err.Error() + ")", ""
	}
	switch c.Kind {
	case ops.Write:
		return describeWrite(sys, c, cur)
	case ops.Attrs:
		if cur != nil && cur.IsSymlink() {
			cur, _ = sys.Stat(c.Path)
		}
		if cur == nil {
			return c.String(), ""
		}
		if attrs := attrChanges(cur, c); attrs != "" {
			return "set " + c.Path + ": " + attrs, ""
		}
		return fmt.Sprintf("set %s: mode %s, owner %d:%d (no difference)", c.Path, c.Mode, c.UID, c.GID), ""
	case ops.Mkdir:
		return fmt.Sprintf("create directory %s (%s %d:%d)", c.Path, c.Mode, c.UID, c.GID), ""
	case ops.Symlink:
		switch {
		case cur == nil:
			return fmt.Sprintf("link %s → %s", c.Path, c.Target), ""
		case cur.IsSymlink():
			return fmt.Sprintf("relink %s → %s (was → %s)", c.Path, c.Target, cur.Target), ""
		}
		return fmt.Sprintf("replace %s %s with a link → %s", kindOf(cur), c.Path, c.Target), ""
	case ops.Remove:
		switch {
		case cur == nil:
			return "remove " + c.Path + " (already absent)", ""
		case cur.IsDir():
			return "remove directory tree " + c.Path, ""
		}
		return "remove " + kindOf(cur) + " " + c.Path, ""
	}
	return c.String(), ""
}

func describeWrite(sys ops.System, c *ops.Change, cur *ops.FileInfo) (description, diff string) {
	created := fmt.Sprintf("(%s %d:%d, %d bytes)", c.Mode, c.UID, c.GID, len(c.Content))
	switch {
	case cur == nil:
		return "create " + c.Path + " " + created, contentDiff(c.Path, nil, c.Content, c.Sensitive)
	case !cur.IsRegular():
		return fmt.Sprintf("replace %s %s with a file %s", kindOf(cur), c.Path, created),
			contentDiff(c.Path, nil, c.Content, c.Sensitive)
	}
	old, err := sys.ReadFile(c.Path)
	if err != nil {
		return "update " + c.Path + " " + created + " (current content unreadable: " + err.Error() + ")", ""
	}
	attrs := attrChanges(cur, c)
	if bytes.Equal(old, c.Content) {
		if attrs == "" {
			return "rewrite " + c.Path + " (no difference)", ""
		}
		return "update " + c.Path + ": " + attrs + " (content unchanged)", ""
	}
	if attrs != "" {
		attrs = " (" + attrs + ")"
	}
	return "update " + c.Path + attrs, contentDiff(c.Path, old, c.Content, c.Sensitive)
}

// attrChanges says how c's mode and owner differ from cur's, or "".
func attrChanges(cur *ops.FileInfo, c *ops.Change) string {
	var parts []string
	if m := ops.ModeOf(cur.Mode); m != c.Mode {
		parts = append(parts, fmt.Sprintf("mode %s → %s", m, c.Mode))
	}
	if cur.UID != c.UID || cur.GID != c.GID {
		parts = append(parts, fmt.Sprintf("owner %d:%d → %d:%d", cur.UID, cur.GID, c.UID, c.GID))
	}
	return strings.Join(parts, ", ")
}

func kindOf(fi *ops.FileInfo) string {
	switch {
	case fi.IsDir():
		return "directory"
	case fi.IsSymlink():
		return "link"
	case fi.IsRegular():
		return "file"
	}
	return "special file"
}

// contentDiff is a unified diff from old to new (labels a/PATH and
// b/PATH), or a line saying why none is shown.
func contentDiff(p string, old, new []byte, sensitive bool) string {
	switch {
	case bytes.Equal(old, new):
		return ""
	case sensitive:
		return "(sensitive content not shown)"
	case binary(old) || binary(new):
		return fmt.Sprintf("binary content changed (%d → %d bytes)", len(old), len(new))
	case len(old)+len(new) > maxDiffInput:
		return fmt.Sprintf("content changed (%d → %d bytes; too large to show)", len(old), len(new))
	}
	edits := udiff.Lines(string(old), string(new))
	d, err := udiff.ToUnified("a"+p, "b"+p, string(old), edits, diffContext)
	if err != nil {
		return fmt.Sprintf("content changed (%d → %d bytes; no diff: %v)", len(old), len(new), err)
	}
	lines := strings.SplitAfter(d, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	limit := maxDiffLines
	if len(old) == 0 {
		// A new file's diff is its whole content: show its head only.
		limit = maxNewFileLines
	}
	if len(lines) > limit {
		more := len(lines) - limit
		d = strings.Join(lines[:limit], "") + fmt.Sprintf("... (%d more diff lines not shown)\n", more)
	}
	return d
}

// binary reports whether b is not text: it has NUL bytes or is not UTF-8.
func binary(b []byte) bool {
	return bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b)
}
