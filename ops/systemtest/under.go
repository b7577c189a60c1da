package systemtest

import (
	"context"
	"strings"
	"testing"

	"github.com/pibake/pibake/ops"
)

// under makes a fresh directory dir on s and returns s as seen from it: a
// path p is dir+p, an absolute link target likewise.
func under(t *testing.T, s ops.System, dir string) ops.System {
	t.Helper()
	ctx := context.Background()
	if err := s.Apply(ctx, &ops.Change{Kind: ops.Remove, Path: dir}); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, &ops.Change{Kind: ops.Mkdir, Path: dir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Apply(ctx, &ops.Change{Kind: ops.Remove, Path: dir}) })
	return &prefixed{s: s, dir: dir}
}

type prefixed struct {
	s   ops.System
	dir string
}

func (p *prefixed) path(name string) string {
	if name == "/" {
		return p.dir
	}
	if strings.HasPrefix(name, "/") {
		return p.dir + name
	}
	return name // relative: the System refuses it
}

// info maps an absolute link target back into the suite's view.
func (p *prefixed) info(fi *ops.FileInfo, err error) (*ops.FileInfo, error) {
	if fi != nil && strings.HasPrefix(fi.Target, p.dir+"/") {
		fi.Target = strings.TrimPrefix(fi.Target, p.dir)
	}
	return fi, err
}

func (p *prefixed) Lstat(name string) (*ops.FileInfo, error) { return p.info(p.s.Lstat(p.path(name))) }
func (p *prefixed) Stat(name string) (*ops.FileInfo, error)  { return p.info(p.s.Stat(p.path(name))) }
func (p *prefixed) ReadFile(name string) ([]byte, error)     { return p.s.ReadFile(p.path(name)) }

func (p *prefixed) ReadDir(name string) ([]*ops.FileInfo, error) {
	list, err := p.s.ReadDir(p.path(name))
	for _, fi := range list {
		p.info(fi, nil)
	}
	return list, err
}

func (p *prefixed) Apply(ctx context.Context, c *ops.Change) error {
	m := *c
	m.Path = p.path(c.Path)
	if strings.HasPrefix(c.Target, "/") {
		m.Target = p.path(c.Target)
	}
	return p.s.Apply(ctx, &m)
}
