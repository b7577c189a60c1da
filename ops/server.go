package ops

import "context"

func init() {
	Register("server.hostname", func() Op { return new(Hostname) })
	Register("server.user", func() Op { return new(User) })
	Register("server.timezone", func() Op { return new(Timezone) })
	Register("server.locale", func() Op { return new(Locale) })
}

// Hostname is the target's host name: /etc/hostname and the 127.0.1.1 line
// of /etc/hosts.
type Hostname struct {
	Name string `json:"name"`
}

// User is a login account, made by editing /etc/passwd, shadow, group and
// gshadow directly so that it works on an image too.
type User struct {
	Name string `json:"name"`
	// UID is the wanted user id; 0 picks the first free one from UID_MIN.
	UID    int      `json:"uid,omitempty"`
	Groups []string `json:"groups"` // supplementary groups, exactly these
	Shell  string   `json:"shell"`
	Home   string   `json:"home"` // default /home/NAME
	// PasswordHash is a crypt(3) hash; nil leaves an existing one alone
	// (a new account gets "*": no password login, keys still work).
	PasswordHash *string  `json:"password_hash,omitempty"`
	SSHKeys      []string `json:"ssh_keys"` // ~/.ssh/authorized_keys, exactly these
	Sudo         bool     `json:"sudo"`     // passwordless sudo via /etc/sudoers.d
}

// Timezone is the target's time zone ("Europe/London").
type Timezone struct {
	Name string `json:"name"`
}

// Locale is the target's default locale ("en_GB.UTF-8"), generated.
type Locale struct {
	Name string `json:"name"`
}

func (o *Hostname) Kind() string    { return "server.hostname" }
func (o *Hostname) Summary() string { return o.Name }
func (o *User) Kind() string        { return "server.user" }
func (o *User) Summary() string     { return o.Name }
func (o *Timezone) Kind() string    { return "server.timezone" }
func (o *Timezone) Summary() string { return o.Name }
func (o *Locale) Kind() string      { return "server.locale" }
func (o *Locale) Summary() string   { return o.Name }

func (o *Hostname) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *Timezone) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *Locale) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
