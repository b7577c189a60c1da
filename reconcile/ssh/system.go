package ssh

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/pibake/pibake/ops"
)

// System is a live host reached over SSH, as the ops see it. Everything
// goes through one remote shell, run as root, on one connection: reads are
// answered from facts fetched in batches (one round trip each), changes
// are one round trip each.
//
// A run learns what it will read before it starts (see Prefetch), so that
// a plan of a host already in state costs one batch. After a change, what
// it touched is fetched again when next read; after a command, everything
// is.
type System struct {
	sh   *shell
	name string

	mu      sync.Mutex
	known   facts
	working requests  // every fact asked for in this run, fetched again after a command
	missing *requests // while speculating: what the passes asked for and was not known
	stale   bool      // a command ran: refetch the working set on the next miss
	trace   func(format string, args ...any)

	remember   string
	remembered *requests // loaded from remember, fetched by the first Prefetch batch
}

var (
	_ ops.System  = (*System)(nil)
	_ ops.Runner  = (*System)(nil)
	_ ops.Querier = (*System)(nil)
)

// SystemOptions say how to become root on the host.
type SystemOptions struct {
	// User is the login user; anyone but root goes through sudo.
	User string
	// SudoPassword, when set, is given to sudo -S; otherwise sudo -n is
	// used, which fails at once if sudo wants a password.
	SudoPassword []byte
	// Remember, when set, is a file where the facts this run asked for
	// are kept when the System is closed, and fetched with the first batch
	// of the next run (see Prefetch): what a run reads at its second or
	// third round trip because it depends on what the first returned (a
	// venv's Python version, then its packages) comes in the first. A
	// missing or unreadable file is ignored. Key it by host and recipe.
	Remember string
	// Trace, when set, is told about each round trip.
	Trace func(format string, args ...any)
}

// NewSystem starts the remote shell on conn. name is for messages
// ("ssh pi@robot1:22"). It costs one round trip; a sudo password costs
// another.
func NewSystem(ctx context.Context, conn Conn, name string, o SystemOptions) (*System, error) {
	command := "exec /bin/sh"
	first := prelude
	if o.User != "root" {
		if o.SudoPassword != nil {
			command = "exec sudo -S -p '' -- /bin/sh -c 'printf \"sudo-ok\\0\"; exec /bin/sh'"
			first = string(o.SudoPassword) + "\n"
		} else {
			command = "exec sudo -n -- /bin/sh"
		}
	}
	sh, err := startShell(conn, name, command, first)
	if err != nil {
		return nil, err
	}
	s := &System{sh: sh, name: name, known: newFacts(), working: newRequests(), trace: o.Trace}
	if o.Remember != "" {
		s.remember = o.Remember
		s.remembered = loadRequests(o.Remember)
	}
	if o.User != "root" && o.SudoPassword != nil {
		if err := s.sudoWithPassword(ctx); err != nil {
			sh.close()
			return nil, err
		}
	}
	return s, nil
}

// sudoWithPassword waits for sudo to accept the password, then starts the
// shell proper. A wrong password makes sudo ask again: that is seen on
// its stderr, and the channel is closed.
func (s *System) sudoWithPassword(ctx context.Context) error {
	got := make(chan error, 1)
	go func() {
		f, err := s.sh.out.ReadString(0)
		if err == nil && f != "sudo-ok\x00" {
			err = fmt.Errorf("unexpected answer %q", f)
		}
		got <- err
	}()
	s.sh.trips.Add(1)
	for {
		select {
		case err := <-got:
			if err != nil {
				return s.sh.fail(ctx, err)
			}
			if _, err := io.WriteString(s.sh.ch, prelude); err != nil {
				return s.sh.fail(ctx, err)
			}
			return nil
		case <-ctx.Done():
			s.sh.ch.Close()
			return ctx.Err()
		case <-s.sh.stderrChanged():
			if said := s.sh.stderr.String(); strings.Contains(said, "Sorry, try again") || strings.Contains(said, "incorrect password") {
				s.sh.ch.Close()
				<-got
				return fmt.Errorf("%s: sudo: wrong password", s.name)
			}
		}
	}
}

