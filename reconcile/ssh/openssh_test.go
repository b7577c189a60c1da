package ssh

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestResolveAgainstOpenSSH resolves the same configs with Resolve and with
// the real ssh, and compares. `ssh -G` prints the effective config but
// leaves IdentityFile and ProxyCommand unexpanded, so those two are taken
// from `ssh -v`, which logs each identity file it loads and the proxy
// command it executes. That run never reaches the network: its proxy command
// is always `false` (the config's, which every case here starts with
// "false", or -o ProxyCommand=false), and ssh resolves no name when a proxy
// command is set.
func TestResolveAgainstOpenSSH(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh client on this machine to compare with: install openssh-client")
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// ssh takes ~ and %d from the password database, not $HOME.
	opts := Options{LocalUser: me.Username, HomeDir: me.HomeDir}

	tests := []struct {
		name   string
		config string // DIR is the directory of the config and of its includes
		files  map[string]string
		alias  string
		target Target
	}{
		{name: "defaults", config: "", alias: "pi"},
		{name: "defaults with user and port from the target", config: "Host pi\n User cfg\n Port 2200\n",
			alias: "pi", target: Target{User: "cli", Port: 2222}},
		{name: "tokens", alias: "pi", config: `
Host pi
  HostName %h.example.com
  User bob
  Port 2200
  IdentityFile ~/.ssh/id_%r_%h_%p_%n_%u_%%
  IdentityFile %d/keys/%n
  IdentityFile ~/.ssh/id_%r_%h_%p_%n_%u_%%
  ProxyCommand false nc %h %p %r "%n" %% # a comment %h
  UserKnownHostsFile ~/kh/%h %d/kh-%n-%p-%r-%u-%k
  GlobalKnownHostsFile /etc/kh/%n ~/g
  StrictHostKeyChecking accept-new
  ConnectTimeout 1m30s
  IdentitiesOnly yes
`},
		{name: "first wins, wildcards, negation", alias: "db-old.lan", config: `
Host web? db*.lan !db-old.lan
  User a
  Port 1111
Host *.lan
  User b
Host db-old.*
  User c
  Port 2222
  HostName Real.Example.COM
Host *
  Port 3333
  StrictHostKeyChecking no
`},
		{name: "Host is case-sensitive", alias: "PI", config: "Host pi\n User lower\nHost PI\n User upper\n"},
		{name: "syntax", alias: "pi", config: `# comment
HOST=pi
  hostNAME = "pi.example.com"
  USER="quoted"   # trailing comment
  port=2200
  IdentityFile "~/.ssh/my key"
  identityfile ~/.ssh/es\ caped
  StrictHostKeyChecking=off
`},
		{name: "Match", alias: "pi", target: Target{User: "alice"}, config: `
Host pi
  HostName pi.lan
Match originalhost pi host pi.lan user alice
  Port 2200
Match host pi
  User never
Match !user bob localuser ` + me.Username + `
  IdentityFile ~/matched
Match host *.lan,!pi.lan
  UserKnownHostsFile /never
Match all
  HostKeyAlias all-alias
  UserKnownHostsFile ~/%k
`},
		{name: "Match user falls back to the local user", alias: "pi", config: "Match user " + me.Username + "\n Port 2200\n"},
		{name: "Include", alias: "pi", config: `
Host other
  Include DIR/conf.d/*
Host pi
  Include DIR/conf.d/*.conf
Host *
  Port 2300
`, files: map[string]string{
			"conf.d/b.conf": "User from-b\nHostName b\n",
			"conf.d/a.conf": "Host nomatch\n  HostName never\n",
			"conf.d/z.txt":  "User never\n",
		}},
		{name: "Include from an inactive block", alias: "pi", config: "Host other\n Include DIR/inc\nUser top\n",
			files: map[string]string{"inc": "Host *\n User never\n Port 2200\n"}},
		{name: "ProxyJump list", alias: "pi", config: "Host pi\n ProxyJump alice@jump1:2022,jump2\n ProxyCommand false %h\n"},
		{name: "ProxyCommand first", alias: "pi", config: "Host pi\n ProxyCommand false %h %p\nHost *\n ProxyJump j\n"},
		{name: "ProxyCommand none", alias: "pi", config: "Host pi\n ProxyCommand none\nHost *\n ProxyJump j\n ProxyCommand false\n"},
		{name: "ProxyJump none", alias: "pi", config: "Host pi\n ProxyJump none\nHost *\n ProxyJump j\n ProxyCommand false x\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			name := filepath.Join(dir, "config")
			config := strings.ReplaceAll(tt.config, "DIR", dir)
			if err := os.WriteFile(name, []byte(config), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := ParseConfig(name, strings.NewReader(config))
			if err != nil {
				t.Fatal(err)
			}
			h, err := c.Resolve(tt.alias, tt.target, opts)
			if err != nil {
				t.Fatal(err)
			}
			got := effective(h)
			want := openSSHEffective(t, name, tt.alias, tt.target)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Resolve(%q) differs from OpenSSH (-ssh +Resolve):\n%s\nconfig:\n%s", tt.alias, diff, config)
			}
		})
	}
}

