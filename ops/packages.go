package ops

import (
	"context"
	"strings"
)

func init() {
	Register("apt.packages", func() Op { return new(AptPackages) })
	Register("pip.venv", func() Op { return new(PipVenv) })
	Register("git.repo", func() Op { return new(GitRepo) })
}

// AptPackages are Debian packages installed (or removed), as recorded in
// /var/lib/dpkg/status. Update runs apt-get update before installing.
type AptPackages struct {
	Names   []string `json:"names"`
	Present bool     `json:"present"`
	Update  bool     `json:"update"`
}

// PipVenv is a Python virtual environment with packages installed in it.
type PipVenv struct {
	Path     string   `json:"path"`
	Packages []string `json:"packages"`
	// Requirements is a requirements file on the target.
	Requirements string `json:"requirements,omitempty"`
	Owner        string `json:"owner"`
}

// GitRepo is a git checkout at a revision (commit, tag or branch).
type GitRepo struct {
	URL   string `json:"url"`
	Dest  string `json:"dest"`
	Rev   string `json:"rev"`
	Owner string `json:"owner,omitempty"`
}

func (o *AptPackages) Kind() string    { return "apt.packages" }
func (o *AptPackages) Summary() string { return strings.Join(o.Names, ", ") }
func (o *PipVenv) Kind() string        { return "pip.venv" }
func (o *PipVenv) Summary() string     { return o.Path }
func (o *GitRepo) Kind() string        { return "git.repo" }
func (o *GitRepo) Summary() string     { return o.Dest }

func (o *AptPackages) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *PipVenv) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *GitRepo) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