// String names the target for messages.
func (s *System) String() string { return s.name }

// RoundTrips is the number of round trips made so far on the connection
// after authentication: opening the shell and each request.
func (s *System) RoundTrips() int { return int(s.sh.trips.Load()) }

// Close ends the remote shell (which removes its temporary files), and
// keeps what this run asked for in the Remember file.
func (s *System) Close() error {
	err := s.sh.close()
	if s.remember != "" {
		s.mu.Lock()
		w := s.working
		s.mu.Unlock()
		if !w.empty() {
			if serr := saveRequests(s.remember, &w); serr != nil && s.trace != nil {
				s.trace("remembering facts: %v", serr)
			}
		}
	}
	return err
}

// facts are what is known about the host, by path. A path present with a
// nil value does not exist.
type facts struct {
	lstat   map[string]*ops.FileInfo
	stat    map[string]*ops.FileInfo
	list    map[string][]*ops.FileInfo
	content map[string][]byte
	queries map[string]*ops.ExecResult
	// globs are the hinted patterns whose matches are known (see Hint).
	globs map[string]bool
}

func newFacts() facts {
	return facts{
		lstat:   map[string]*ops.FileInfo{},
		stat:    map[string]*ops.FileInfo{},
		list:    map[string][]*ops.FileInfo{},
		content: map[string][]byte{},
		queries: map[string]*ops.ExecResult{},
		globs:   map[string]bool{},
	}
}

// requests are facts to fetch. peek asks for a file's content if it is a
// small regular file (one that was only Lstat'ed so far); globs ask for
// the matches of hinted patterns and the directories leading to them.
type requests struct {
	lstat, stat, list, read, peek, globs map[string]bool
	queries                              map[string][]string
}

func newRequests() requests {
	return requests{
		lstat: map[string]bool{}, stat: map[string]bool{}, list: map[string]bool{},
		read: map[string]bool{}, peek: map[string]bool{}, globs: map[string]bool{},
		queries: map[string][]string{},
	}
}

func (r *requests) empty() bool {
	return len(r.lstat)+len(r.stat)+len(r.list)+len(r.read)+len(r.peek)+len(r.globs)+len(r.queries) == 0
}

func (r *requests) merge(o *requests) {
	for _, pair := range [][2]map[string]bool{{r.lstat, o.lstat}, {r.stat, o.stat}, {r.list, o.list}, {r.read, o.read}, {r.peek, o.peek}, {r.globs, o.globs}} {
		for k := range pair[1] {
			pair[0][k] = true
		}
	}
	for k, v := range o.queries {
		r.queries[k] = v
	}
}

