package ssh

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	cryptossh "golang.org/x/crypto/ssh"
)

func newKey(t *testing.T) cryptossh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := cryptossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func authorized(key cryptossh.PublicKey) string {
	return strings.TrimSpace(string(cryptossh.MarshalAuthorizedKey(key)))
}

var remote = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}

func TestHostKeyCallback(t *testing.T) {
	known, other, revoked := newKey(t), newKey(t), newKey(t)
	tests := []struct {
		name     string
		lines    string // the user's known_hosts; KNOWN, OTHER and REVOKED are keys
		hostname string // as the dialer passes it, host:port
		policy   Policy
		opts     KnownHostsOptions
		key      cryptossh.PublicKey
		wantErr  []string // parts of the error; none: accepted
		is       error
	}{
		{name: "known", lines: "pi KNOWN\n", hostname: "pi:22", key: known},
		{name: "known among patterns", lines: "web,pi*,!pi9 KNOWN\n", hostname: "pi4:22", key: known},
		{name: "negated pattern", lines: "pi*,!pi9 KNOWN\n", hostname: "pi9:22", key: known,
			wantErr: []string{"pi9", "host key", "--accept-new-host-key"}, is: ErrUnknownHostKey},
		{name: "unknown refused by default", lines: "other KNOWN\n", hostname: "pi:22", key: known,
			wantErr: []string{"pi", "host key", "--accept-new-host-key", "SHA256:"}, is: ErrUnknownHostKey},
		{name: "changed", lines: "# comment\npi KNOWN\n", hostname: "pi:22", key: other,
			wantErr: []string{"host key", "changed", "known_hosts:2"}, is: ErrChangedHostKey},
		{name: "changed even with accept-new", lines: "pi KNOWN\n", hostname: "pi:22", key: other, policy: AcceptNew,
			wantErr: []string{"host key", "changed", "known_hosts:1"}, is: ErrChangedHostKey},
		{name: "revoked", lines: "@revoked * REVOKED\npi REVOKED\n", hostname: "pi:22", key: revoked, policy: AcceptNew,
			wantErr: []string{"host key", "revoked", "known_hosts:1"}, is: ErrRevokedHostKey},
		{name: "port other than 22", lines: "[pi]:2222 KNOWN\n", hostname: "pi:2222", key: known},
		{name: "port 22 entry is not port 2222", lines: "pi KNOWN\n", hostname: "pi:2222", key: known,
			wantErr: []string{"[pi]:2222", "host key"}, is: ErrUnknownHostKey},
		{name: "HostKeyAlias", lines: "pi-key KNOWN\n", hostname: "10.0.0.7:2222", key: known,
			opts: KnownHostsOptions{HostKeyAlias: "pi-key"}},
		{name: "HostKeyAlias changed", lines: "pi-key KNOWN\n10.0.0.7 OTHER\n", hostname: "10.0.0.7:22", key: other,
			opts: KnownHostsOptions{HostKeyAlias: "pi-key"}, wantErr: []string{"pi-key", "changed", "known_hosts:1"}, is: ErrChangedHostKey},
		{name: "cert-authority is not trusted", lines: "@cert-authority * KNOWN\n", hostname: "pi:22", key: known,
			wantErr: []string{"host key"}, is: ErrUnknownHostKey},
		{name: "cert-authority does not make another key changed", lines: "@cert-authority pi KNOWN\n", hostname: "pi:22", key: other,
			wantErr: []string{"host key"}, is: ErrUnknownHostKey},
		{name: "changed next to a cert-authority line names the file", lines: "@cert-authority * OTHER\n@revoked * REVOKED\npi KNOWN\n", hostname: "pi:22", key: other,
			wantErr: []string{"changed", "/known_hosts:3"}, is: ErrChangedHostKey},
		{name: "revoked next to a cert-authority line names the file", lines: "@cert-authority * OTHER\n@revoked * REVOKED\n", hostname: "pi:22", key: revoked,
			wantErr: []string{"revoked", "/known_hosts:2"}, is: ErrRevokedHostKey},
		{name: "global file is read", hostname: "pi:22", key: known, opts: KnownHostsOptions{GlobalFiles: []string{"GLOBAL"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "known_hosts")
			lines := strings.NewReplacer("KNOWN", authorized(known), "OTHER", authorized(other), "REVOKED", authorized(revoked)).Replace(tt.lines)
			if tt.lines != "" {
				if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if len(tt.opts.GlobalFiles) > 0 {
				global := filepath.Join(dir, "global")
				if err := os.WriteFile(global, []byte("pi "+authorized(known)+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				tt.opts.GlobalFiles = []string{global}
			}
			callback, err := HostKeyCallback([]string{file, filepath.Join(dir, "missing")}, tt.policy, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			err = callback(tt.hostname, remote, tt.key)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("callback(%q) = %v, want nil", tt.hostname, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("callback(%q) = nil, want an error saying %q", tt.hostname, tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("callback(%q) = %q, want it to say %q", tt.hostname, err, want)
				}
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("callback(%q) = %v, want errors.Is %v", tt.hostname, err, tt.is)
			}
			if after, _ := os.ReadFile(file); string(after) != lines {
				t.Errorf("a refused key changed %s:\n%s", file, after)
			}
		})
	}
}

// TestHostKeyCallbackHashedBySSHKeygen reads entries hashed by the real
// ssh-keygen -H.
func TestHostKeyCallbackHashedBySSHKeygen(t *testing.T) {
	sshKeygen(t)
	key := newKey(t)
	file := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(file, []byte(fmt.Sprintf("pi %s\n[pi5]:2222 %s\n", authorized(key), authorized(key))), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-H", "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -H: %v\n%s", err, out)
	}
	content, _ := os.ReadFile(file)
	// Only a line's start tells: "pi" can turn up in base64.
	if strings.Contains(string(content), "\npi") || strings.Contains(string(content), "\n[pi5]") || !strings.HasPrefix(string(content), "|1|") {
		t.Fatalf("ssh-keygen -H left %s unhashed:\n%s", file, content)
	}
	callback, err := HostKeyCallback([]string{file}, Strict, KnownHostsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, hostname := range []string{"pi:22", "pi5:2222"} {
		if err := callback(hostname, remote, key); err != nil {
			t.Errorf("callback(%q) with a hashed entry = %v", hostname, err)
		}
	}
	if err := callback("pi5:22", remote, key); !errors.Is(err, ErrUnknownHostKey) {
		t.Errorf("callback(pi5:22) = %v, want %v", err, ErrUnknownHostKey)
	}
	if err := callback("pi:22", remote, newKey(t)); !errors.Is(err, ErrChangedHostKey) || !strings.Contains(err.Error(), file+":1") {
		t.Errorf("callback(pi:22) with another key = %v, want %v naming %s:1", err, ErrChangedHostKey, file)
	}
}

func sshKeygen(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen is not installed (openssh-client): the entries cannot be judged by OpenSSH")
	}
}

func TestHostKeyCallbackAcceptNew(t *testing.T) {
	sshKeygen(t)
	tests := []struct {
		name      string
		existing  string // content of the first file; "" for none, and no ~/.ssh
		mode      os.FileMode
		hostname  string
		opts      KnownHostsOptions
		lookup    string // what ssh-keygen -F must find
		wantMode  os.FileMode
		wantHash  bool
		blockMain bool // the first file cannot be written: the second gets the key
	}{
		{name: "new file and ~/.ssh", hostname: "pi:22", lookup: "pi", wantMode: 0o600},
		{name: "appended, mode kept", existing: "other ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl", mode: 0o644,
			hostname: "pi:22", lookup: "pi", wantMode: 0o644},
		{name: "port other than 22", hostname: "pi:2222", lookup: "[pi]:2222", wantMode: 0o600},
		{name: "hashed", hostname: "pi:2222", opts: KnownHostsOptions{Hash: true}, lookup: "[pi]:2222", wantMode: 0o600, wantHash: true},
		{name: "HostKeyAlias", hostname: "10.0.0.7:2222", opts: KnownHostsOptions{HostKeyAlias: "pi-key"}, lookup: "pi-key", wantMode: 0o600},
		{name: "first file unwritable", hostname: "pi:22", lookup: "pi", wantMode: 0o600, blockMain: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			file := filepath.Join(home, ".ssh", "known_hosts")
			second := filepath.Join(home, ".ssh", "known_hosts2")
			if tt.existing != "" {
				if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, []byte(tt.existing), tt.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(file, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			files := []string{file, second}
			if tt.blockMain {
				// Even root cannot make a directory where a file stands.
				blocker := filepath.Join(home, "blocker")
				if err := os.WriteFile(blocker, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				files = []string{filepath.Join(blocker, "known_hosts"), file}
			}
			key := newKey(t)
			var logged []string
			tt.opts.Logf = func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
			callback, err := HostKeyCallback(files, AcceptNew, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := callback(tt.hostname, remote, key); err != nil {
				t.Fatalf("callback(%q) = %v, want the key accepted", tt.hostname, err)
			}
			if info, err := os.Stat(filepath.Dir(file)); err != nil || info.Mode().Perm() != 0o700 {
				t.Errorf("~/.ssh = %v, %v; want a 0700 directory", info.Mode(), err)
			}
			info, err := os.Stat(file)
			if err != nil || info.Mode().Perm() != tt.wantMode {
				t.Fatalf("%s: mode %v, %v; want %v", file, info.Mode(), err, tt.wantMode)
			}
			content, _ := os.ReadFile(file)
			if tt.existing != "" && !strings.HasPrefix(string(content), tt.existing+"\n") {
				t.Errorf("%s lost its old content:\n%s", file, content)
			}
			out, err := exec.Command("ssh-keygen", "-F", tt.lookup, "-f", file).CombinedOutput()
			if err != nil || !strings.Contains(string(out), authorized(key)) {
				t.Fatalf("ssh-keygen -F %s -f %s: %v, did not find the key added:\n%s\nfile:\n%s", tt.lookup, file, err, out, content)
			}
			if hashed := strings.Contains(string(content), "|1|"); hashed != tt.wantHash {
				t.Errorf("%s hashed = %v, want %v:\n%s", file, hashed, tt.wantHash, content)
			}
			if len(logged) != 1 || !strings.Contains(logged[0], file) {
				t.Errorf("logged %q, want one line naming %s", logged, file)
			}
			entries, _ := os.ReadDir(filepath.Dir(file))
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
			// Next time the key is known, even under Strict.
			callback, err = HostKeyCallback(files, Strict, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := callback(tt.hostname, remote, key); err != nil {
				t.Errorf("callback(%q) after accepting = %v", tt.hostname, err)
			}
			if err := callback(tt.hostname, remote, newKey(t)); !errors.Is(err, ErrChangedHostKey) {
				t.Errorf("callback(%q) with another key after accepting = %v, want %v", tt.hostname, err, ErrChangedHostKey)
			}
		})
	}
}
