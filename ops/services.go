package ops

import (
	"context"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
)

func init() {
	Register("systemd.service", func() Op { return new(SystemdService) })
	Register("ssh.server", func() Op { return new(SSHServer) })
	Register("shell.run", func() Op { return new(ShellRun) })
}

// SystemdService is a systemd unit: its content (when the recipe gives it),
// enabled by its [Install] symlinks (so it works offline), running on a live
// system, and restarted when one of the steps in RestartOn changed.
//
// Name may be any unit type ("robot.timer"); without a suffix it is a
// service. Unit content goes to /etc/systemd/system/NAME (0644 root).
// Without Unit, the unit must exist along systemd's search path; the one
// exception is Enabled false (and Running not true) for a unit that does
// not exist: that is in state once no link of that name is left.
//
// Enabled true makes the links "systemctl enable" makes (WantedBy=,
// RequiredBy=, UpheldBy=, Alias=, Also=, DefaultInstance=); false removes
// them as "systemctl disable" does; nil leaves them. A masked unit cannot
// be enabled or started: that is an error (unmask with files.absent), since
// a mask is usually someone's deliberate choice; unit content from the
// recipe replaces a mask in /etc/systemd/system.
//
// Live-only commands: "systemctl daemon-reload" when the unit file or the
// links changed; with Running, "systemctl is-active" is asked on a live
// system and the unit started or stopped; "systemctl restart" when the unit
// file changed or a RestartOn step changed and the unit is running (asked)
// or is to be running. A static unit of the target (no [Install] section)
// has nothing to enable, as with systemctl; a unit from the recipe without
// one and Enabled true is an error, being almost certainly a mistake.
type SystemdService struct {
	Name      string   `json:"name"`           // "robot" or "robot.service"
	Unit      *string  `json:"unit,omitempty"` // nil: the unit file is not managed
	Enabled   *bool    `json:"enabled,omitempty"`
	Running   *bool    `json:"running,omitempty"`
	RestartOn []string `json:"restart_on,omitempty"` // step IDs
}

// SSHServer is the OpenSSH server enabled (or not), and password logins
// allowed or not (nil leaves sshd's default).
//
// Enabled makes or removes ssh.service's [Install] links (Debian's unit
// has Alias=sshd.service); on a live system an enabled, inactive sshd is
// started. A disabled sshd is not stopped: that could cut off the
// connection pibake runs over; it stays off from the next boot.
//
// PasswordAuth writes /etc/ssh/sshd_config.d/00-pibake.conf. sshd keeps the
// first value it reads of a keyword and Debian's sshd_config includes
// sshd_config.d/*.conf, in name order, before its own settings, so the
// drop-in wins over cloud-init's 50-cloud-init.conf; if some other file
// would still be read first, Plan says which, rather than write a setting
// that sshd ignores. nil removes the drop-in. A changed drop-in is followed
// by "systemctl try-reload-or-restart ssh.service" (live-only): reload
// when sshd runs, nothing when it does not.
type SSHServer struct {
	Enabled      bool  `json:"enabled"`
	PasswordAuth *bool `json:"password_auth,omitempty"`
}

// ShellRun is a command, the escape hatch: it runs unless Creates exists or
// the Unless command succeeds; with neither, it runs every time, so a
// recipe with one is never in state.
//
// Unless is run (as root, by "/bin/sh -c") only on a target that can run
// commands; on an image it cannot, so the command is planned and deferred
// to first boot, which asks again. The command itself is run by
// "/bin/sh -e -c", as User when given.
type ShellRun struct {
	Command string `json:"command"`
	Creates string `json:"creates,omitempty"`
	Unless  string `json:"unless,omitempty"`
	User    string `json:"user,omitempty"`
}

func (o *SystemdService) Kind() string    { return "systemd.service" }
func (o *SystemdService) Summary() string { return o.Name }
func (o *SSHServer) Kind() string         { return "ssh.server" }
func (o *SSHServer) Summary() string      { return "sshd" }
func (o *ShellRun) Kind() string          { return "shell.run" }
func (o *ShellRun) Summary() string       { return o.Command }

func (o *SystemdService) Validate() error {
	name, err := unitFullName(o.Name)
	if err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if unitIsTemplate(name) && (o.Running != nil || len(o.RestartOn) > 0) {
		return fmt.Errorf("name: %s is a template: running and restart_on need an instance (%s)", name, unitInstanceOf(name, "NAME"))
	}
	if slices.Contains(o.RestartOn, "") {
		return fmt.Errorf("restart_on: empty step id")
	}
	if o.Unit != nil {
		if *o.Unit == "" {
			return fmt.Errorf("unit: empty content (an empty unit file masks the unit)")
		}
		if _, err := parseUnitInstall([]byte(*o.Unit)); err != nil {
			return fmt.Errorf("unit: %w", err)
		}
	}
	return nil
}

