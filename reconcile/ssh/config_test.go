package ssh

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testHome makes a home directory holding .ssh/config and the other files
// given, by path under .ssh.
func testHome(t *testing.T, files map[string]string) string {
	t.Helper()
	home := t.TempDir()
	for name, content := range files {
		p := filepath.Join(home, ".ssh", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

func resolveIn(t *testing.T, home, alias string, target Target) (*Host, error) {
	t.Helper()
	name := filepath.Join(home, ".ssh", "config")
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := ParseConfig(name, f)
	if err != nil {
		return nil, err
	}
	return c.Resolve(alias, target, Options{LocalUser: "me", HomeDir: home})
}

func TestResolve(t *testing.T) {
	// Each case names the fields it judges; Home in a want is replaced by
	// the test's home directory.
	tests := []struct {
		name   string
		files  map[string]string
		alias  string
		target Target
		want   func(h *Host) any
		expect any
	}{
		{
			name:  "defaults",
			files: map[string]string{"config": ""},
			alias: "pi",
			want: func(h *Host) any {
				return []any{h.HostName, h.User, h.Port, h.StrictHostKeyChecking, h.ConnectTimeout, h.ProxyJump, h.ProxyCommand}
			},
			expect: []any{"pi", "me", 22, StrictHostKeyChecking("ask"), time.Duration(0), []string(nil), ""},
		},
		{
			name:  "default known hosts and identities",
			files: map[string]string{"config": ""},
			alias: "pi",
			want: func(h *Host) any {
				return [][]string{h.UserKnownHostsFiles, h.GlobalKnownHostsFiles, h.IdentityFiles[:1]}
			},
			expect: [][]string{{"HOME/.ssh/known_hosts", "HOME/.ssh/known_hosts2"}, {"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}, {"HOME/.ssh/id_rsa"}},
		},
		{
			name: "first obtained value wins",
			files: map[string]string{"config": `
Host pi
  User first
  Port 2200
Host *
  User second
  Port 2300
  HostName fallback
`},
			alias:  "pi",
			want:   func(h *Host) any { return []any{h.User, h.Port, h.HostName} },
			expect: []any{"first", 2200, "fallback"},
		},
		{
			name:   "the target's user and port win over the config",
			files:  map[string]string{"config": "Host pi\n User cfg\n Port 2200\n"},
			alias:  "pi",
			target: Target{User: "cli", Host: "pi", Port: 2222},
			want:   func(h *Host) any { return []any{h.User, h.Port} },
			expect: []any{"cli", 2222},
		},
		{
			name:   "target host is the alias when none is given",
			files:  map[string]string{"config": "Host pi\n HostName 10.0.0.7\n"},
			target: Target{Host: "pi"},
			want:   func(h *Host) any { return []any{h.Alias, h.HostName} },
			expect: []any{"pi", "10.0.0.7"},
		},
		{
			name: "several patterns, wildcards and negation",
			files: map[string]string{"config": `
Host web? db*.lan !db-old.lan
  User a
Host *.lan
  User b
`},
			alias:  "db-old.lan",
			want:   func(h *Host) any { return h.User },
			expect: "b",
		},
		{
			name:   "a negated pattern alone matches nothing",
			files:  map[string]string{"config": "Host !other\n User a\n"},
			alias:  "pi",
			want:   func(h *Host) any { return h.User },
			expect: "me",
		},
		{
			name:   "? is one character",
			files:  map[string]string{"config": "Host web?\n User a\n"},
			alias:  "web12",
			want:   func(h *Host) any { return h.User },
			expect: "me",
		},
		{
			name:   "Host patterns are case-sensitive, HostName is lower-cased",
			files:  map[string]string{"config": "Host pi\n User a\nHost PI\n HostName Pi.LAN\n"},
			alias:  "PI",
			want:   func(h *Host) any { return []any{h.User, h.HostName} },
			expect: []any{"me", "pi.lan"},
		},
		{
			name: "keywords in any case, key=value forms, quotes, comments",
			files: map[string]string{"config": `# a comment
   # an indented comment
HOST=pi
  hostNAME = "pi.example.com"
  USER="a user"   # trailing comment
  port=2200
  IdentityFile "~/.ssh/my key"
  IdentityFile '~/.ssh/other key'
  identityfile ~/.ssh/es\ caped
`},
			alias:  "pi",
			want:   func(h *Host) any { return []any{h.HostName, h.User, h.Port, h.IdentityFiles} },
			expect: []any{"pi.example.com", "a user", 2200, []string{"HOME/.ssh/my key", "HOME/.ssh/other key", "HOME/.ssh/es caped"}},
		},
		{
			name:   "unknown keywords are ignored",
			files:  map[string]string{"config": "Host pi\n NoSuchKeyword 1 2 3\n User a\n"},
			alias:  "pi",
			want:   func(h *Host) any { return h.User },
			expect: "a",
		},
		{
			name: "tokens",
			files: map[string]string{"config": `
Host pi
  HostName %h.lan
  User bob
  Port 2200
  IdentityFile ~/.ssh/%r@%h:%p-%n-%u-%%
  IdentityFile %d/keys/%n
  ProxyCommand nc -x proxy %h %p # %r %n %%
  UserKnownHostsFile ~/kh/%h %d/kh2
  HostKeyAlias pi-key
  GlobalKnownHostsFile /etc/%k ~/g
`},
			alias: "pi",
			want: func(h *Host) any {
				return []any{h.HostName, h.IdentityFiles, h.ProxyCommand, h.UserKnownHostsFiles, h.GlobalKnownHostsFiles}
			},
			expect: []any{"pi.lan", []string{"HOME/.ssh/bob@pi.lan:2200-pi-me-%", "HOME/keys/pi"},
				"nc -x proxy pi.lan 2200 # bob pi %", []string{"HOME/kh/pi.lan", "HOME/kh2"}, []string{"/etc/%k", "~/g"}},
		},
		{
			name:   "ProxyJump list",
			files:  map[string]string{"config": "Host pi\n ProxyJump alice@jump1:2022,jump2,ssh://[::1]:22\n ProxyCommand nc %h %p\n"},
			alias:  "pi",
			want:   func(h *Host) any { return []any{h.ProxyJump, h.ProxyCommand} },
			expect: []any{[]string{"alice@jump1:2022", "jump2", "ssh://[::1]:22"}, ""},
		},
		{
			name:   "ProxyCommand first blocks ProxyJump",
			files:  map[string]string{"config": "Host pi\n ProxyCommand nc %h %p\nHost *\n ProxyJump j\n"},
			alias:  "pi",
			want:   func(h *Host) any { return []any{h.ProxyJump, h.ProxyCommand} },
			expect: []any{[]string(nil), "nc pi 22"},
		},
		{
			name:   "ProxyCommand none blocks ProxyJump too",
			files:  map[string]string{"config": "Host pi\n ProxyCommand none\nHost *\n ProxyJump j\n ProxyCommand nc\n"},
			alias:  "pi",
			want:   func(h *Host) any { return []any{h.ProxyJump, h.ProxyCommand} },
			expect: []any{[]string(nil), ""},
		},
		{
			name:   "ProxyJump none blocks later jumps, not a later ProxyCommand",
			files:  map[string]string{"config": "Host pi\n ProxyJump none\nHost *\n ProxyJump j\n ProxyCommand nc x\n"},
			alias:  "pi",
			want:   func(h *Host) any { return []any{h.ProxyJump, h.ProxyCommand} },
			expect: []any{[]string(nil), "nc x"},
		},
		{
			name: "host key settings",
			files: map[string]string{"config": `
Host pi
  StrictHostKeyChecking off
  StrictHostKeyChecking yes
  HashKnownHosts yes
  IdentitiesOnly yes
  ConnectTimeout 1m30s
`},
			alias: "pi",
			want: func(h *Host) any {
				return []any{h.StrictHostKeyChecking, h.StrictHostKeyChecking.Policy(), h.HashKnownHosts, h.IdentitiesOnly, h.ConnectTimeout}
			},
			expect: []any{StrictHostKeyChecking("no"), AcceptNew, true, true, 90 * time.Second},
		},
		{
			name: "Match host sees the HostName set so far, originalhost the alias",
			files: map[string]string{"config": `
Host pi
  HostName %h.lan
Match originalhost pi host pi.lan
  User matched
Match host pi
  Port 2200
`},
			alias:  "pi",
			want:   func(h *Host) any { return []any{h.User, h.Port} },
			expect: []any{"matched", 22},
		},
		{
			name: "Match user sees the target's user, localuser the local one",
			files: map[string]string{"config": `
Match user alice localuser m?
  Port 2200
Match !user alice
  Port 2300
Match all
  IdentityFile ~/all
`},
			alias:  "pi",
			target: Target{User: "alice"},
			want:   func(h *Host) any { return []any{h.Port, h.IdentityFiles} },
			expect: []any{2200, []string{"HOME/all"}},
		},
		{
			name: "Match lists with negation",
			files: map[string]string{"config": `
Match host *.lan,!db.lan
  User a
Match host db.LAN
  User b
`},
			alias:  "db.lan",
			want:   func(h *Host) any { return h.User },
			expect: "b",
		},
		{
			name: "Include: relative to ~/.ssh, glob in order, conditional",
			files: map[string]string{
				"config": `
Host other
  Include conf.d/*
Host pi
  Include conf.d/*.conf
Host *
  Port 2300
`,
				"conf.d/b.conf": "User from-b\nHostName b\n",
				"conf.d/a.conf": "Host nomatch\n  HostName never\n",
				"conf.d/z.txt":  "User never\n",
			},
			alias: "pi",
			want:  func(h *Host) any { return []any{h.User, h.HostName, h.Port} },
			// a.conf's Host line ends its own block only, and after it b.conf is read
			// fresh: its lines apply because the Include stands in an active block.
			expect: []any{"from-b", "b", 2300},
		},
		{
			name: "Include from an inactive block never matches",
			files: map[string]string{
				"config": "Host other\n Include inc\n",
				"inc":    "Host *\n User never\n",
			},
			alias:  "pi",
			want:   func(h *Host) any { return h.User },
			expect: "me",
		},
		{
			name:   "Include of nothing is no error",
			files:  map[string]string{"config": "Include ~/.ssh/none.d/*\n"},
			alias:  "pi",
			want:   func(h *Host) any { return h.User },
			expect: "me",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := testHome(t, tt.files)
			h, err := resolveIn(t, home, tt.alias, tt.target)
			if err != nil {
				t.Fatal(err)
			}
			got := tt.want(h)
			want := replaceHome(tt.expect, home)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Resolve(%q) (-want +got):\n%s", tt.alias, diff)
			}
		})
	}
}

// replaceHome puts home for HOME in the strings of v.
func replaceHome(v any, home string) any {
	switch v := v.(type) {
	case string:
		return strings.ReplaceAll(v, "HOME", home)
	case []string:
		if v == nil {
			return v
		}
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = strings.ReplaceAll(s, "HOME", home)
		}
		return out
	case [][]string:
		out := make([][]string, len(v))
		for i, s := range v {
			out[i] = replaceHome(s, home).([]string)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = replaceHome(s, home)
		}
		return out
	}
	return v
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string // the whole FILE:LINE prefix, FILE relative to ~/.ssh, then a part
		is      error
	}{
		{name: "match exec", files: map[string]string{"config": "\nMatch exec \"true\"\n"}, wantErr: "config:2: match exec", is: ErrUnsupported},
		{name: "match canonical", files: map[string]string{"config": "Match canonical\n"}, wantErr: "config:1: match canonical", is: ErrUnsupported},
		{name: "match all with more", files: map[string]string{"config": "Match all host x\n"}, wantErr: "config:1: match: 'all' cannot be combined"},
		{name: "match without argument", files: map[string]string{"config": "Match host\n"}, wantErr: "config:1: match: host needs an argument"},
		{name: "bad port in a block that never matches", files: map[string]string{"config": "Host never\n Port 99999\n"}, wantErr: `config:2: port: bad port "99999"`},
		{name: "unterminated quote", files: map[string]string{"config": "User \"pi\n"}, wantErr: "config:1: user: unterminated quote"},
		{name: "bad strict", files: map[string]string{"config": "StrictHostKeyChecking maybe\n"}, wantErr: `config:1: stricthostkeychecking: want yes, no, ask, accept-new or off, got "maybe"`},
		{name: "bad timeout", files: map[string]string{"config": "ConnectTimeout soon\n"}, wantErr: `config:1: connecttimeout: bad time "soon"`},
		{name: "bad jump", files: map[string]string{"config": "ProxyJump a,,b\n"}, wantErr: "config:1: proxyjump: jump host \"\""},
		{name: "two users", files: map[string]string{"config": "User a b\n"}, wantErr: "config:1: user: want one argument, got 2"},
		{name: "unknown token", files: map[string]string{"config": "IdentityFile ~/.ssh/%C\n"}, wantErr: "config:1: \"HOME/.ssh/%C\": token %C", is: ErrUnsupported},
		{name: "unknown token in HostName", files: map[string]string{"config": "HostName %r.lan\n"}, wantErr: "config:1: \"%r.lan\": token %r", is: ErrUnsupported},
		{name: "error inside an included file", files: map[string]string{"config": "Include inc.d/*\n", "inc.d/x": "\n\nMatch exec foo\n"}, wantErr: "inc.d/x:3: match exec", is: ErrUnsupported},
		{name: "include loop", files: map[string]string{"config": "Include config\n"}, wantErr: "config:1: include: more than 16 levels deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := testHome(t, tt.files)
			h, err := resolveIn(t, home, "pi", Target{})
			want := filepath.Join(home, ".ssh") + "/" + strings.ReplaceAll(tt.wantErr, "HOME", home)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("Resolve = %+v, %v; want an error starting %q", h, err, want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Resolve error %v is not %v", err, tt.is)
			}
		})
	}
}

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		s, pattern string
		want       bool
	}{
		{"pi", "pi", true}, {"pi", "p?", true}, {"pi", "?", false}, {"pi", "*", true},
		{"", "*", true}, {"a.b.c", "*.c", true}, {"a.b.c", "a*c", true}, {"abc", "a*b", false},
		{"web1", "web**1", true}, {"x", "", false},
	}
	for _, tt := range tests {
		if got := matchPattern(tt.s, tt.pattern); got != tt.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", tt.s, tt.pattern, got, tt.want)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add("Host pi\n  User a\nMatch host x user y\n ProxyJump a@b:2,c\n")
	f.Add("IdentityFile \"~/a b\" # c\nPort=22\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConfig("fuzz", strings.NewReader(s))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz:") {
				t.Fatalf("ParseConfig error %q does not name fuzz:LINE", err)
			}
			return
		}
		// No Include can be followed: the home has no .ssh.
		_, _ = c.Resolve("pi", Target{}, Options{LocalUser: "me", HomeDir: t.TempDir()})
	})
}
