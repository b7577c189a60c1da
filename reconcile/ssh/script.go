package ssh

import (
	"encoding/base64"
	"fmt"
	"maps"
	"path"
	"strings"

	"github.com/pibake/pibake/ops"
)

// The remote side is plain POSIX sh with Debian's coreutils, findutils and
// tar (all Essential on Raspberry Pi OS): nothing is installed on the Pi.
//
// Answers are NUL-terminated fields; a file's content travels as base64
// (in a tar archive when fetched in bulk), so no byte of it can be taken
// for a separator.

// prelude starts every remote shell: a private temporary directory, a
// fixed environment, and the helpers the change scripts use. Temporary
// names hold the shell's PID: what a shell killed outright left behind
// (its directory here, a file beside a destination) is removed by a later
// one once that PID is gone (or a zombie).
const prelude = `export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
umask 022
pibake_stale() { for o; do [ -e "$o" ] || continue; p=${o##*.pibake}; p=${p#[.-]}; p=${p%%-*}; case $p in ''|*[!0-9]*) continue;; esac; st=; read -r st </proc/"$p"/stat 2>/dev/null; case $st in ''|*') Z '*|*') X '*) rm -rf -- "$o";; esac; done; }
pibake_stale /tmp/.pibake.*
T=/tmp/.pibake.$$
rm -rf "$T" && mkdir -m 700 "$T" || exit 1
P=
trap 'rm -rf "$T"; [ -z "$P" ] || rm -f -- "$P"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 141' PIPE
pibake_fixed() { case $(stat -f -c %T -- "$1" 2>/dev/null) in msdos|vfat|fat|exfat) return 0;; esac; return 1; }
pibake_attrs() { pibake_fixed "$1" && return 0; chown -- "$3:$4" "$1" && chmod -- "$2" "$1"; }
pibake_put() {
	d=$(dirname -- "$1")
	pibake_stale "$d"/.pibake-*
	t=$(mktemp -- "$d/.pibake-$$-XXXXXXXX") || return 1
	P=$t
	if base64 -d >"$t" && pibake_size "$t" "$5" && pibake_attrs "$t" "$2" "$3" "$4" && sync -- "$t" && mv -fT -- "$t" "$1"; then P=; return 0; fi
	rm -f -- "$t"; P=; return 1
}
pibake_size() { s=$(stat -c %s -- "$1") && [ "$s" = "$2" ] && return 0; echo "pibake: $1: got $s bytes, sent $2" >&2; return 1; }
pibake_link() {
	t=$(dirname -- "$1")/.pibake-$$-link
	rm -f -- "$t"
	if ln -s -- "$2" "$t" && { pibake_fixed "$t" || chown -h -- "$3:$4" "$t"; } && mv -fT -- "$t" "$1"; then return 0; fi
	rm -f -- "$t"; return 1
}
pibake_mkdir() { mkdir -m 700 -- "$1" && pibake_attrs "$1" "$2" "$3" "$4"; }
pibake_done() { printf 'R\0%d\0' "$1"; base64 -w0 "$T/e"; printf '\0'; }
pibake_ran() { printf 'X\0%d\0' "$1"; base64 -w0 "$T/o"; printf '\0'; base64 -w0 "$T/e"; printf '\0'; }
`

// statFormat is find's -printf for one file: type, mode, owner, size,
// filesystem type and link target, after a tag and the path.
const statFormat = `%p\0%y\0%m\0%U\0%G\0%s\0%F\0%l\0`

// quote quotes s for the remote shell.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func quoteAll(paths []string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = quote(p)
	}
	return strings.Join(q, " ")
}

