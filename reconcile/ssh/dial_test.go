//go:build linux

package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pibake/pibake/reconcile/testhost"
)

// These tests dial the real OpenSSH sshd of a throw-away Debian root, one
// `sshd -i` per connection (see testhost.SSHD).

// logWriter sends what is written to t.Log, for sshd's and the proxy's
// stderr.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Logf("stderr: %s", bytes.TrimRight(b, "\n"))
	return len(b), nil
}

func newSSHD(t *testing.T) *testhost.SSHD {
	t.Helper()
	testhost.Skip(t)
	return testhost.New(t).SSHD(t)
}

// dialOptions dial with config and no agent, from an empty home.
func dialOptions(t *testing.T, config string) DialOptions {
	return DialOptions{
		ConfigFile:  config,
		LocalUser:   "tester",
		HomeDir:     t.TempDir(),
		AgentSocket: "none",
		Stderr:      logWriter{t},
		Timeout:     20 * time.Second,
	}
}

// hostConfig writes an ssh_config for s with its own lines, in a new file.
func hostConfig(t *testing.T, s *testhost.SSHD, lines ...string) string {
	t.Helper()
	config := fmt.Sprintf("Host %s\n  HostName %s\n  ProxyCommand %s\n", s.Alias, s.Alias, s.ProxyCommand)
	for _, l := range lines {
		config += "  " + l + "\n"
	}
	name := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(name, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func output(t *testing.T, c *Client, command string) string {
	t.Helper()
	session, err := c.NewSession()
	if err != nil {
		t.Fatalf("%s: new session: %v", c.Name, err)
	}
	defer session.Close()
	out, err := session.CombinedOutput(command)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", c.Name, command, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestDial(t *testing.T) {
	s := newSSHD(t)
	tests := []struct {
		target, wantName, wantUID string
	}{
		{target: s.Alias, wantName: "root@" + s.Alias + ":22", wantUID: "0"},
		{target: "pi@" + s.Alias, wantName: "pi@" + s.Alias + ":22", wantUID: "1000"},
		{target: "ssh://pi@" + s.Alias + ":2222", wantName: "pi@" + s.Alias + ":2222", wantUID: "1000"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			o := dialOptions(t, s.Config)
			if strings.Contains(tt.target, ":2222") {
				// The known key is filed under the port dialled.
				o.ConfigFile = hostConfig(t, s, "IdentityFile "+s.KeyFile, "StrictHostKeyChecking accept-new",
					"UserKnownHostsFile "+filepath.Join(t.TempDir(), "known_hosts"))
			}
			c, err := Dial(context.Background(), tt.target, o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Name != tt.wantName {
				t.Errorf("Name = %q, want %q", c.Name, tt.wantName)
			}
			if got := output(t, c, "id -u"); got != tt.wantUID {
				t.Errorf("id -u = %q, want %q", got, tt.wantUID)
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

// TestDialHostKeys goes through a host's life: unknown, accepted, known,
// reinstalled.
func TestDialHostKeys(t *testing.T) {
	s := newSSHD(t)
	known := filepath.Join(t.TempDir(), "known_hosts")
	o := dialOptions(t, hostConfig(t, s, "User root", "IdentityFile "+s.KeyFile, "UserKnownHostsFile "+known))
	ctx := context.Background()

	_, err := Dial(ctx, s.Alias, o)
	if !errors.Is(err, ErrUnknownHostKey) || !strings.Contains(err.Error(), "host key") || !strings.Contains(err.Error(), AcceptNewFlag) {
		t.Fatalf("Dial to an unknown host = %v, want ErrUnknownHostKey naming %s", err, AcceptNewFlag)
	}
	if _, err := os.Stat(known); err == nil {
		t.Errorf("refusing an unknown host wrote %s", known)
	}

	accept := o
	accept.AcceptNewHostKey = true
	c, err := Dial(ctx, s.Alias, accept)
	if err != nil {
		t.Fatalf("Dial with AcceptNewHostKey: %v", err)
	}
	c.Close()
	recorded, err := os.ReadFile(known)
	if err != nil || !strings.HasPrefix(string(recorded), s.Alias+" ") {
		t.Fatalf("known_hosts after accepting = %q, %v; want a line for %s", recorded, err, s.Alias)
	}

	c, err = Dial(ctx, s.Alias, o)
	if err != nil {
		t.Fatalf("Dial once the key is known: %v", err)
	}
	c.Close()

	s.RegenerateHostKeys(t)
	for _, opts := range []DialOptions{o, accept} {
		_, err = Dial(ctx, s.Alias, opts)
		if !errors.Is(err, ErrChangedHostKey) || !strings.Contains(err.Error(), known+":1") {
			t.Errorf("Dial after the host keys changed (AcceptNewHostKey %v) = %v, want ErrChangedHostKey naming %s:1",
				opts.AcceptNewHostKey, err, known)
		}
	}
	if after, _ := os.ReadFile(known); !bytes.Equal(after, recorded) {
		t.Errorf("a changed key altered known_hosts:\n%s\nwant\n%s", after, recorded)
	}
}

// TestDialKnownKeyType checks that the host key of the known type is asked
// for: sshd offers ed25519 and ECDSA, x/crypto prefers ECDSA.
func TestDialKnownKeyType(t *testing.T) {
	s := newSSHD(t)
	lines := strings.Split(strings.TrimSpace(s.HostKeysLine(t, s.Alias)), "\n")
	for _, line := range lines {
		keyType := strings.Fields(line)[1]
		t.Run(keyType, func(t *testing.T) {
			known := filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(known, []byte(line+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			o := dialOptions(t, hostConfig(t, s, "User root", "IdentityFile "+s.KeyFile, "UserKnownHostsFile "+known))
			c, err := Dial(context.Background(), s.Alias, o)
			if err != nil {
				t.Fatalf("Dial with only the %s key known: %v", keyType, err)
			}
			c.Close()
		})
	}
}

// prompter answers passphrase prompts from a list and counts them.
type prompter struct {
	mu      sync.Mutex
	answers []string
	prompts []string
	delay   time.Duration // how long the person takes to type
}

func (p *prompter) ask(prompt string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prompts = append(p.prompts, prompt)
	time.Sleep(p.delay)
	if len(p.answers) == 0 {
		return nil, errors.New("no more answers")
	}
	a := p.answers[0]
	p.answers = p.answers[1:]
	return []byte(a), nil
}

func TestDialEncryptedKey(t *testing.T) {
	s := newSSHD(t)
	key := filepath.Join(t.TempDir(), "id_encrypted")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "pass", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	s.Authorize(t, "root", pub)
	os.Remove(key + ".pub") // the public key must come from the private key file
	// The unencrypted key, tried first, is not authorised for this user.
	unauthorised := filepath.Join(t.TempDir(), "id_other")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", unauthorised).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	config := hostConfig(t, s, "User root", "IdentityFile "+unauthorised, "IdentityFile "+key, "UserKnownHostsFile "+s.KnownHosts)
	wantPrompt := "Enter passphrase for key '" + key + "': "

	tests := []struct {
		name        string
		answers     []string
		noPrompter  bool
		delay       time.Duration
		wantErr     string
		wantPrompts int
	}{
		{name: "right passphrase", answers: []string{"pass"}, wantPrompts: 1},
		{name: "slower than the timeout", answers: []string{"pass"}, delay: 2500 * time.Millisecond, wantPrompts: 1},
		{name: "right at the third try", answers: []string{"a", "b", "pass"}, wantPrompts: 3},
		{name: "wrong three times", answers: []string{"a", "b", "c", "pass"}, wantPrompts: 3,
			wantErr: "authentication failed: key " + key + ": wrong passphrase 3 times"},
		{name: "no way to ask", noPrompter: true,
			wantErr: "skipped " + key + " (encrypted, and no way to ask its passphrase)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &prompter{answers: tt.answers, delay: tt.delay}
			o := dialOptions(t, config)
			o.Timeout = 2 * time.Second
			if !tt.noPrompter {
				o.Passphrase = p.ask
			}
			c, err := Dial(context.Background(), s.Alias, o)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := output(t, c, "id -u"); got != "0" {
					t.Errorf("id -u = %q", got)
				}
				c.Close()
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Dial = %v, want an error with %q", err, tt.wantErr)
			}
			if len(p.prompts) != tt.wantPrompts {
				t.Errorf("asked %d times (%q), want %d", len(p.prompts), p.prompts, tt.wantPrompts)
			}
			for _, prompt := range p.prompts {
				if prompt != wantPrompt {
					t.Errorf("prompt %q, want %q", prompt, wantPrompt)
				}
			}
		})
	}
}

func TestDialAuthFailure(t *testing.T) {
	s := newSSHD(t)
	other := filepath.Join(t.TempDir(), "id_other")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	o := dialOptions(t, hostConfig(t, s, "User pi", "IdentityFile "+other, "UserKnownHostsFile "+s.KnownHosts))
	_, err := Dial(context.Background(), s.Alias, o)
	want := "ssh pi@" + s.Alias + ":22: authentication failed: tried keys " + other + " (agent: none"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Dial = %v, want an error with %q", err, want)
	}
}

// startAgent runs a real ssh-agent holding key, and gives its socket.
func startAgent(t *testing.T, key string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Skipf("no ssh-agent to test with (install openssh-client): %v", err)
	}
	t.Cleanup(func() {
		agent.Process.Kill()
		agent.Wait()
	})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ssh-agent made no socket in 5s")
		}
	}
	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v\n%s", err, out)
	}
	return sock
}

func TestDialAgent(t *testing.T) {
	s := newSSHD(t)
	t.Setenv("SSH_AUTH_SOCK", startAgent(t, s.KeyFile))
	other := filepath.Join(t.TempDir(), "id_other")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	tests := []struct {
		name    string
		lines   []string
		wantErr string
	}{
		{name: "no identity file", lines: nil},
		{name: "IdentitiesOnly with the agent's key", lines: []string{"IdentitiesOnly yes", "IdentityFile " + s.KeyFile + ".pub"}},
		{name: "IdentitiesOnly with another key", lines: []string{"IdentitiesOnly yes", "IdentityFile " + other},
			wantErr: "tried keys " + other + " (agent: 0 keys)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := dialOptions(t, hostConfig(t, s, append([]string{"User pi", "UserKnownHostsFile " + s.KnownHosts}, tt.lines...)...))
			o.AgentSocket = ""
			c, err := Dial(context.Background(), s.Alias, o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Dial = %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := output(t, c, "id -un"); got != "pi" {
				t.Errorf("id -un = %q", got)
			}
		})
	}
}

// TestDialProxyJump reaches a host that listens only in the jump host's
// namespace, so only through it.
func TestDialProxyJump(t *testing.T) {
	jump, inner := newSSHD(t), newSSHD(t)
	inner.Listen(t, jump, 2222)
	known := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(known, []byte(jump.HostKeysLine(t, jump.Alias)+inner.HostKeysLine(t, "[127.0.0.1]:2222")), 0o600); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`Host inner
  HostName 127.0.0.1
  Port 2222
  ProxyJump pi@%s
Host *
  User root
  IdentityFile %s
  IdentityFile %s
  UserKnownHostsFile %s
Host %s
  ProxyCommand %s
`, jump.Alias, jump.KeyFile, inner.KeyFile, known, jump.Alias, jump.ProxyCommand)
	name := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(name, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Dial(context.Background(), "inner", dialOptions(t, name))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := output(t, c, "cat /etc/ssh/ssh_host_ed25519_key.pub")
	if want := strings.Fields(inner.HostKeysLine(t, "x"))[2]; !strings.Contains(got, want) {
		t.Errorf("the host reached has key %q, want the inner host's %q", got, want)
	}
	if c.Name != "root@127.0.0.1:2222" {
		t.Errorf("Name = %q", c.Name)
	}
}

// TestDialLostLink checks that a dead connection is noticed: at once when
// sshd dies, by the keepalive when it stops answering.
func TestDialLostLink(t *testing.T) {
	tests := []struct {
		name      string
		lose      func(*testhost.SSHD, testing.TB)
		keepalive bool
	}{
		{name: "cut", lose: (*testhost.SSHD).Cut},
		{name: "frozen", lose: (*testhost.SSHD).Freeze, keepalive: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSSHD(t)
			o := dialOptions(t, s.Config)
			o.Keepalive = 50 * time.Millisecond
			c, err := Dial(context.Background(), s.Alias, o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			output(t, c, "true")
			tt.lose(s, t)
			done := make(chan error, 1)
			go func() { done <- c.Wait() }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the client did not notice the lost connection in 5s")
			}
			if got := c.KeepaliveErr() != nil; got != tt.keepalive {
				t.Errorf("KeepaliveErr() = %v, want an error: %v", c.KeepaliveErr(), tt.keepalive)
			}
		})
	}
}
