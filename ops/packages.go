package ops

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

func init() {
	Register("apt.packages", func() Op { return new(AptPackages) })
	Register("pip.venv", func() Op { return new(PipVenv) })
	Register("git.repo", func() Op { return new(GitRepo) })
}

// AptPackages are Debian packages installed (or removed), as recorded in
// /var/lib/dpkg/status. Update runs apt-get update before installing.
//
// A name is installed when dpkg's status has it "ok installed"; "name:arch"
// also wants that architecture (or "all"); "name=version" wants that version
// (compared as dpkg compares versions, so "0:1.2" is "1.2"); a plain name is
// also satisfied by an installed package that Provides it (a virtual
// package). Missing ones are installed by one "apt-get install -y" with
// DEBIAN_FRONTEND=noninteractive, after "apt-get update" when Update is set
// (and only then: an update alone changes nothing a recipe asks for).
// Present false removes installed ones with "apt-get remove -y" (no purge);
// a version makes no sense there and is refused. Target releases
// ("name/bookworm-backports") are not supported.
type AptPackages struct {
	Names   []string `json:"names"`
	Present bool     `json:"present"`
	Update  bool     `json:"update"`
}

// PipVenv is a Python virtual environment with packages installed in it.
//
// The venv exists when PATH/pyvenv.cfg and PATH/bin/python do; otherwise
// "python3 -m venv PATH" makes it (the target needs python3-venv). A
// missing PATH is first made as a directory owned by Owner, so that the
// venv can be made as Owner. Installed packages are read from
// PATH/lib/python3*/site-packages/*.dist-info/METADATA (and *.egg-info/
// PKG-INFO); Packages are "name", "name[extras]" or "name" with PEP 440
// specifiers ("==1.2", ">=1.0,<2", "~=1.4", "==1.*"), compared as the limits
// in pyversion.go say. Those not satisfied are installed with one
// "PATH/bin/pip install". Requirements is a file on the target: it is in
// state when PATH/.pibake-requirements.sha256 holds its current sha256,
// written by the same command after "pip install -r" succeeds (so editing
// the file reinstalls; pip itself is not asked what is installed). A
// requirements file that does not exist yet (it may come with a git.repo
// that first boot clones) is planned for, and the command fails if it is
// still missing then. Commands run as Owner, with HOME set to Owner's home.
type PipVenv struct {
	Path     string   `json:"path"`
	Packages []string `json:"packages"`
	// Requirements is a requirements file on the target.
	Requirements string `json:"requirements,omitempty"`
	Owner        string `json:"owner"`
}

// GitRepo is a git checkout at a revision (commit, tag or branch).
//
// Facts come from DEST/.git's files: origin's URL, HEAD, refs and
// packed-refs, annotated tags peeled through packed-refs or loose tag
// objects (see gitfiles.go for the limits; on a live target git itself is
// asked when the files cannot tell). Rev is a full commit id (in state when
// HEAD is that commit), a tag (when HEAD is the tag's commit), a branch
// (when HEAD is that branch, checked out: pibake does not pull new commits
// into it, so pin a commit or tag for a reproducible robot), or "" (any
// checkout of that origin). What is missing is done by one command as
// Owner: "git clone" into DEST (made first, owned by Owner, when missing),
// or in an existing checkout "git remote set-url" when origin's URL
// differs, and "git checkout", fetching from origin only when the revision
// is not there yet. Local changes are never thrown away: git refuses a
// checkout that would lose them, and the plan fails.
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

func (o *AptPackages) Validate() error {
	if len(o.Names) == 0 {
		return fmt.Errorf("names: want at least one package")
	}
	for _, n := range o.Names {
		if strings.ContainsAny(n, " \t\n") {
			return fmt.Errorf("names: %q is not a package name (give several names as a list)", n)
		}
		spec, err := parseAptSpec(n)
		if err != nil {
			return fmt.Errorf("names: %w", err)
		}
		if !o.Present && spec.Version != "" {
			return fmt.Errorf("names: %q: a version cannot be given with present=False", n)
		}
	}
	return nil
}

