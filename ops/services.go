package ops

import "context"

func init() {
	Register("systemd.service", func() Op { return new(SystemdService) })
	Register("ssh.server", func() Op { return new(SSHServer) })
	Register("shell.run", func() Op { return new(ShellRun) })
}

// SystemdService is a systemd unit: its content (when the recipe gives it),
// enabled by its [Install] symlinks (so it works offline), running on a live
// system, and restarted when one of the steps in RestartOn changed.
type SystemdService struct {
	Name      string   `json:"name"`           // "robot" or "robot.service"
	Unit      *string  `json:"unit,omitempty"` // nil: the unit file is not managed
	Enabled   *bool    `json:"enabled,omitempty"`
	Running   *bool    `json:"running,omitempty"`
	RestartOn []string `json:"restart_on,omitempty"` // step IDs
}

// SSHServer is the OpenSSH server enabled (or not), and password logins
// allowed or not (nil leaves sshd's default).
type SSHServer struct {
	Enabled      bool  `json:"enabled"`
	PasswordAuth *bool `json:"password_auth,omitempty"`
}

// ShellRun is a command, the escape hatch: it runs unless Creates exists or
// the Unless command succeeds; with neither, it runs every time.
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

func (o *SystemdService) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *SSHServer) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *ShellRun) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