// queryOrder is the order of r's queries in a batch.
func (r *requests) queryOrder() []string {
	keys := make([]string, 0, len(r.queries))
	for k := range r.queries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Lstat implements ops.System.
func (s *System) Lstat(p string) (*ops.FileInfo, error) { return reader{s: s}.lstat(p) }

// Stat implements ops.System.
func (s *System) Stat(p string) (*ops.FileInfo, error) { return reader{s: s}.stat(p) }

// ReadFile implements ops.System.
func (s *System) ReadFile(p string) ([]byte, error) { return reader{s: s}.readFile(p) }

// ReadDir implements ops.System.
func (s *System) ReadDir(p string) ([]*ops.FileInfo, error) { return reader{s: s}.readDir(p) }

// Query implements ops.Querier: a read-only command, answered from a
// batch when it was learnt in advance.
func (s *System) Query(ctx context.Context, argv []string) (*ops.ExecResult, error) {
	return reader{s: s}.query(ctx, argv)
}

// Hint implements ops.Hinter: the matches of patterns, the directories
// leading to them and their content are fetched in one round trip (in
// the batch of a Prefetch when it is learning), unless already known.
func (s *System) Hint(patterns ...string) { reader{s: s}.hint(patterns) }

// reader answers reads from the facts, fetching what is missing; or, when
// guess is set (speculating), records what is missing and answers with a
// guess.
type reader struct {
	s     *System
	guess guess
	// dirs, for guessShape, are the paths known or asked for that lead to
	// other paths asked for.
	dirs map[string]bool
}

// guess is how a speculative pass answers what is not known yet. Each
// pass guesses one way, so that together they walk more of the ops' code.
type guess int

const (
	real        guess = iota
	guessAbsent       // nothing exists, queries succeed with no output
	guessFile         // everything is an empty file, queries fail
	guessDir          // everything is an empty directory
	// guessShape: what the earlier guesses went through to reach other
	// paths is a directory, anything else a file; whatever is read is an
	// empty file, whatever is listed an empty directory.
	guessShape
)

// errGuessed is returned inside reader when a fact is unknown while
// speculating.
var errGuessed = errors.New("guessed")

func (r reader) lstat(p string) (*ops.FileInfo, error) {
	if err := ops.CheckPath(p); err != nil {
		return nil, err
	}
	var fi *ops.FileInfo
	err := r.need(context.Background(), func(q *requests) { q.lstat[p] = true; q.peek[p] = true }, func(f *facts) bool {
		var ok bool
		fi, ok = lstatKnown(f, p)
		return ok
	})
	if err == errGuessed {
		return r.guessInfo("lstat", p)
	}
	if err != nil {
		return nil, err
	}
	return answerStat("lstat", p, fi)
}

// lstatKnown is what is known of p itself: from an lstat, or from the
// listing of its directory, which holds every entry there is.
func lstatKnown(f *facts, p string) (*ops.FileInfo, bool) {
	if fi, ok := f.lstat[p]; ok {
		return fi, true
	}
	if _, listed := f.list[path.Dir(p)]; listed && p != "/" {
		return nil, true // entries listed are in f.lstat
	}
	return nil, false
}

// statKnown is what is known of p with links followed: from a stat, or
// from an lstat of something that is not a link.
func statKnown(f *facts, p string) (*ops.FileInfo, bool) {
	if fi, ok := f.stat[p]; ok {
		return fi, true
	}
	if fi, ok := lstatKnown(f, p); ok && (fi == nil || !fi.IsSymlink()) {
		return fi, true
	}
	return nil, false
}

func (r reader) stat(p string) (*ops.FileInfo, error) {
	if err := ops.CheckPath(p); err != nil {
		return nil, err
	}
	var fi *ops.FileInfo
	err := r.need(context.Background(), func(q *requests) { q.stat[p] = true }, func(f *facts) bool {
		var ok bool
		fi, ok = statKnown(f, p)
		return ok
	})
	if err == errGuessed {
		return r.guessInfo("stat", p)
	}
	if err != nil {
		return nil, err
	}
	return answerStat("stat", p, fi)
}

func (r reader) readFile(p string) ([]byte, error) {
	if err := ops.CheckPath(p); err != nil {
		return nil, err
	}
	var (
		fi      *ops.FileInfo
		content []byte
	)
	err := r.need(context.Background(), func(q *requests) { q.stat[p] = true; q.read[p] = true }, func(f *facts) bool {
		var ok, have bool
		if fi, ok = statKnown(f, p); !ok {
			return false
		}
		content, have = f.content[p]
		return have || fi == nil || !fi.IsRegular()
	})
	if err == errGuessed {
		// Guess only what is unknown: a file known to exist reads empty.
		if fi == nil && (r.guess == guessAbsent || r.guess == guessDir) {
			return nil, &fs.PathError{Op: "read", Path: p, Err: fs.ErrNotExist}
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	switch {
	case fi == nil:
		return nil, &fs.PathError{Op: "read", Path: p, Err: fs.ErrNotExist}
	case fi.IsDir():
		return nil, &fs.PathError{Op: "read", Path: p, Err: syscall.EISDIR}
	case !fi.IsRegular():
		return nil, &fs.PathError{Op: "read", Path: p, Err: errors.New("not a regular file")}
	}
	return bytes.Clone(content), nil
}

func (r reader) readDir(p string) ([]*ops.FileInfo, error) {
	if err := ops.CheckPath(p); err != nil {
		return nil, err
	}
	var (
		fi   *ops.FileInfo
		list []*ops.FileInfo
	)
	err := r.need(context.Background(), func(q *requests) { q.stat[p] = true; q.list[p] = true }, func(f *facts) bool {
		var ok, have bool
		if fi, ok = statKnown(f, p); !ok {
			return false
		}
		list, have = f.list[p]
		return have || fi == nil || !fi.IsDir()
	})
	if err == errGuessed {
		// Guess only what is unknown: a directory known to exist is empty.
		if fi == nil && r.guess == guessAbsent {
			return nil, &fs.PathError{Op: "readdir", Path: p, Err: fs.ErrNotExist}
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	switch {
	case fi == nil:
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: fs.ErrNotExist}
	case !fi.IsDir():
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: syscall.ENOTDIR}
	}
	out := make([]*ops.FileInfo, len(list))
	for i, e := range list {
		c := *e
		out[i] = &c
	}
	return out, nil
}

func (r reader) query(ctx context.Context, argv []string) (*ops.ExecResult, error) {
	key := queryKey(argv)
	var res *ops.ExecResult
	err := r.need(ctx, func(q *requests) { q.queries[key] = argv }, func(f *facts) bool {
		var ok bool
		res, ok = f.queries[key]
		return ok
	})
	if err == errGuessed {
		if r.guess == guessFile {
			return &ops.ExecResult{ExitCode: 1}, nil
		}
		return &ops.ExecResult{}, nil
	}
	if err != nil {
		return nil, err
	}
	c := *res
	return &c, nil
}

func (r reader) hint(patterns []string) {
	for _, p := range patterns {
		if checkPattern(p) != nil {
			continue // a hint is only a hint
		}
		// An error here (a lost connection) is met again by the reads.
		_ = r.need(context.Background(), func(q *requests) {
			q.globs[p] = true
			q.lstat[literalPrefix(p)] = true
		}, func(f *facts) bool { return f.globs[p] })
	}
}

// literalPrefix is the part of a pattern before its first wildcard, up
// to the last slash before it.
func literalPrefix(pattern string) string {
	i := strings.IndexAny(pattern, "*?")
	if i < 0 {
		return pattern
	}
	return path.Dir(pattern[:i+1])
}

// checkPattern accepts what Hint may be given: an absolute clean path
// whose elements may hold * and ?, the shell's wildcards that need no
// quoting rules of their own.
func checkPattern(p string) error {
	if err := ops.CheckPath(p); err != nil {
		return err
	}
	if strings.ContainsAny(p, "[\\\x00") {
		return fmt.Errorf("pattern %q: only * and ? are wildcards here", p)
	}
	return nil
}

func (r reader) guessInfo(op, p string) (*ops.FileInfo, error) {
	g := r.guess
	if g == guessShape {
		g = guessFile
		if r.dirs[p] {
			g = guessDir
		}
	}
	switch g {
	case guessFile:
		return &ops.FileInfo{Name: path.Base(p), Mode: 0o644}, nil
	case guessDir:
		return &ops.FileInfo{Name: path.Base(p), Mode: fs.ModeDir | 0o755}, nil
	}
	return nil, &fs.PathError{Op: op, Path: p, Err: fs.ErrNotExist}
}

func queryKey(argv []string) string { return strings.Join(argv, "\x00") }

func answerStat(op, p string, fi *ops.FileInfo) (*ops.FileInfo, error) {
	if fi == nil {
		return nil, &fs.PathError{Op: op, Path: p, Err: fs.ErrNotExist}
	}
	c := *fi
	return &c, nil
}

// need makes sure a fact is known: known reports whether it is (and
// captures it); ask adds what to fetch when it is not. A miss costs one
// round trip, in which everything asked for in this run is fetched again
// if a command has run since. While speculating, a miss is recorded and
// errGuessed returned instead.
func (r reader) need(ctx context.Context, ask func(*requests), known func(*facts) bool) error {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if known(&s.known) {
		return nil
	}
	if r.guess != real {
		ask(s.missing)
		return errGuessed
	}
	ask(&s.working)
	q := newRequests()
	ask(&q)
	if s.stale {
		q.merge(&s.working)
	}
	if err := s.fetchLocked(ctx, &q); err != nil {
		return err
	}
	s.stale = false
	if !known(&s.known) {
		return fmt.Errorf("%s: the host did not answer a read (a pibake bug)", s.name)
	}
	return nil
}

// fetchLocked asks the host for r in one round trip and records the
// answers.
func (s *System) fetchLocked(ctx context.Context, r *requests) error {
	if s.trace != nil {
		s.trace("fetch: lstat %q stat %q list %q read %q peek %q queries %d", sorted(r.lstat), sorted(r.stat), sorted(r.list), sorted(r.read), sorted(r.peek), len(r.queries))
	}
	fields, err := s.sh.request(ctx, fetchScript(r))
	if err != nil {
		return err
	}
	got := newFacts()
	if err := parseFacts(fields, &got); err != nil {
		return fmt.Errorf("%s: reading facts: %w", s.name, err)
	}
	// What was asked and not answered does not exist (or is not of the
	// kind asked: a listing of a file, the content of a directory). What
	// a glob matched is known too.
	for p := range r.lstat {
		s.known.lstat[p] = nil
	}
	for p, fi := range got.lstat {
		s.known.lstat[p] = fi
	}
	for p := range r.stat {
		fi := got.stat[p]
		if fi != nil && fi.IsSymlink() { // find -L shows a dangling link as the link
			fi = nil
		}
		s.known.stat[p] = fi
	}
	for p := range r.list {
		if fi := s.known.stat[p]; fi != nil && fi.IsDir() {
			s.known.list[p] = sortedList(got.list[p])
		}
	}
	// A listing tells each entry's lstat.
	for dir, list := range got.list {
		for _, fi := range list {
			c := *fi
			s.known.lstat[path.Join(dir, fi.Name)] = &c
		}
	}
	for p := range r.peek {
		if fi := s.known.lstat[p]; fi != nil && fi.IsDir() {
			s.known.list[p] = sortedList(got.list[p])
		}
	}
	// A glob's listings are whole listings of directories it went through.
	for dir, list := range got.list {
		if _, ok := s.known.list[dir]; !ok && !r.list[dir] && !r.peek[dir] {
			s.known.list[dir] = sortedList(list)
		}
	}
	for p, c := range got.content {
		s.known.content[p] = c
	}
	for p := range r.globs {
		s.known.globs[p] = true
	}
	// Queries are answered by their place in the batch (a key holds NULs,
	// which a shell cannot).
	for i, k := range r.queryOrder() {
		if res, ok := got.queries[strconv.Itoa(i)]; ok {
			s.known.queries[k] = res
		} else {
			return fmt.Errorf("%s: no answer for the query %s", s.name, strings.ReplaceAll(k, "\x00", " "))
		}
	}
	return nil
}

func sortedList(list []*ops.FileInfo) []*ops.FileInfo {
	if list == nil {
		list = []*ops.FileInfo{}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
}

// parseFacts reads the fields fetchScript's answer is made of.
func parseFacts(fields []string, f *facts) error {
	for len(fields) > 0 {
		tag := fields[0]
		fields = fields[1:]
		switch tag {
		case "S", "T":
			if len(fields) < 8 {
				return errors.New("short file record")
			}
			fi, err := parseInfo(fields[:8])
			if err != nil {
				return err
			}
			if tag == "S" {
				f.lstat[fields[0]] = fi
			} else {
				f.stat[fields[0]] = fi
			}
			fields = fields[8:]
		case "E":
			if len(fields) < 9 {
				return errors.New("short directory entry")
			}
			fi, err := parseInfo(fields[1:9])
			if err != nil {
				return err
			}
			f.list[fields[0]] = append(f.list[fields[0]], fi)
			fields = fields[9:]
		case "L": // a directory listed, perhaps empty
			if len(fields) < 1 {
				return errors.New("short listing mark")
			}
			if _, ok := f.list[fields[0]]; !ok {
				f.list[fields[0]] = []*ops.FileInfo{}
			}
			fields = fields[1:]
		case "A":
			if len(fields) < 1 {
				return errors.New("short archive")
			}
			if err := readArchive(fields[0], f.content); err != nil {
				return err
			}
			fields = fields[1:]
		case "Q":
			if len(fields) < 5 || fields[1] != "X" {
				return errors.New("short query answer")
			}
			res, err := parseRan(fields[2:5])
			if err != nil {
				return err
			}
			f.queries[fields[0]] = res
			fields = fields[5:]
		default:
			return fmt.Errorf("unexpected field %q", tag)
		}
	}
	return nil
}

// parseInfo reads path, type, mode, uid, gid, size, filesystem, link.
func parseInfo(v []string) (*ops.FileInfo, error) {
	perm, err1 := strconv.ParseUint(v[2], 8, 32)
	uid, err2 := strconv.Atoi(v[3])
	gid, err3 := strconv.Atoi(v[4])
	size, err4 := strconv.ParseInt(v[5], 10, 64)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, fmt.Errorf("file record for %s: %w", v[0], err)
	}
	mode := ops.Mode(perm).FileMode()
	switch v[1] {
	case "f":
	case "d":
		mode |= fs.ModeDir
	case "l":
		mode |= fs.ModeSymlink
	case "p":
		mode |= fs.ModeNamedPipe
	case "s":
		mode |= fs.ModeSocket
	case "b":
		mode |= fs.ModeDevice
	case "c":
		mode |= fs.ModeDevice | fs.ModeCharDevice
	default:
		mode |= fs.ModeIrregular
	}
	fi := &ops.FileInfo{Name: path.Base(v[0]), Mode: mode, UID: uid, GID: gid, Size: size}
	if v[0] == "/" {
		fi.Name = "/"
	}
	switch v[6] {
	case "vfat", "msdos", "fat", "exfat":
		fi.FixedMode = true
	}
	if fi.IsSymlink() {
		fi.Target = v[7]
	}
	return fi, nil
}

// readArchive reads the base64 tar of file contents into content, by
// absolute path.
func readArchive(b64 string, content map[string][]byte) error {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Errorf("file contents: %w", err)
	}
	if len(raw) == 0 {
		return nil
	}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("file contents: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("file contents of /%s: %w", h.Name, err)
		}
		content["/"+strings.TrimPrefix(h.Name, "/")] = b
	}
}

// parseRan reads a command's status, stdout and stderr.
func parseRan(v []string) (*ops.ExecResult, error) {
	code, err := strconv.Atoi(v[0])
	if err != nil {
		return nil, fmt.Errorf("exit status %q", v[0])
	}
	out, err1 := base64.StdEncoding.DecodeString(v[1])
	errOut, err2 := base64.StdEncoding.DecodeString(v[2])
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("command output: %w", err)
	}
	return &ops.ExecResult{Stdout: out, Stderr: errOut, ExitCode: code}, nil
}

