package recipes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/pibake/pibake/ops"
)

const errBrokenSecret = "a secret was cut or changed (secrets can be concatenated and formatted with %s or format, not sliced, inspected or changed)"

// fileOptions is the recipe dialect: sets, and if/for at top level (which
// needs reassignable globals: `if x: a = 1 else: a = 2`). No while, no
// recursion, so every recipe terminates unless it loops over a huge range.
var fileOptions = &syntax.FileOptions{Set: true, TopLevelControl: true, GlobalReassign: true}

// An Error is a mistake in a recipe, at a position in it.
type Error struct {
	Pos string // "robot.star:12:5"; the file as the user named it
	Msg string // "apt.packages: unknown argument ..."
}

func (e *Error) Error() string {
	if e.Pos == "" {
		return e.Msg
	}
	return e.Pos + ": " + e.Msg
}

// compiler runs one recipe and the files it loads, collecting steps.
type compiler struct {
	opts      Options
	topAbsDir string
	topShown  string

	shown   map[string]string  // absolute path → file name in messages
	dirs    map[string]string  // file name in messages → absolute directory
	modules map[string]*loaded // absolute path → module
	loading []string           // absolute paths of the files executing, outermost first
	// starts maps the position Starlark records for a call (its open
	// parenthesis) or an attribute (its dot) to where the expression
	// starts, which is where a reader looks: `apt.packages(` → `apt`.
	starts map[posKey]syntax.Position

	predeclared starlark.StringDict
	steps       []*ops.Step
}

type loaded struct {
	globals starlark.StringDict
	err     error
	done    bool
}

type posKey struct {
	file      string
	line, col int32
}

func keyOf(p syntax.Position) posKey { return posKey{p.Filename(), p.Line, p.Col} }

func compile(path string, opts Options) (*Recipe, error) {
	c, abs, err := newCompiler(path, opts)
	if err != nil {
		return nil, err
	}
	if c.predeclared, err = c.builtins(); err != nil {
		return nil, err
	}
	if err := c.run(abs); err != nil {
		return nil, err
	}
	return &Recipe{Source: path, Secrets: secretsOf(c.steps), Steps: c.steps}, nil
}

// newCompiler is a compiler for the file at path, and its absolute path;
// the caller sets predeclared.
func newCompiler(path string, opts Options) (*compiler, string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, "", err
	}
	return &compiler{
		opts:      opts,
		topAbsDir: filepath.Dir(abs),
		topShown:  path,
		shown:     map[string]string{abs: path},
		dirs:      map[string]string{},
		modules:   map[string]*loaded{abs: {}},
		loading:   []string{abs},
		starts:    map[posKey]syntax.Position{},
	}, abs, nil
}

// run executes the top file (abs) and what it loads. A missing top file
// is the fs error, naming it; other mistakes are *Errors.
func (c *compiler) run(abs string) error {
	thread := &starlark.Thread{Name: c.topShown, Load: c.load, Print: c.print}
	if _, err := c.exec(thread, abs, c.topShown); err != nil {
		if errors.Is(err, fs.ErrNotExist) && !errors.As(err, new(*starlark.EvalError)) {
			return err
		}
		return c.userError(err)
	}
	return nil
}

// exec runs one recipe file.
func (c *compiler) exec(thread *starlark.Thread, abs, shown string) (starlark.StringDict, error) {
	src, err := os.ReadFile(abs)
	if err != nil {
		return nil, err
	}
	c.dirs[shown] = filepath.Dir(abs)
	f, err := fileOptions.Parse(shown, src, 0)
	if err != nil {
		return nil, c.syntaxError(err)
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CallExpr:
			start, _ := n.Span()
			c.starts[keyOf(n.Lparen)] = start
		case *syntax.DotExpr:
			start, _ := n.Span()
			c.starts[keyOf(n.Dot)] = start
		}
		return true
	})
	prog, err := starlark.FileProgram(f, c.predeclared.Has)
	if err != nil {
		return nil, c.syntaxError(err)
	}
	globals, err := prog.Init(thread, c.predeclared)
	globals.Freeze()
	return globals, err
}