// fetchScript reads the facts r asks for in one go.
func fetchScript(r *requests) string {
	var b strings.Builder
	lstat, stat, list := withAncestors(r), sorted(r.stat), sorted(r.list)
	read, peek := sorted(r.read), sorted(r.peek)
	if len(lstat) > 0 {
		fmt.Fprintf(&b, "find -P %s -maxdepth 0 -printf 'S\\0%s' 2>/dev/null\n", quoteAll(lstat), statFormat)
	}
	if len(stat) > 0 {
		fmt.Fprintf(&b, "find -L %s -maxdepth 0 -printf 'T\\0%s' 2>/dev/null\n", quoteAll(stat), statFormat)
	}
	if len(list) > 0 {
		fmt.Fprintf(&b, "find -H %s -mindepth 1 -maxdepth 1 -printf 'E\\0%%H\\0%s' 2>/dev/null\n", quoteAll(list), statFormat)
	}
	if len(peek) > 0 {
		// Directories asked about are likely listed next: list them now.
		fmt.Fprintf(&b, "find -P %s -mindepth 1 -maxdepth 1 -printf 'E\\0%%H\\0%s' 2>/dev/null\n", quoteAll(peek), statFormat)
	}
	globs := globLevels(sorted(r.globs))
	if len(globs.lstat) > 0 {
		fmt.Fprintf(&b, "find -P %s -maxdepth 0 -printf 'S\\0%s' 2>/dev/null\n", strings.Join(globs.lstat, " "), statFormat)
	}
	if len(globs.list) > 0 {
		// Mark each directory listed, so that an empty one is known.
		fmt.Fprintf(&b, "for d in %s; do [ -d \"$d\" ] && printf 'L\\0%%s\\0' \"$d\"; done\n", strings.Join(globs.list, " "))
		fmt.Fprintf(&b, "find -H %s -mindepth 1 -maxdepth 1 -printf 'E\\0%%H\\0%s' 2>/dev/null\n", strings.Join(globs.list, " "), statFormat)
	}
	if len(read)+len(peek)+len(globs.read) > 0 {
		b.WriteString("printf 'A\\0'\n{ ")
		if len(read) > 0 {
			fmt.Fprintf(&b, "find -L %s -maxdepth 0 -type f -print0; ", quoteAll(read))
		}
		if len(peek) > 0 {
			// Small files asked about are likely read next: send them now.
			fmt.Fprintf(&b, "find -P %s -maxdepth 0 -type f -size -%dc -print0; ", quoteAll(peek), peekSize+1)
			// So are the small files of a small directory asked about.
			fmt.Fprintf(&b, "for d in %s; do [ -d \"$d\" ] && [ ! -L \"$d\" ] && [ \"$(find -P \"$d\" -mindepth 1 -maxdepth 1 -printf . | wc -c)\" -le %d ] && find -P \"$d\" -mindepth 1 -maxdepth 1 -type f -size -%dc -print0; done; ", quoteAll(peek), smallDir, peekSize+1)
		}
		if len(globs.read) > 0 {
			fmt.Fprintf(&b, "find -P %s -maxdepth 0 -type f -size -%dc -print0; ", strings.Join(globs.read, " "), hintSize+1)
		}
		b.WriteString("} 2>/dev/null | tar -c -h --null --no-recursion -T - -f - 2>/dev/null | base64 -w0\nprintf '\\0'\n")
	}
	for i, k := range r.queryOrder() {
		fmt.Fprintf(&b, "printf 'Q\\0%%s\\0' %d\n", i)
		b.WriteString(execCommand(&ops.Exec{Argv: r.queries[k]}))
		b.WriteString("pibake_ran $?\n")
	}
	return b.String()
}

// withAncestors is r's lstat requests and the directories above every
// path r asks about: resolving a path that turns out not to exist looks
// at each of its elements, and they cost nothing in the same batch.
func withAncestors(r *requests) []string {
	all := maps.Clone(r.lstat)
	for _, m := range []map[string]bool{r.lstat, r.stat, r.read, r.list, r.peek} {
		for p := range m {
			for d := path.Dir(p); d != "/" && !all[d]; d = path.Dir(d) {
				all[d] = true
			}
		}
	}
	return sorted(all)
}

// peekSize bounds the files sent with their Lstat; smallDir, the entries
// of a directory whose files are sent with its Lstat.
const (
	peekSize = 64 << 10
	smallDir = 32
)

// hintSize bounds the files a hint's pattern matches that are sent.
const hintSize = 1 << 20