// effective writes a Host as ssh -G would.
func effective(h *Host) map[string]string {
	m := map[string]string{
		"hostname":              h.HostName,
		"user":                  h.User,
		"port":                  strconv.Itoa(h.Port),
		"identityfile":          strings.Join(h.IdentityFiles, "\n"),
		"identitiesonly":        map[bool]string{true: "yes", false: "no"}[h.IdentitiesOnly],
		"userknownhostsfile":    strings.Join(h.UserKnownHostsFiles, " "),
		"globalknownhostsfile":  strings.Join(h.GlobalKnownHostsFiles, " "),
		"stricthostkeychecking": map[StrictHostKeyChecking]string{"yes": "true", "no": "false"}[h.StrictHostKeyChecking],
		"connecttimeout":        "none",
	}
	if m["stricthostkeychecking"] == "" {
		m["stricthostkeychecking"] = string(h.StrictHostKeyChecking)
	}
	if h.ConnectTimeout != 0 {
		m["connecttimeout"] = strconv.Itoa(int(h.ConnectTimeout / time.Second))
	}
	if h.ProxyJump != nil {
		m["proxyjump"] = strings.Join(h.ProxyJump, ",")
	}
	if h.ProxyCommand != "" {
		m["proxycommand"] = h.ProxyCommand
	}
	if h.HostKeyAlias != "" {
		m["hostkeyalias"] = h.HostKeyAlias
	}
	return m
}

var compared = []string{"hostname", "user", "port", "identitiesonly", "userknownhostsfile", "globalknownhostsfile",
	"stricthostkeychecking", "connecttimeout", "proxyjump", "proxycommand", "hostkeyalias"}

func sshArgs(config, alias string, target Target, extra ...string) []string {
	args := append([]string{"-F", config}, extra...)
	if target.User != "" {
		args = append(args, "-l", target.User)
	}
	if target.Port != 0 {
		args = append(args, "-p", strconv.Itoa(target.Port))
	}
	return append(args, "--", alias)
}

var (
	identityLine = regexp.MustCompile(`^debug1: identity file (.*) type -?\d+$`)
	proxyLine    = regexp.MustCompile(`^debug1: Executing proxy command: exec (.*)$`)
)

// openSSHEffective asks ssh -G and ssh -v what they make of config.
func openSSHEffective(t *testing.T, config, alias string, target Target) map[string]string {
	t.Helper()
	out, err := exec.Command("ssh", sshArgs(config, alias, target, "-G")...).Output()
	if err != nil {
		t.Fatalf("ssh -G: %v", err)
	}
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		key, value, _ := strings.Cut(sc.Text(), " ")
		if key == "identityfile" {
			continue // from ssh -v below, expanded
		}
		if key == "proxycommand" && !strings.HasPrefix(value, "false") {
			t.Fatalf("ssh -G: proxycommand %q: every proxy command here must start with false, never to reach a network", value)
		}
		m[key] = value
	}
	want := map[string]string{}
	for _, k := range compared {
		if v, ok := m[k]; ok {
			want[k] = v
		}
	}

	var extra []string
	if _, ok := m["proxycommand"]; !ok {
		extra = []string{"-o", "ProxyCommand=false"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", sshArgs(config, alias, target, append(extra, "-v", "-o", "BatchMode=yes")...)...)
	cmd.Stdin = nil
	log, _ := cmd.CombinedOutput() // it fails, as its proxy is false
	var identities []string
	sc = bufio.NewScanner(strings.NewReader(string(log)))
	for sc.Scan() {
		line := sc.Text()
		if g := identityLine.FindStringSubmatch(line); g != nil {
			if n := len(identities); n > 0 && g[1] == identities[n-1]+"-cert" {
				continue
			}
			identities = append(identities, g[1])
		}
		if g := proxyLine.FindStringSubmatch(line); g != nil && extra == nil {
			want["proxycommand"] = g[1]
		}
	}
	if len(identities) == 0 {
		t.Fatalf("ssh -v logged no identity file:\n%s", log)
	}
	want["identityfile"] = strings.Join(identities, "\n")
	return want
}
