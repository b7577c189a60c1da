package ops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

func init() {
	Register("files.put", func() Op { return new(FilePut) })
	Register("files.directory", func() Op { return new(FileDirectory) })
	Register("files.link", func() Op { return new(FileLink) })
	Register("files.absent", func() Op { return new(FileAbsent) })
	Register("files.line", func() Op { return new(FileLine) })
	Register("files.sync", func() Op { return new(FileSync) })
}

// FilePut is a regular file with the given content, mode and owner.
// A recipe's src= is read when the recipe compiles, so Content is all there is.
type FilePut struct {
	Path    string `json:"path"`
	Content Data   `json:"content"`
	Mode    Mode   `json:"mode"`
	Owner   string `json:"owner"`
	Group   string `json:"group"`
}

// FileDirectory is a directory with the given mode and owner.
type FileDirectory struct {
	Path  string `json:"path"`
	Mode  Mode   `json:"mode"`
	Owner string `json:"owner"`
	Group string `json:"group"`
}

// FileLink is a symbolic link.
type FileLink struct {
	Path   string `json:"path"`
	Target string `json:"target"`
}

// FileAbsent is a path that does not exist (a whole tree is removed).
type FileAbsent struct {
	Path string `json:"path"`
}

// FileLine is one line present in (or absent from) a text file. With Match
// (a regular expression), the lines matching it are replaced by Line
// (present) or removed (absent); without, Line is appended when missing.
type FileLine struct {
	Path    string `json:"path"`
	Line    string `json:"line"`
	Match   string `json:"match,omitempty"`
	Present bool   `json:"present"`
}

// FileSync makes Dest a copy of a local directory, read when the recipe
// compiled (so a baked image and its first boot carry the same content).
type FileSync struct {
	Src    string      `json:"src"` // where the files came from, for humans
	Dest   string      `json:"dest"`
	Owner  string      `json:"owner"`
	Group  string      `json:"group"`
	Delete bool        `json:"delete"`
	Files  []SyncEntry `json:"files"`
}

// SyncEntry is one entry of a synced tree, by slash-separated path relative
// to the tree's top. Exactly one of Dir, Link or (a regular file) Content.
type SyncEntry struct {
	Path    string `json:"path"`
	Mode    Mode   `json:"mode"`
	Dir     bool   `json:"dir,omitempty"`
	Link    string `json:"link,omitempty"`
	Content Data   `json:"content,omitempty"`
}

func (o *FilePut) Kind() string          { return "files.put" }
func (o *FilePut) Summary() string       { return o.Path }
func (o *FileDirectory) Kind() string    { return "files.directory" }
func (o *FileDirectory) Summary() string { return o.Path }
func (o *FileLink) Kind() string         { return "files.link" }
func (o *FileLink) Summary() string      { return o.Path + " -> " + o.Target }
func (o *FileAbsent) Kind() string       { return "files.absent" }
func (o *FileAbsent) Summary() string    { return o.Path }
func (o *FileLine) Kind() string         { return "files.line" }
func (o *FileLine) Summary() string      { return o.Path }
func (o *FileSync) Kind() string         { return "files.sync" }
func (o *FileSync) Summary() string      { return o.Src + " -> " + o.Dest }

func (o *FilePut) Validate() error       { return checkPathArg("path", o.Path) }
func (o *FileDirectory) Validate() error { return checkPathArg("path", o.Path) }

func (o *FileLink) Validate() error {
	if o.Target == "" {
		return errors.New("target: must not be empty")
	}
	return checkPathArg("path", o.Path)
}

func (o *FileAbsent) Validate() error {
	if o.Path == "/" {
		return errors.New("path: refusing to remove /")
	}
	return checkPathArg("path", o.Path)
}