func (c *compiler) syntaxError(err error) error {
	switch e := err.(type) {
	case syntax.Error:
		return &Error{Pos: e.Pos.String(), Msg: e.Msg}
	case resolve.ErrorList:
		msg := e[0].Msg
		// The resolver suggests only names the file has already used.
		if name, ok := strings.CutPrefix(msg, "undefined: "); ok && !strings.Contains(name, " ") {
			known := append(c.predeclared.Keys(), starlark.Universe.Keys()...)
			if n := nearest(name, known); n != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", n)
			}
		}
		if len(e) > 1 {
			msg += fmt.Sprintf(" (and %d more errors)", len(e)-1)
		}
		return &Error{Pos: e[0].Pos.String(), Msg: msg}
	}
	return err
}

// load implements load("common.star", ...): paths are relative to the
// loading file, each file is executed once, and cycles are errors.
func (c *compiler) load(thread *starlark.Thread, name string) (starlark.StringDict, error) {
	from := thread.CallFrame(0).Pos // the load statement
	at := c.shownPos(from)
	abs := name
	if !filepath.IsAbs(name) {
		abs = filepath.Join(c.dirs[from.Filename()], name)
	}
	if m, ok := c.modules[abs]; ok {
		if !m.done {
			var cycle []string
			for _, p := range c.loading[slices.Index(c.loading, abs):] {
				cycle = append(cycle, c.shown[p])
			}
			cycle = append(cycle, c.shown[abs])
			return nil, &Error{Pos: at, Msg: "load: cycle: " + strings.Join(cycle, " -> ")}
		}
		return m.globals, m.err
	}
	shown := c.shownName(abs)
	c.shown[abs] = shown
	m := &loaded{}
	c.modules[abs] = m
	c.loading = append(c.loading, abs)
	m.globals, m.err = c.exec(thread, abs, shown)
	c.loading = c.loading[:len(c.loading)-1]
	var pathErr *fs.PathError
	if errors.As(m.err, &pathErr) && !errors.As(m.err, new(*starlark.EvalError)) {
		m.err = &Error{Pos: at, Msg: fmt.Sprintf("load: cannot read %s: %v", shown, pathErr.Err)}
	}
	m.done = true
	return m.globals, m.err
}

// shownName is how messages name a loaded file: relative to the top
// recipe's directory, as the user named that directory.
func (c *compiler) shownName(abs string) string {
	rel, err := filepath.Rel(c.topAbsDir, abs)
	if err != nil {
		return abs
	}
	return filepath.Join(filepath.Dir(c.topShown), rel)
}

// shownPos is "file:line:col" for a position Starlark recorded.
func (c *compiler) shownPos(p syntax.Position) string {
	if start, ok := c.starts[keyOf(p)]; ok {
		p = start
	}
	return p.String()
}

// callerFrame is the innermost frame of recipe code under the builtin
// running on thread.
func callerFrame(thread *starlark.Thread) (starlark.CallFrame, bool) {
	for depth := 1; depth < thread.CallStackDepth(); depth++ {
		fr := thread.CallFrame(depth)
		if fr.Pos.Filename() != "<builtin>" {
			return fr, true
		}
	}
	return starlark.CallFrame{}, false
}

func (c *compiler) callerPos(thread *starlark.Thread) string {
	fr, ok := callerFrame(thread)
	if !ok {
		return ""
	}
	return c.shownPos(fr.Pos)
}

// local resolves a path relative to the recipe file calling the builtin
// running on thread: the absolute path, and the path as messages show it.
func (c *compiler) local(thread *starlark.Thread, name string) (abs, shown string) {
	if filepath.IsAbs(name) {
		return name, name
	}
	fr, _ := callerFrame(thread)
	file := fr.Pos.Filename()
	return filepath.Join(c.dirs[file], name), filepath.Join(filepath.Dir(file), name)
}

// readLocal reads a local file named relative to the calling recipe.
func (c *compiler) readLocal(thread *starlark.Thread, name string) ([]byte, error) {
	abs, shown := c.local(thread, name)
	b, err := os.ReadFile(abs)
	if err != nil {
		return nil, localError(shown, err)
	}
	return b, nil
}

func localError(shown string, err error) error {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		err = pathErr.Err
	}
	return fmt.Errorf("cannot read %s: %w", shown, err)
}

