package ops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// Env is what an op sees while it plans: the target's files (during a plan,
// with the changes of earlier ops already laid over them), the target's
// commands when it can run any, the clock, and what earlier steps changed.
type Env struct {
	Sys System
	// Runner is nil when the target cannot run commands (an image, a
	// directory): exec changes are then deferred.
	Runner Runner
	// Now is the time of the run (shadow's last-change day, file times).
	Now time.Time
	// Changed reports whether the step with the given ID changed, or would
	// change, the target earlier in this run.
	Changed func(stepID string) bool
	// ReadAhead is set while a costly target learns what a run will read
	// (see reconcile.Prefetcher): the plan is thrown away, and a user or
	// group that does not exist resolves to a placeholder id so that the
	// op goes on to read what it would read once an earlier step made it.
	ReadAhead bool
}

// A Hinter is a target whose reads are costly one by one (a Pi over SSH)
// and that can fetch the files matching a pattern, with the directories
// leading to them, in bulk.
type Hinter interface {
	Hint(patterns ...string)
}

// Hint tells the target what the op is about to read: absolute,
// slash-separated patterns whose elements may hold * and ? (as
// path.Match), such as "/opt/venv/lib/python3*/site-packages/*.dist-info/METADATA".
// The op then reads as usual (ReadDir, ReadFile); a target that is a
// Hinter has fetched those reads in one round trip. Others ignore hints.
func (e *Env) Hint(patterns ...string) {
	if h, ok := e.Runner.(Hinter); ok {
		h.Hint(patterns...)
	}
}

// ReadFileIfExists returns name's content, or ok false if it does not exist.
func (e *Env) ReadFileIfExists(name string) (content []byte, ok bool, err error) {
	b, err := e.Sys.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// LstatIfExists returns name's FileInfo, or nil if it does not exist.
func (e *Env) LstatIfExists(name string) (*FileInfo, error) {
	fi, err := e.Sys.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return fi, err
}

// Live reports whether the target is a running system booted with systemd,
// where live-only commands (start a service, load a module) make sense.
func (e *Env) Live() bool {
	if e.Runner == nil {
		return false
	}
	fi, err := e.Sys.Lstat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// Query runs a read-only command to learn a fact. ok is false when the
// target cannot run commands; the op must then plan as if the fact were
// unknown (and its exec changes will be deferred).
func (e *Env) Query(ctx context.Context, argv ...string) (res *ExecResult, ok bool, err error) {
	if e.Runner == nil {
		return nil, false, nil
	}
	if q, isQuerier := e.Runner.(Querier); isQuerier {
		res, err = q.Query(ctx, argv)
	} else {
		res, err = e.Runner.Run(ctx, &Exec{Description: "query", Argv: argv})
	}
	if err != nil {
		return nil, true, fmt.Errorf("running %s: %w", shellJoin(argv), err)
	}
	return res, true, nil
}

// UID resolves a user name (or a number) through the target's /etc/passwd.
func (e *Env) UID(user string) (int, error) {
	return e.lookupID("/etc/passwd", "user", user)
}

// GID resolves a group name (or a number) through the target's /etc/group.
func (e *Env) GID(group string) (int, error) {
	return e.lookupID("/etc/group", "group", group)
}

func (e *Env) lookupID(db, what, name string) (int, error) {
	if name == "" {
		name = "root"
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	content, ok, err := e.ReadFileIfExists(db)
	if err != nil {
		return 0, err
	}
	if !ok {
		switch {
		case name == "root":
			return 0, nil
		case e.ReadAhead:
			return placeholderID, nil
		}
		return 0, fmt.Errorf("%s %q: the target has no %s", what, name, db)
	}
	for _, line := range strings.Split(string(content), "\n") {
		fields := strings.Split(line, ":")
		if len(fields) >= 3 && fields[0] == name {
			n, err := strconv.Atoi(fields[2])
			if err != nil {
				return 0, fmt.Errorf("%s: %s %q has a bad id %q", db, what, name, fields[2])
			}
			return n, nil
		}
	}
	if e.ReadAhead {
		return placeholderID, nil
	}
	return 0, fmt.Errorf("%s %q does not exist in the target's %s", what, name, db)
}

// placeholderID is what a missing user or group resolves to while reading
// ahead (nobody/nogroup).
const placeholderID = 65534

// CheckPath returns an error unless p is an absolute, clean target path.
func CheckPath(p string) error {
	if !path.IsAbs(p) {
		return fmt.Errorf("want an absolute path, got %q", p)
	}
	if path.Clean(p) != p {
		return fmt.Errorf("want a clean path such as %q, got %q", path.Clean(p), p)
	}
	return nil
}

// checkPathArg checks the op argument arg, a path on the target.
func checkPathArg(arg, p string) error {
	if err := CheckPath(p); err != nil {
		return fmt.Errorf("%s: %w", arg, err)
	}
	return nil
}
