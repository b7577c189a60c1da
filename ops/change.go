package ops

import (
	"fmt"
	"strings"
)

// ChangeKind says what a Change does.
type ChangeKind string

const (
	// Write creates or replaces a regular file, atomically: a reader sees the
	// old content or the new, never a mix.
	Write ChangeKind = "write"
	// Attrs sets the mode and owner of an existing file or directory.
	Attrs ChangeKind = "attrs"
	// Mkdir creates one directory (its parent exists).
	Mkdir ChangeKind = "mkdir"
	// Symlink creates or replaces a symbolic link.
	Symlink ChangeKind = "symlink"
	// Remove removes a file, a symbolic link or a whole directory tree.
	Remove ChangeKind = "remove"
	// Run runs a command. Only a Runner can; elsewhere it is deferred.
	Run ChangeKind = "exec"
)

// A Change is one step an operation needs to bring a target into state.
// It is plain data: plans print it, targets apply it.
type Change struct {
	Kind    ChangeKind `json:"kind"`
	Path    string     `json:"path,omitempty"`
	Content []byte     `json:"content,omitempty"` // Write
	Mode    Mode       `json:"mode,omitempty"`    // Write, Mkdir, Attrs
	UID     int        `json:"uid"`               // Write, Mkdir, Attrs, Symlink
	GID     int        `json:"gid"`               // Write, Mkdir, Attrs, Symlink
	Target  string     `json:"target,omitempty"`  // Symlink
	Exec    *Exec      `json:"exec,omitempty"`    // Run

	// Sensitive content (shadow, Wi-Fi keys) is never shown in a diff.
	Sensitive bool `json:"sensitive,omitempty"`
	// Reboot says the change takes effect only after the target reboots
	// (config.txt, cmdline.txt).
	Reboot bool `json:"reboot,omitempty"`
	// Note says what a plain file change means, for plans: "creates
	// system group gpio (999)".
	Note string `json:"note,omitempty"`
}

// Exec is a command for a Runner.
type Exec struct {
	// Description says what the command does, for plans: "install git".
	Description string `json:"description"`
	// Argv is the command and its arguments; or, when empty, Script is
	// run by "/bin/sh -e".
	Argv   []string `json:"argv,omitempty"`
	Script string   `json:"script,omitempty"`
	// User runs the command as this user instead of root.
	User string   `json:"user,omitempty"`
	Dir  string   `json:"dir,omitempty"`
	Env  []string `json:"env,omitempty"` // NAME=value, added to a clean environment
	// LiveOnly commands act on the running system only (start a service,
	// load a module): skipped on an image or a system not booted with
	// systemd, because booting does the same.
	LiveOnly bool `json:"live_only,omitempty"`
}

// ExecResult is what a command did.
type ExecResult struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// String describes c in one line, as plans show it.
func (c *Change) String() string {
	if c.Note != "" {
		return c.describe() + " (" + c.Note + ")"
	}
	return c.describe()
}

func (c *Change) describe() string {
	switch c.Kind {
	case Write:
		return fmt.Sprintf("write %s (%s %d:%d, %d bytes)", c.Path, c.Mode, c.UID, c.GID, len(c.Content))
	case Attrs:
		return fmt.Sprintf("set %s to %s %d:%d", c.Path, c.Mode, c.UID, c.GID)
	case Mkdir:
		return fmt.Sprintf("mkdir %s (%s %d:%d)", c.Path, c.Mode, c.UID, c.GID)
	case Symlink:
		return fmt.Sprintf("link %s -> %s", c.Path, c.Target)
	case Remove:
		return "remove " + c.Path
	case Run:
		if c.Exec == nil {
			return "exec"
		}
		return "exec " + c.Exec.String()
	}
	return string(c.Kind) + " " + c.Path
}

// String is the description and the command, as plans show it.
func (e *Exec) String() string {
	cmd := e.Script
	if len(e.Argv) > 0 {
		cmd = shellJoin(e.Argv)
	}
	if first, _, more := strings.Cut(strings.TrimSpace(cmd), "\n"); more {
		cmd = first + " ..."
	}
	if e.User != "" && e.User != "root" {
		cmd = "(as " + e.User + ") " + cmd
	}
	if e.Description == "" {
		return cmd
	}
	return e.Description + ": " + cmd
}

// shellJoin quotes argv for display (and for sh -c on a remote target).
func shellJoin(argv []string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = ShellQuote(a)
	}
	return strings.Join(quoted, " ")
}

// ShellQuote quotes s for a POSIX shell, leaving plain words alone.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=+./:,@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