func (o *FileLine) Validate() error {
	if err := checkPathArg("path", o.Path); err != nil {
		return err
	}
	if strings.Contains(o.Line, "\n") {
		return fmt.Errorf("line: must be one line, got %q", o.Line)
	}
	if _, err := regexp.Compile(o.Match); err != nil {
		return fmt.Errorf("match: %w", err)
	}
	return nil
}

// Validate checks Dest and Files: compiling a recipe makes them sound, but
// a hand-edited JSON recipe could sync outside Dest.
func (o *FileSync) Validate() error {
	if err := checkPathArg("dest", o.Dest); err != nil {
		return err
	}
	entries := o.sortedEntries()
	dirs := map[string]bool{".": true}
	for i, e := range entries {
		bad := func(why string) error {
			return fmt.Errorf("files: entry %q: %s", e.Path, why)
		}
		switch {
		case e.Path == "" || e.Path == "." || path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path ||
			e.Path == ".." || strings.HasPrefix(e.Path, "../"):
			return bad("want a clean relative path inside the tree")
		case i > 0 && entries[i-1].Path == e.Path:
			return bad("listed twice")
		case e.Dir && (e.Link != "" || len(e.Content) > 0):
			return bad("a directory cannot have a link target or content")
		case e.Link != "" && len(e.Content) > 0:
			return bad("a symbolic link cannot have content")
		case !dirs[path.Dir(e.Path)]:
			return bad("its parent is not a directory of the tree")
		}
		if e.Dir {
			dirs[e.Path] = true
		}
	}
	return nil
}

// Plan implements Op: the file as given, through EnsureFile.
func (o *FilePut) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return env.EnsureFile(FileSpec{Path: o.Path, Content: o.Content, Mode: o.Mode, Owner: o.Owner, Group: o.Group})
}

// Plan implements Op: the directory as given, through EnsureDir.
func (o *FileDirectory) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return env.EnsureDir(o.Path, o.Mode, o.Owner, o.Group)
}

// Plan implements Op: the link as given, through EnsureLink.
func (o *FileLink) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return env.EnsureLink(o.Path, o.Target)
}

// Plan implements Op: a removal when the path exists.
func (o *FileAbsent) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return env.EnsureAbsent(o.Path)
}

// Plan implements Op. A symbolic link at Path is followed: the file it
// points to is edited, and the link stays.
func (o *FileLine) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	var match *regexp.Regexp
	if o.Match != "" {
		var err error
		if match, err = regexp.Compile(o.Match); err != nil {
			return nil, fmt.Errorf("match: %w", err) // Validate says so first
		}
	}
	old, exists, err := readTextFile(env, o.Path)
	if err != nil {
		return nil, err
	}
	if !exists && !o.Present {
		return nil, nil
	}
	content := editLine(old, o.Line, match, o.Present)
	if exists && bytes.Equal(content, old) {
		return nil, nil
	}
	return editFile(env, FileSpec{Path: o.Path, Content: content, Mode: 0o644})
}

// editLine is FileLine's edit of content (see FileLine).
//
// With match and present, a line identical to line counts as matching too,
// so that a line the expression does not match still converges: the first
// such line becomes line and the others go.
func editLine(content []byte, line string, match *regexp.Regexp, present bool) []byte {
	lines := splitLines(content)
	matches := func(l string) bool {
		text := strings.TrimSuffix(l, "\n")
		if match == nil {
			return text == line
		}
		return match.MatchString(text) || (present && text == line)
	}
	var out []string
	found := false
	for _, l := range lines {
		switch {
		case !matches(l):
			out = append(out, l)
		case present && !found:
			found = true
			if match != nil {
				l = line + l[len(strings.TrimSuffix(l, "\n")):]
			}
			if l == "" { // an empty last line without a newline would be no line at all
				l = "\n"
			}
			out = append(out, l)
		case present && match == nil:
			out = append(out, l) // an identical line, present twice: no reason to touch it
		}
	}
	if present && !found {
		if n := len(out); n > 0 && !strings.HasSuffix(out[n-1], "\n") {
			out[n-1] += "\n"
		}
		out = append(out, line+"\n")
	}
	return []byte(strings.Join(out, ""))
}