func (o *SystemdService) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	name, err := unitFullName(o.Name)
	if err != nil {
		return nil, err // Validate has said so; parsed again for the full name
	}
	template := unitIsTemplate(name)
	enable := o.Enabled != nil && *o.Enabled
	disable := o.Enabled != nil && !*o.Enabled
	run := o.Running != nil && *o.Running
	stop := o.Running != nil && !*o.Running

	var cl changeList
	unitChanged := false
	var u *unitFile
	if o.Unit != nil {
		content := []byte(*o.Unit)
		p := path.Join(unitConfigDir, name)
		changes, err := env.EnsureFile(FileSpec{Path: p, Content: content, Mode: 0o644})
		if err != nil {
			return nil, err
		}
		cl.add(changes...)
		unitChanged = cl.wrote(p)
		u = &unitFile{Name: name, File: name, Path: p, Content: content, Ours: true}
	} else if u, err = findUnit(env, name); err != nil {
		return nil, err
	}
	if u == nil {
		if !disable || run {
			return nil, fmt.Errorf("unit %s does not exist on the target (looked in %s): give its content with unit=, or install the package that ships it", name, strings.Join(unitSearchPath, ", "))
		}
		u = &unitFile{Name: name, File: name}
	}
	if u.Masked && run {
		return nil, fmt.Errorf("%s is masked (%s): it cannot be started; unmask it first, by removing that file (files.absent)", name, u.Path)
	}

	fileChanges := len(cl.changes)
	switch {
	case enable:
		err = planEnable(env, u, &cl)
	case disable:
		err = planDisable(env, u, &cl)
	}
	if err != nil {
		return nil, err
	}
	linksChanged := len(cl.changes) > fileChanges

	var why []string
	if unitChanged {
		why = append(why, "unit changed")
	}
	for _, id := range o.RestartOn {
		if env.Changed != nil && env.Changed(id) {
			why = append(why, "step "+id+" changed")
		}
	}
	if unitChanged || linksChanged {
		cl.add(systemctl("reload systemd's units", "daemon-reload"))
	}
	if template || (o.Running == nil && len(why) == 0) {
		return cl.changes, nil
	}
	if !env.Live() {
		// Nothing runs on a target that is not a booted system; booting
		// starts what is enabled, and first boot plans again, live. A
		// restart is still shown (and skipped) when the unit changed.
		if run && len(why) > 0 {
			cl.add(systemctl("restart "+name+" ("+strings.Join(why, ", ")+")", "restart", name))
		}
		return cl.changes, nil
	}
	active, err := unitActive(ctx, env, name)
	if err != nil {
		return nil, err
	}
	switch {
	case run && !active:
		cl.add(systemctl("start "+name, "start", name))
	case stop && active:
		cl.add(systemctl("stop "+name, "stop", name))
	case active && !stop && len(why) > 0:
		cl.add(systemctl("restart "+name+" ("+strings.Join(why, ", ")+")", "restart", name))
	}
	return cl.changes, nil
}

// systemctl is a live-only systemctl command.
func systemctl(description string, args ...string) *Change {
	return &Change{Kind: Run, Exec: &Exec{
		Description: description,
		Argv:        append([]string{"systemctl"}, args...),
		LiveOnly:    true,
	}}
}

// unitActive asks a live system whether a unit is active.
func unitActive(ctx context.Context, env *Env, name string) (bool, error) {
	res, ok, err := env.Query(ctx, "systemctl", "is-active", "--quiet", name)
	if err != nil {
		return false, err
	}
	return ok && res.ExitCode == 0, nil
}

// sshdDropIn is where ssh.server puts its settings: first in name order.
const sshdDropIn = "/etc/ssh/sshd_config.d/00-pibake.conf"

func (o *SSHServer) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	const name = "ssh.service"
	// The drop-in and the unit do not depend on each other: both are
	// planned before either's error is returned, so that a read-ahead
	// learns the reads of both.
	var dropIn []*Change
	var err error
	if o.PasswordAuth != nil {
		value := "no"
		if *o.PasswordAuth {
			value = "yes"
		}
		content := []byte("# Written by pibake (ssh.server password_auth). sshd keeps the first\n" +
			"# value it reads, and reads this file first.\n" +
			"PasswordAuthentication " + value + "\n")
		if err = sshdCheckFirst(env, "PasswordAuthentication", sshdDropIn, content); err == nil {
			dropIn, err = env.EnsureFile(FileSpec{Path: sshdDropIn, Content: content, Mode: 0o644})
		}
	} else {
		dropIn, err = env.EnsureAbsent(sshdDropIn)
	}
	dropInErr := err
	u, err := findUnit(env, name)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, fmt.Errorf("ssh.server: %s does not exist on the target: install openssh-server (apt.packages)", name)
	}
	var cl changeList
	if o.Enabled {
		err = planEnable(env, u, &cl)
	} else {
		err = planDisable(env, u, &cl)
	}
	if err != nil {
		return nil, fmt.Errorf("ssh.server: %w", err)
	}
	if dropInErr != nil {
		return nil, fmt.Errorf("ssh.server: %w", dropInErr)
	}
	linksChanged := len(cl.changes) > 0
	cl.add(dropIn...)
	dropInChanged := cl.wrote(sshdDropIn)

	if linksChanged {
		cl.add(systemctl("reload systemd's units", "daemon-reload"))
	}
	if o.Enabled && env.Live() {
		active, err := unitActive(ctx, env, name)
		if err != nil {
			return nil, err
		}
		if !active {
			cl.add(systemctl("start "+name, "start", name))
		}
	}
	if dropInChanged {
		cl.add(systemctl("reload sshd's configuration", "try-reload-or-restart", name))
	}
	return cl.changes, nil
}