// Apply implements ops.System: one round trip per change. A write goes to
// a temporary file beside the destination, gets its mode and owner, is
// synced, then renamed over it.
func (s *System) Apply(ctx context.Context, c *ops.Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.Kind == ops.Run {
		return fmt.Errorf("%s: an exec change is run, not applied", c)
	}
	if err := ops.CheckPath(c.Path); err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	script, err := changeScript(c)
	if err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forget(c)
	fields, err := s.sh.request(ctx, script)
	if err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	if len(fields) != 3 || fields[0] != "R" {
		return fmt.Errorf("%s: %s: unexpected answer", c, s.name)
	}
	if fields[1] != "0" {
		said, _ := base64.StdEncoding.DecodeString(fields[2])
		return fmt.Errorf("%s: %s", c, strings.TrimSpace(string(said)))
	}
	return nil
}

// forget drops what a change may make untrue: the path, what is below it,
// its directory's listing, everything seen through links, and queries.
func (s *System) forget(c *ops.Change) {
	k := &s.known
	under := func(q string) bool { return q == c.Path || strings.HasPrefix(q, c.Path+"/") || c.Path == "/" }
	for q := range k.lstat {
		if under(q) {
			delete(k.lstat, q)
		}
	}
	for q := range k.list {
		if under(q) || q == path.Dir(c.Path) {
			delete(k.list, q)
		}
	}
	// Stat and content may reach the path through a link: start afresh,
	// keeping only the content of files still known to be regular files.
	clear(k.stat)
	clear(k.queries)
	clear(k.globs)
	for q := range k.content {
		if fi := k.lstat[q]; fi == nil || !fi.IsRegular() {
			delete(k.content, q)
		}
	}
}