// globArgs are the shell words (quoted, wildcards left bare) that fetch
// hinted patterns: lstat every match of each prefix from the first
// wildcard on, list the matches of each prefix but the whole pattern
// (unless its last element is a wildcard), read the matches of the whole
// pattern.
type globArgs struct{ lstat, list, read []string }

func globLevels(patterns []string) globArgs {
	var g globArgs
	for _, p := range patterns {
		elems := strings.Split(strings.TrimPrefix(p, "/"), "/")
		first := len(elems)
		for i, e := range elems {
			if strings.ContainsAny(e, "*?") {
				first = i
				break
			}
		}
		prefix := func(n int) string { return quoteGlob("/" + strings.Join(elems[:n], "/")) }
		for n := first + 1; n <= len(elems); n++ { // the literal prefix is an lstat request
			g.lstat = append(g.lstat, prefix(n))
		}
		for n := first; n < len(elems); n++ {
			if n < len(elems)-1 || strings.ContainsAny(elems[n], "*?") {
				g.list = append(g.list, prefix(n))
			}
		}
		g.read = append(g.read, prefix(len(elems)))
	}
	return g
}

// quoteGlob quotes p for the shell but for its wildcards * and ?.
func quoteGlob(p string) string {
	var b strings.Builder
	for p != "" {
		i := strings.IndexAny(p, "*?")
		if i < 0 {
			i = len(p)
		}
		if i > 0 {
			b.WriteString(quote(p[:i]))
		}
		if i < len(p) {
			b.WriteByte(p[i])
			i++
		}
		p = p[i:]
	}
	return b.String()
}

// execCommand runs e as the local target does: a clean environment, in
// e.Dir or /, as e.User when set; stdin empty, output to $T/o and $T/e.
func execCommand(e *ops.Exec) string {
	argv := e.Argv
	if len(argv) == 0 {
		argv = []string{"/bin/sh", "-e", "-c", e.Script}
	}
	if e.User != "" && e.User != "root" {
		argv = append([]string{"runuser", "-u", e.User, "--"}, argv...)
	}
	dir := e.Dir
	if dir == "" {
		dir = "/"
	}
	env := append([]string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8",
		"HOME=/root",
	}, e.Env...)
	return fmt.Sprintf("( cd %s && exec env -i %s %s ) </dev/null >\"$T/o\" 2>\"$T/e\"\n", quote(dir), quoteAll(env), quoteAll(argv))
}

// changeScript makes one file change, answering R, its status and its
// error output.
func changeScript(c *ops.Change) (string, error) {
	var cmd string
	mode := fmt.Sprintf("%05o", uint32(c.Mode))
	owner := fmt.Sprintf("%d %d", c.UID, c.GID)
	switch c.Kind {
	case ops.Write:
		var b strings.Builder
		fmt.Fprintf(&b, "pibake_put %s %s %s %d <<'PIBAKE_EOF'\n", quote(c.Path), mode, owner, len(c.Content))
		enc := base64.StdEncoding.EncodeToString(c.Content)
		for len(enc) > 76 {
			b.WriteString(enc[:76])
			b.WriteByte('\n')
			enc = enc[76:]
		}
		b.WriteString(enc)
		b.WriteString("\nPIBAKE_EOF")
		cmd = b.String()
	case ops.Attrs:
		cmd = fmt.Sprintf("pibake_attrs %s %s %s", quote(c.Path), mode, owner)
	case ops.Mkdir:
		cmd = fmt.Sprintf("pibake_mkdir %s %s %s", quote(c.Path), mode, owner)
	case ops.Symlink:
		cmd = fmt.Sprintf("pibake_link %s %s %s", quote(c.Path), quote(c.Target), owner)
	case ops.Remove:
		if c.Path == "/" {
			return "", fmt.Errorf("refusing to remove the root")
		}
		cmd = "rm -rf -- " + quote(c.Path)
	default:
		return "", fmt.Errorf("unknown change kind %q", c.Kind)
	}
	return "{\n" + cmd + "\n} 2>\"$T/e\"\npibake_done $?", nil
}