// sshdCheckFirst checks that sshd, reading /etc/ssh/sshd_config and what it
// includes, meets keyword first in file (whose content will be content).
// Settings after a Match line are conditional and not counted.
func sshdCheckFirst(env *Env, keyword, file string, content []byte) error {
	const config = "/etc/ssh/sshd_config"
	env.Hint(config, "/etc/ssh/sshd_config.d/*.conf") // Debian's Include
	if fi, err := env.LstatIfExists(config); err != nil {
		return err
	} else if fi == nil {
		return fmt.Errorf("the target has no %s: install openssh-server (apt.packages)", config)
	}
	var first string // "file:line"
	var read func(p string, depth int) error
	read = func(p string, depth int) error {
		if depth > 16 {
			return fmt.Errorf("%s: Include nested too deeply", p)
		}
		var b []byte
		if p == file {
			b = content
		} else {
			var err error
			if b, err = env.Sys.ReadFile(p); err != nil {
				return err
			}
		}
		for n, line := range strings.Split(string(b), "\n") {
			fields := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '=' })
			if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
				continue
			}
			switch strings.ToLower(fields[0]) {
			case "match":
				return nil
			case strings.ToLower(keyword):
				first = fmt.Sprintf("%s:%d", p, n+1)
				return nil
			case "include":
				for _, pattern := range fields[1:] {
					if !path.IsAbs(pattern) {
						pattern = path.Join("/etc/ssh", pattern)
					}
					files, err := sshdGlob(env, pattern, file)
					if err != nil {
						return err
					}
					for _, f := range files {
						if err := read(f, depth+1); err != nil || first != "" {
							return err
						}
					}
				}
			}
		}
		return nil
	}
	if err := read(config, 0); err != nil {
		return fmt.Errorf("reading sshd's configuration: %w", err)
	}
	switch {
	case first == "":
		return fmt.Errorf("sshd would not read %s: %s does not Include /etc/ssh/sshd_config.d/*.conf (before any Match)", file, config)
	case !strings.HasPrefix(first, file+":"):
		return fmt.Errorf("%s is set at %s, which sshd reads before %s, so ours would be ignored: remove it there", keyword, first, file)
	}
	return nil
}

// sshdGlob expands an Include pattern with wildcards in its last element,
// in name order, counting extra (a file about to be written) as present.
func sshdGlob(env *Env, pattern, extra string) ([]string, error) {
	dir, base := path.Split(pattern)
	dir = path.Clean(dir)
	if strings.ContainsAny(dir, "*?[") {
		return nil, fmt.Errorf("Include %s: wildcards are supported in the last element only", pattern)
	}
	entries, err := readDirIfExists(env, dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, fi := range entries {
		if ok, _ := path.Match(base, fi.Name); ok && !fi.IsDir() && path.Join(dir, fi.Name) != extra {
			out = append(out, path.Join(dir, fi.Name))
		}
	}
	if ok, _ := path.Match(base, path.Base(extra)); ok && path.Dir(extra) == dir {
		out = append(out, extra)
	}
	sort.Strings(out)
	return out, nil
}

func (o *ShellRun) Validate() error {
	if strings.TrimSpace(o.Command) == "" {
		return fmt.Errorf("command: must not be empty")
	}
	if o.Creates != "" {
		return checkPathArg("creates", o.Creates)
	}
	return nil
}

func (o *ShellRun) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	if o.User != "" {
		if _, err := env.UID(o.User); err != nil {
			return nil, fmt.Errorf("shell.run: %w", err)
		}
	}
	if o.Creates != "" {
		fi, err := env.LstatIfExists(o.Creates)
		if err != nil {
			return nil, err
		}
		if fi != nil {
			return nil, nil
		}
	}
	if o.Unless != "" {
		res, ok, err := env.Query(ctx, "/bin/sh", "-c", o.Unless)
		if err != nil {
			return nil, fmt.Errorf("shell.run: unless: %w", err)
		}
		if ok && res.ExitCode == 0 {
			return nil, nil
		}
	}
	return []*Change{{Kind: Run, Exec: &Exec{Description: "run", Script: o.Command, User: o.User}}}, nil
}