// Run implements ops.Runner: the command runs on the host as root (or as
// e.User), with the environment the local target gives it. Everything
// known about the host is fetched again afterwards.
func (s *System) Run(ctx context.Context, e *ops.Exec) (*ops.ExecResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known = newFacts()
	s.stale = true
	fields, err := s.sh.request(ctx, execCommand(e)+"pibake_ran $?")
	if err != nil {
		return nil, err
	}
	if len(fields) != 4 || fields[0] != "X" {
		return nil, fmt.Errorf("%s: unexpected answer to a command", s.name)
	}
	return parseRan(fields[1:])
}

// Prefetch learns what a run will read and fetches it in as few round
// trips as it can: pass plans the whole run against a view of the host
// that answers what is known and guesses the rest, recording it. The
// first round plans four times with different guesses (nothing exists;
// everything is a file; everything is a directory; names with a dot are
// files, others directories), so that one batch holds most of what any
// branch of the ops reads; later rounds fetch what the real answers led
// to. The real run then reads from what was fetched.
func (s *System) Prefetch(ctx context.Context, pass func(view ops.System) error) error {
	guesses := []guess{guessAbsent, guessFile, guessDir, guessShape}
	for round := 0; round < maxRounds; round++ {
		miss := newRequests()
		s.mu.Lock()
		if round == 0 && s.remembered != nil {
			miss.merge(s.remembered)
		}
		s.missing = &miss
		s.mu.Unlock()
		for _, g := range guesses {
			r := reader{s: s, guess: g}
			if g == guessShape {
				s.mu.Lock()
				r.dirs = s.leadingDirs(&miss)
				s.mu.Unlock()
			}
			if err := pass(speculation{r}); err != nil {
				return err
			}
		}
		s.mu.Lock()
		s.missing = nil
		if miss.empty() {
			s.mu.Unlock()
			return nil
		}
		s.working.merge(&miss)
		err := s.fetchLocked(ctx, &miss)
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// leadingDirs are the directories above the paths known or in miss.
func (s *System) leadingDirs(miss *requests) map[string]bool {
	dirs := map[string]bool{}
	add := func(p string) {
		for d := path.Dir(p); !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			if d == "/" {
				break
			}
		}
	}
	for _, m := range []map[string]bool{miss.lstat, miss.stat, miss.read, miss.list, miss.peek} {
		for p := range m {
			add(p)
		}
	}
	for p := range s.known.lstat {
		add(p)
	}
	for p := range s.known.stat {
		add(p)
	}
	return dirs
}

// maxRounds bounds the batches of a Prefetch; what is still missing then
// is fetched when read.
const maxRounds = 6

// speculation is the view of the host a Prefetch pass plans against.
type speculation struct{ r reader }

func (v speculation) Lstat(p string) (*ops.FileInfo, error)     { return v.r.lstat(p) }
func (v speculation) Stat(p string) (*ops.FileInfo, error)      { return v.r.stat(p) }
func (v speculation) ReadFile(p string) ([]byte, error)         { return v.r.readFile(p) }
func (v speculation) ReadDir(p string) ([]*ops.FileInfo, error) { return v.r.readDir(p) }
func (v speculation) Query(ctx context.Context, argv []string) (*ops.ExecResult, error) {
	return v.r.query(ctx, argv)
}
func (v speculation) Hint(patterns ...string) { v.r.hint(patterns) }

func (speculation) Apply(context.Context, *ops.Change) error {
	return errors.New("speculating: no changes")
}

func (speculation) Run(context.Context, *ops.Exec) (*ops.ExecResult, error) {
	return nil, errors.New("speculating: no commands")
}