func (o *AptPackages) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	specs := make([]aptSpec, 0, len(o.Names))
	for _, n := range o.Names {
		spec, _ := parseAptSpec(n) // Validate checked it
		specs = append(specs, spec)
	}
	status, ok, err := env.ReadFileIfExists(dpkgStatusFile)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("apt.packages: the target has no %s: is it Debian-based?", dpkgStatusFile)
	}
	pkgs := parseDpkgStatus(status)
	var todo []string
	seen := map[string]bool{}
	for _, spec := range specs {
		// Only a real package can be removed; a virtual one satisfies an
		// install.
		installed := dpkgInstalled(pkgs, spec, o.Present)
		if installed == o.Present || seen[spec.String()] {
			continue
		}
		seen[spec.String()] = true
		todo = append(todo, spec.String())
	}
	if len(todo) == 0 {
		return nil, nil
	}
	aptEnv := []string{"DEBIAN_FRONTEND=noninteractive"}
	if !o.Present {
		return []*Change{{Kind: Run, Exec: &Exec{
			Description: "remove " + strings.Join(todo, ", "),
			Argv:        append([]string{"apt-get", "remove", "-y"}, todo...),
			Env:         aptEnv,
		}}}, nil
	}
	var changes []*Change
	if o.Update {
		changes = append(changes, &Change{Kind: Run, Exec: &Exec{
			Description: "update the package lists",
			Argv:        []string{"apt-get", "update"},
			Env:         aptEnv,
		}})
	}
	return append(changes, &Change{Kind: Run, Exec: &Exec{
		Description: "install " + strings.Join(todo, ", "),
		Argv:        append([]string{"apt-get", "install", "-y"}, todo...),
		Env:         aptEnv,
	}}), nil
}

// account is a user as /etc/passwd has it.
type account struct {
	Name     string
	UID, GID int
	Home     string
}

// lookupAccount finds a user (by name) in the target's /etc/passwd.
func lookupAccount(env *Env, name string) (*account, error) {
	if name == "" {
		name = "root"
	}
	passwd, ok, err := env.ReadFileIfExists("/etc/passwd")
	if err != nil {
		return nil, err
	}
	if ok {
		for _, line := range strings.Split(string(passwd), "\n") {
			f := strings.Split(line, ":")
			if len(f) < 7 || f[0] != name {
				continue
			}
			uid, err1 := strconv.Atoi(f[2])
			gid, err2 := strconv.Atoi(f[3])
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("/etc/passwd: user %q has a bad uid or gid", name)
			}
			return &account{Name: name, UID: uid, GID: gid, Home: f[5]}, nil
		}
	}
	switch {
	case name == "root":
		return &account{Name: "root", Home: "/root"}, nil
	case env.ReadAhead:
		return &account{Name: name, UID: placeholderID, GID: placeholderID, Home: "/home/" + name}, nil
	}
	return nil, fmt.Errorf("user %q does not exist in the target's /etc/passwd", name)
}

// runAs fills in an Exec to run as acct, with acct's HOME (pip and git read
// and write there).
func (a *account) runAs(e *Exec) *Change {
	if a.Name != "root" {
		e.User = a.Name
	}
	e.Env = append(e.Env, "HOME="+a.Home)
	return &Change{Kind: Run, Exec: e}
}

// ensureOwnedDir plans dir, when missing, as a directory owned by acct.
// Missing parents inside acct's home are acct's too (so that
// /home/pi/robot/venv leaves /home/pi/robot usable by pi); others are
// root's.
func ensureOwnedDir(env *Env, dir string, acct *account) ([]*Change, error) {
	fi, err := env.LstatIfExists(dir)
	if err != nil {
		return nil, err
	}
	if fi != nil {
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s exists and is not a directory", dir)
		}
		return nil, nil
	}
	changes, err := env.EnsureDir(dir, 0o755, strconv.Itoa(acct.UID), strconv.Itoa(acct.GID))
	if err != nil {
		return nil, err
	}
	for _, c := range changes {
		if c.Kind == Mkdir && acct.Home != "/" && strings.HasPrefix(c.Path, acct.Home+"/") {
			c.UID, c.GID = acct.UID, acct.GID
		}
	}
	return changes, nil
}
