package ops

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"path"
	"strings"
)

// This file reads the facts git.repo needs straight from a repository's
// files, so that it answers on an image as on a live Pi: the origin URL
// (.git/config), HEAD, refs (loose files, then packed-refs) and the commit
// an annotated tag points to (packed-refs' peeled lines, or the tag object
// when it is a loose object).
//
// Limits: .git must be a directory (not a "gitdir:" file of a worktree or
// submodule); objects inside pack files are not read, so a tag whose ref
// is loose but whose tag object is packed, and not peeled in packed-refs,
// is unknown here (git.repo then asks git on a live target, or plans).

// A gitRepoFacts is what git.repo learns of a repository.
type gitRepoFacts struct {
	dir     string // DEST/.git
	origin  string // remote.origin.url, "" if none
	headRef string // "refs/heads/main", or "" when HEAD is detached
	head    string // HEAD's commit, "" for an unborn branch
	packed  map[string]string
	peeled  map[string]string // ref name -> peeled commit, from packed-refs
}

func gitHexID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}

// readGitRepo reads the repository at dir (DEST/.git).
func readGitRepo(env *Env, dir string) (*gitRepoFacts, error) {
	g := &gitRepoFacts{dir: dir, packed: map[string]string{}, peeled: map[string]string{}}
	if b, ok, err := env.ReadFileIfExists(path.Join(dir, "packed-refs")); err != nil {
		return nil, err
	} else if ok {
		g.parsePackedRefs(b)
	}
	config, ok, err := env.ReadFileIfExists(path.Join(dir, "config"))
	if err != nil {
		return nil, err
	}
	if ok {
		g.origin = gitConfigValue(config, `remote "origin"`, "url")
	}
	head, ok, err := env.ReadFileIfExists(path.Join(dir, "HEAD"))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s has no HEAD: not a git repository", dir)
	}
	h := strings.TrimSpace(string(head))
	if ref, isRef := strings.CutPrefix(h, "ref: "); isRef {
		g.headRef = strings.TrimSpace(ref)
		if g.head, _, err = g.resolve(env, g.headRef); err != nil {
			return nil, err
		}
	} else if gitHexID(h) {
		g.head = h
	} else {
		return nil, fmt.Errorf("%s/HEAD: unexpected content %q", dir, h)
	}
	return g, nil
}

func (g *gitRepoFacts) parsePackedRefs(b []byte) {
	last := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '^':
			if last != "" {
				g.peeled[last] = line[1:]
			}
		default:
			id, name, ok := strings.Cut(line, " ")
			if ok && gitHexID(id) {
				g.packed[name] = id
				last = name
			}
		}
	}
}

// resolve returns the object a ref names, following symbolic refs, and
// whether the ref exists; a loose ref wins over a packed one, as in git.
func (g *gitRepoFacts) resolve(env *Env, ref string) (id string, ok bool, err error) {
	for hops := 0; hops < 5; hops++ {
		if strings.Contains(ref, "..") || !strings.HasPrefix(ref, "refs/") {
			return "", false, nil
		}
		b, found, err := env.ReadFileIfExists(path.Join(g.dir, ref))
		if err != nil {
			return "", false, err
		}
		if !found {
			id, ok := g.packed[ref]
			return id, ok, nil
		}
		s := strings.TrimSpace(string(b))
		if next, sym := strings.CutPrefix(s, "ref: "); sym {
			ref = strings.TrimSpace(next)
			continue
		}
		if !gitHexID(s) {
			return "", false, fmt.Errorf("%s/%s: unexpected content %q", g.dir, ref, s)
		}
		return s, true, nil
	}
	return "", false, fmt.Errorf("%s: symbolic ref %s loops", g.dir, ref)
}

// peel returns the commit a ref finally names (through annotated tags),
// known false when a tag object is in a pack file.
func (g *gitRepoFacts) peel(env *Env, ref string) (commit string, known bool, err error) {
	id, ok, err := g.resolve(env, ref)
	if err != nil || !ok {
		return "", ok, err
	}
	if p, ok := g.peeled[ref]; ok && g.packed[ref] == id {
		return p, true, nil
	}
	for hops := 0; hops < 10; hops++ {
		kind, body, found, err := g.looseObject(env, id)
		if err != nil {
			return "", false, err
		}
		if !found {
			// Packed: a branch names a commit (it cannot be unknown), but a
			// tag ref may name a tag object.
			if strings.HasPrefix(ref, "refs/tags/") {
				return "", false, nil
			}
			return id, true, nil
		}
		if kind != "tag" {
			return id, true, nil
		}
		// "object <id>\ntype commit\n..."
		first, _, _ := strings.Cut(string(body), "\n")
		next, isObject := strings.CutPrefix(first, "object ")
		if !isObject || !gitHexID(next) {
			return "", false, fmt.Errorf("%s: tag object %s is malformed", g.dir, id)
		}
		id = next
	}
	return "", false, fmt.Errorf("%s: tag %s: too many tags of tags", g.dir, ref)
}

// looseObject inflates .git/objects/xx/yyyy: "<kind> <size>\x00<body>".
func (g *gitRepoFacts) looseObject(env *Env, id string) (kind string, body []byte, found bool, err error) {
	b, ok, err := env.ReadFileIfExists(path.Join(g.dir, "objects", id[:2], id[2:]))
	if err != nil || !ok {
		return "", nil, false, err
	}
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return "", nil, false, fmt.Errorf("%s: object %s: %w", g.dir, id, err)
	}
	defer zr.Close()
	// Tags and commits are small; read a bounded amount.
	raw, err := io.ReadAll(io.LimitReader(zr, 1<<20))
	if err != nil {
		return "", nil, false, fmt.Errorf("%s: object %s: %w", g.dir, id, err)
	}
	header, body, ok := bytes.Cut(raw, []byte{0})
	if !ok {
		return "", nil, false, fmt.Errorf("%s: object %s has no header", g.dir, id)
	}
	kind, _, _ = strings.Cut(string(header), " ")
	return kind, body, true, nil
}

// gitConfigValue returns the value of key in [section] of a git config
// file ("remote \"origin\"", "url"). Section and key names compare without
// case; subsection names with case, as git does. Includes are not followed.
func gitConfigValue(config []byte, section, key string) string {
	want := gitSectionKey(section)
	cur, value := "", ""
	for _, line := range strings.Split(string(config), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			end := strings.LastIndexByte(line, ']')
			if end < 0 {
				continue
			}
			cur = gitSectionKey(line[1:end])
			line = strings.TrimSpace(line[end+1:])
			if line == "" {
				continue
			}
		}
		if cur != want {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		if !strings.EqualFold(strings.TrimSpace(k), key) {
			continue
		}
		value = gitConfigUnquote(strings.TrimSpace(v))
	}
	return value
}

func gitSectionKey(s string) string {
	name, sub, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return strings.ToLower(name)
	}
	return strings.ToLower(name) + " " + strings.TrimSpace(sub)
}

// gitConfigUnquote removes quotes and a trailing comment from a value.
func gitConfigUnquote(v string) string {
	var b strings.Builder
	quoted := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"':
			quoted = !quoted
		case c == '\\' && i+1 < len(v):
			i++
			switch v[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(v[i])
			}
		case (c == '#' || c == ';') && !quoted:
			return strings.TrimSpace(b.String())
		default:
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String())
}
