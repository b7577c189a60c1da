package reconcile_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pibake/pibake/ops"
)

// Small ops for testing the engine alone, whatever ops package exists.

// putOp is a file with content, mode and owner (a user and group of the
// same name, resolved through the target's /etc/passwd and /etc/group).
type putOp struct {
	Path, Content string
	Mode          ops.Mode
	Owner         string
	Sensitive     bool
	Reboot        bool
}

func (o *putOp) Kind() string    { return "test.put" }
func (o *putOp) Summary() string { return o.Path }

func (o *putOp) Plan(_ context.Context, env *ops.Env) ([]*ops.Change, error) {
	uid, err := env.UID(o.Owner)
	if err != nil {
		return nil, err
	}
	gid, err := env.GID(o.Owner)
	if err != nil {
		return nil, err
	}
	mode := o.Mode
	if mode == 0 {
		mode = 0o644
	}
	fi, err := env.LstatIfExists(o.Path)
	if err != nil {
		return nil, err
	}
	if fi != nil && fi.IsRegular() && ops.ModeOf(fi.Mode) == mode && fi.UID == uid && fi.GID == gid {
		content, err := env.Sys.ReadFile(o.Path)
		if err != nil {
			return nil, err
		}
		if string(content) == o.Content {
			return nil, nil
		}
	}
	return []*ops.Change{{
		Kind: ops.Write, Path: o.Path, Content: []byte(o.Content), Mode: mode, UID: uid, GID: gid,
		Sensitive: o.Sensitive, Reboot: o.Reboot,
	}}, nil
}

// copyOp makes To a copy of From, as the target has it when To plans.
type copyOp struct{ From, To string }

func (o *copyOp) Kind() string    { return "test.copy" }
func (o *copyOp) Summary() string { return o.From + " → " + o.To }

func (o *copyOp) Plan(_ context.Context, env *ops.Env) ([]*ops.Change, error) {
	content, err := env.Sys.ReadFile(o.From)
	if err != nil {
		return nil, err
	}
	cur, ok, err := env.ReadFileIfExists(o.To)
	if err != nil || (ok && bytes.Equal(cur, content)) {
		return nil, err
	}
	return []*ops.Change{{Kind: ops.Write, Path: o.To, Content: content, Mode: 0o644}}, nil
}

// chmodOp sets the mode of an existing path.
type chmodOp struct {
	Path string
	Mode ops.Mode
}

func (o *chmodOp) Kind() string    { return "test.chmod" }
func (o *chmodOp) Summary() string { return o.Path }

func (o *chmodOp) Plan(_ context.Context, env *ops.Env) ([]*ops.Change, error) {
	fi, err := env.Sys.Lstat(o.Path)
	if err != nil || ops.ModeOf(fi.Mode) == o.Mode {
		return nil, err
	}
	return []*ops.Change{{Kind: ops.Attrs, Path: o.Path, Mode: o.Mode, UID: fi.UID, GID: fi.GID}}, nil
}

// absentOp removes a path (a whole tree).
type absentOp struct{ Path string }

func (o *absentOp) Kind() string    { return "test.absent" }
func (o *absentOp) Summary() string { return o.Path }

func (o *absentOp) Plan(_ context.Context, env *ops.Env) ([]*ops.Change, error) {
	fi, err := env.LstatIfExists(o.Path)
	if fi == nil || err != nil {
		return nil, err
	}
	return []*ops.Change{{Kind: ops.Remove, Path: o.Path}}, nil
}

// runOp runs Argv unless Creates exists on the target.
type runOp struct {
	Description string
	Argv        []string
	Creates     string
	LiveOnly    bool
	// Write, when set, is also written (before the command).
	Write string
}

func (o *runOp) Kind() string    { return "test.run" }
func (o *runOp) Summary() string { return o.Description }

func (o *runOp) Plan(_ context.Context, env *ops.Env) ([]*ops.Change, error) {
	if o.Creates != "" {
		fi, err := env.LstatIfExists(o.Creates)
		if fi != nil || err != nil {
			return nil, err
		}
	}
	var changes []*ops.Change
	if o.Write != "" {
		changes = append(changes, &ops.Change{Kind: ops.Write, Path: o.Write, Content: []byte("x\n"), Mode: 0o644})
	}
	return append(changes, &ops.Change{Kind: ops.Run, Exec: &ops.Exec{
		Description: o.Description, Argv: o.Argv, LiveOnly: o.LiveOnly,
	}}), nil
}

// failOp cannot plan.
type failOp struct{ Message string }

func (o *failOp) Kind() string    { return "test.fail" }
func (o *failOp) Summary() string { return "always fails" }

func (o *failOp) Plan(context.Context, *ops.Env) ([]*ops.Change, error) {
	return nil, errors.New(o.Message)
}

// changedOp writes to Path what Env.Changed said about the IDs.
type changedOp struct {
	Path string
	IDs  []string
}

func (o *changedOp) Kind() string    { return "test.changed" }
func (o *changedOp) Summary() string { return o.Path }

func (o *changedOp) Plan(_ context.Context, env *ops.Env) ([]*ops.Change, error) {
	var b strings.Builder
	for _, id := range o.IDs {
		fmt.Fprintf(&b, "%s=%v\n", id, env.Changed(id))
	}
	return []*ops.Change{{Kind: ops.Write, Path: o.Path, Content: []byte(b.String()), Mode: 0o644}}, nil
}

// writerOp breaks the rule that Plan never writes.
type writerOp struct{}

func (writerOp) Kind() string    { return "test.writer" }
func (writerOp) Summary() string { return "writes while planning" }

func (writerOp) Plan(ctx context.Context, env *ops.Env) ([]*ops.Change, error) {
	return nil, env.Sys.Apply(ctx, &ops.Change{Kind: ops.Write, Path: "/etc/hostname", Mode: 0o644})
}

// steps makes steps s1, s2, ... at robot.star:1:1, robot.star:2:1, ...
func steps(list ...ops.Op) []*ops.Step {
	out := make([]*ops.Step, len(list))
	for i, op := range list {
		out[i] = &ops.Step{ID: fmt.Sprintf("s%d", i+1), Pos: fmt.Sprintf("robot.star:%d:1", i+1), Op: op}
	}
	return out
}

// concat joins lists of steps, numbering them again.
func concat(lists ...[]*ops.Step) []*ops.Step {
	var all []ops.Op
	for _, list := range lists {
		for _, s := range list {
			all = append(all, s.Op)
		}
	}
	return steps(all...)
}