// userError turns an error from running a recipe into an *Error at the
// innermost recipe position.
func (c *compiler) userError(err error) error {
	var recipeErr *Error
	if errors.As(err, &recipeErr) {
		return &Error{Pos: recipeErr.Pos, Msg: showTokens(recipeErr.Msg)}
	}
	var evalErr *starlark.EvalError
	if errors.As(err, &evalErr) {
		pos := ""
		for i := len(evalErr.CallStack) - 1; i >= 0; i-- {
			if p := evalErr.CallStack[i].Pos; p.Filename() != "<builtin>" {
				pos = c.shownPos(p)
				break
			}
		}
		return &Error{Pos: pos, Msg: showTokens(evalErr.Msg)}
	}
	return err
}

func (c *compiler) print(thread *starlark.Thread, msg string) {
	if c.opts.Print == nil {
		return
	}
	if pos := c.callerPos(thread); pos != "" {
		msg = pos + ": " + msg
	}
	c.opts.Print(showTokens(msg))
}

// builtins is the predeclared environment of every recipe file.
func (c *compiler) builtins() (starlark.StringDict, error) {
	data, err := fromJSON(c.opts.HostData)
	if err != nil {
		return nil, fmt.Errorf("host data%w", err)
	}
	if data == starlark.None {
		data = starlark.NewDict(0)
		data.Freeze()
	}
	if _, ok := data.(*starlark.Dict); !ok {
		return nil, fmt.Errorf("host data: want a JSON object, got %s", data.Type())
	}
	env := starlark.StringDict{
		"file":   starlark.NewBuiltin("file", c.fileBuiltin),
		"secret": starlark.NewBuiltin("secret", secretBuiltin),
		"host": &module{name: "host", members: starlark.StringDict{
			"name": starlark.String(c.opts.HostName),
			"data": data,
		}},
	}
	for _, spec := range catalogue {
		modName, fnName, _ := strings.Cut(spec.kind, ".")
		m, ok := env[modName].(*module)
		if !ok {
			m = &module{name: modName, members: starlark.StringDict{}, aliases: moduleAliases[modName]}
			env[modName] = m
		}
		m.members[fnName] = c.opBuiltin(spec)
	}
	env.Freeze()
	return env, nil
}

// opBuiltin is the Starlark function for an op: it records a step and
// returns its handle.
func (c *compiler) opBuiltin(spec *builtinSpec) *starlark.Builtin {
	return starlark.NewBuiltin(spec.kind, func(thread *starlark.Thread, _ *starlark.Builtin, positional starlark.Tuple, keywords []starlark.Tuple) (starlark.Value, error) {
		pos := c.callerPos(thread)
		a, err := unpack(spec.kind, spec.required, spec.optional, spec.aliases, positional, keywords)
		if err != nil {
			return nil, &Error{Pos: pos, Msg: err.Error()}
		}
		for _, name := range slices.Concat(spec.required, spec.optional) {
			if v, ok := a.values[name]; ok && !tokensWhole(v) {
				return nil, &Error{Pos: pos, Msg: fmt.Sprintf("%s: %s: %s", spec.kind, name, errBrokenSecret)}
			}
		}
		op, err := spec.build(&call{args: a, compiler: c, thread: thread})
		if a.err != nil {
			err = a.err // the first problem found, usually an argument
		}
		if err != nil {
			return nil, &Error{Pos: pos, Msg: err.Error()}
		}
		if err := ops.Validate(op); err != nil {
			return nil, &Error{Pos: pos, Msg: spec.kind + ": " + err.Error()}
		}
		id := strconv.Itoa(len(c.steps) + 1)
		c.steps = append(c.steps, &ops.Step{ID: id, Pos: pos, Op: op})
		return &opHandle{kind: spec.kind, id: id}, nil
	})
}

// fileBuiltin is file(path): a local file's content, read relative to the
// calling recipe.
func (c *compiler) fileBuiltin(thread *starlark.Thread, _ *starlark.Builtin, positional starlark.Tuple, keywords []starlark.Tuple) (starlark.Value, error) {
	pos := c.callerPos(thread)
	a, err := unpack("file", []string{"path"}, nil, nil, positional, keywords)
	if err != nil {
		return nil, &Error{Pos: pos, Msg: err.Error()}
	}
	name := a.nonEmpty("path")
	if a.err != nil {
		return nil, &Error{Pos: pos, Msg: a.err.Error()}
	}
	b, err := c.readLocal(thread, name)
	if err != nil {
		return nil, &Error{Pos: pos, Msg: "file: " + err.Error()}
	}
	return starlark.String(b), nil
}

// call is what an op builder sees: its arguments and the compiler.
type call struct {
	*args
	compiler *compiler
	thread   *starlark.Thread
}
