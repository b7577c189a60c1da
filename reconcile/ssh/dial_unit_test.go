package ssh

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"
)

func writeConfig(t *testing.T, config string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(name, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestDialProxyFailures needs no sshd: the proxy fails or hangs.
func TestDialProxyFailures(t *testing.T) {
	tests := []struct {
		name, command string
		timeout       time.Duration
		want          []string
	}{
		{name: "exits", command: "echo no route to robot >&2; exit 3",
			want: []string{"ssh pi@robot1:22: connecting: proxy command", "exit status 3", "no route to robot"}},
		{name: "hangs", command: "sleep 30", timeout: 300 * time.Millisecond,
			want: []string{"ssh pi@robot1:22: connecting: timed out after 300ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := writeConfig(t, "Host robot1\n  User pi\n  ProxyCommand "+tt.command+"\n")
			start := time.Now()
			_, err := Dial(context.Background(), "robot1", DialOptions{
				ConfigFile: config, LocalUser: "tester", HomeDir: t.TempDir(), AgentSocket: "none", Timeout: tt.timeout,
			})
			if err == nil {
				t.Fatal("Dial worked")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Dial = %v, want an error with %q", err, want)
				}
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("Dial took %s", elapsed)
			}
		})
	}
}

func TestDialCancel(t *testing.T) {
	config := writeConfig(t, "Host robot1\n  ProxyCommand sleep 30\n")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := Dial(ctx, "robot1", DialOptions{ConfigFile: config, LocalUser: "tester", HomeDir: t.TempDir(), AgentSocket: "none"})
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("Dial cancelled = %v, want context canceled", err)
	}
}

func TestKnownHostsMatch(t *testing.T) {
	hashed := knownhosts.HashHostname("robot1")
	tests := []struct {
		patterns []string
		address  string
		want     bool
	}{
		{[]string{"robot1"}, "robot1", true},
		{[]string{"robot2", "robot1"}, "robot1", true},
		{[]string{"robot1"}, "[robot1]:2222", false},
		{[]string{"[robot1]:2222"}, "[robot1]:2222", true},
		{[]string{"robot*"}, "robot1", true},
		{[]string{"robot*", "!robot1"}, "robot1", false},
		{[]string{hashed}, "robot1", true},
		{[]string{hashed}, "robot2", false},
		{[]string{"|1|bad"}, "robot1", false},
	}
	for _, tt := range tests {
		if got := knownHostsMatch(tt.patterns, tt.address); got != tt.want {
			t.Errorf("knownHostsMatch(%q, %q) = %v, want %v", tt.patterns, tt.address, got, tt.want)
		}
	}
}

func TestHostKeyAlgorithms(t *testing.T) {
	dir := t.TempDir()
	known := filepath.Join(dir, "known_hosts")
	// A real ed25519 public key; the type is what counts.
	line := "[robot1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHgMr2xpC661tpn1xPqT4QkUmLcN1fuCBUnpLt9SWmsK\n"
	if err := os.WriteFile(known, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		host      Host
		wantFirst string
	}{
		{name: "known", host: Host{HostName: "robot1", Port: 2222, UserKnownHostsFiles: []string{known}}, wantFirst: "ssh-ed25519"},
		{name: "other port", host: Host{HostName: "robot1", Port: 22, UserKnownHostsFiles: []string{known}}},
		{name: "missing file", host: Host{HostName: "robot1", Port: 2222, UserKnownHostsFiles: []string{filepath.Join(dir, "none")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hostKeyAlgorithms(&tt.host)
			if tt.wantFirst == "" {
				if got != nil {
					t.Errorf("hostKeyAlgorithms = %q, want nil (x/crypto's defaults)", got)
				}
				return
			}
			if len(got) == 0 || got[0] != tt.wantFirst {
				t.Errorf("hostKeyAlgorithms = %q, want %s first", got, tt.wantFirst)
			}
		})
	}
}