// splitLines splits content after each newline; the last line has none
// when the file does not end with one.
func splitLines(content []byte) []string {
	var lines []string
	s := string(content)
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			lines = append(lines, s)
			break
		}
		lines = append(lines, s[:i+1])
		s = s[i+1:]
	}
	return lines
}

// resolveLinks follows symbolic links at p (its last element; the target
// resolves those in its directories) to the path of the file they lead
// to, which may not exist.
func resolveLinks(env *Env, p string) (string, error) {
	for hops := 0; ; hops++ {
		fi, err := env.LstatIfExists(p)
		if err != nil {
			return "", err
		}
		if fi == nil || !fi.IsSymlink() {
			return p, nil
		}
		if hops == 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target := fi.Target
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		p = path.Clean(target)
	}
}

// readTextFile reads the regular file p (following symbolic links), or
// returns exists false.
func readTextFile(env *Env, p string) (content []byte, exists bool, err error) {
	fi, err := env.Sys.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if !fi.IsRegular() {
		return nil, false, fmt.Errorf("%s is not a regular file", p)
	}
	content, err = env.Sys.ReadFile(p)
	return content, err == nil, err
}

// editFile plans new content for the file f.Path, keeping the mode and
// owner it has; f's mode and owner apply only when it does not exist. A
// symbolic link is followed: the file it leads to is written, the link
// stays.
func editFile(env *Env, f FileSpec) ([]*Change, error) {
	p, err := resolveLinks(env, f.Path)
	if err != nil {
		return nil, err
	}
	f.Path = p
	fi, err := env.LstatIfExists(f.Path)
	if err != nil {
		return nil, err
	}
	if fi != nil && fi.IsRegular() {
		f.Mode, f.Owner, f.Group = ModeOf(fi.Mode), strconv.Itoa(fi.UID), strconv.Itoa(fi.GID)
	}
	return env.EnsureFile(f)
}

// Plan implements Op. Entries are made in Files order after sorting by
// path, so a directory always comes before what it holds.
func (o *FileSync) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	entries := o.sortedEntries()
	inSource := make(map[string]bool, len(entries))
	for _, e := range entries {
		inSource[e.Path] = true
	}
	uid, gid, err := env.owner(o.Owner, o.Group)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Dest, err)
	}
	t := newTreePlan(env)
	// pruneExtra removes what dir (an existing directory, synced at rel)
	// holds that the source does not.
	pruneExtra := func(dir, rel string) error {
		if !o.Delete || t.planned[dir] != nil {
			return nil
		}
		children, err := env.Sys.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, c := range children {
			if !inSource[path.Join(rel, c.Name)] {
				t.add(&Change{Kind: Remove, Path: path.Join(dir, c.Name)})
			}
		}
		return nil
	}
	if err := t.dir(o.Dest, 0o755, uid, gid, false); err != nil {
		return nil, err
	}
	if err := pruneExtra(o.Dest, ""); err != nil {
		return nil, err
	}
	for _, e := range entries {
		p := path.Join(o.Dest, e.Path)
		switch {
		case e.Dir:
			if err := t.dir(p, e.Mode, uid, gid, true); err != nil {
				return nil, err
			}
			if err := pruneExtra(p, e.Path); err != nil {
				return nil, err
			}
		case e.Link != "":
			err = t.link(p, e.Link, uid, gid, true)
		default:
			err = t.file(FileSpec{Path: p, Content: e.Content, Mode: e.Mode}, uid, gid, true)
		}
		if err != nil {
			return nil, err
		}
	}
	return t.changes, nil
}

// sortedEntries returns Files sorted by path: parents first, since "a" <
// "a/b" and a separator sorts before letters and digits.
func (o *FileSync) sortedEntries() []SyncEntry {
	entries := append([]SyncEntry(nil), o.Files...)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
	return entries
}
