//go:build linux

package testhost

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// ssh runs the real OpenSSH client with s's config.
func ssh(t *testing.T, s *SSHD, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("ssh", append([]string{"-F", s.Config, "-o", "BatchMode=yes"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func needSSH(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no OpenSSH client to judge the harness with: install openssh-client")
	}
}

// TestSSHD checks the harness with the real OpenSSH client: root and pi get
// in with the key, pi's sudo works without a password until it is made to
// need one, and host keys are fresh per host.
func TestSSHD(t *testing.T) {
	Skip(t)
	needSSH(t)
	s := New(t).SSHD(t)
	tests := []struct {
		name, user, command, stdin, want string
	}{
		{name: "root", user: "root", command: "id -u", want: "0"},
		{name: "pi", user: "pi", command: "id -un", want: "pi"},
		{name: "pi sudo", user: "pi", command: "sudo -n id -u", want: "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := ssh(t, s, "-l", tt.user, s.Alias, tt.command)
			if err != nil || !strings.Contains(out, tt.want) {
				t.Errorf("ssh %s@%s %s = %q, %v; want %q", tt.user, s.Alias, tt.command, out, err, tt.want)
			}
		})
	}

	s.RequireSudoPassword(t, "raspberry")
	if out, err := ssh(t, s, "-l", "pi", s.Alias, "sudo -n true"); err == nil {
		t.Errorf("sudo -n after RequireSudoPassword worked: %s", out)
	}
	if out, err := ssh(t, s, "-l", "pi", s.Alias, "echo raspberry | sudo -S -p '' id -u"); err != nil || !strings.Contains(out, "0") {
		t.Errorf("sudo -S with the password = %q, %v", out, err)
	}

	other := New(t).SSHD(t)
	if a, b := s.HostKeysLine(t, "x"), other.HostKeysLine(t, "x"); a == b {
		t.Error("two hosts have the same host keys")
	}
	old := s.HostKeysLine(t, "x")
	s.RegenerateHostKeys(t)
	if s.HostKeysLine(t, "x") == old {
		t.Error("RegenerateHostKeys kept the keys")
	}
	out, err := ssh(t, s, s.Alias, "true")
	if err == nil || !strings.Contains(out, "HOST IDENTIFICATION HAS CHANGED") {
		t.Errorf("ssh after RegenerateHostKeys = %q, %v; want a changed host key", out, err)
	}
}

// TestSSHDCut checks that Cut ends a live connection.
func TestSSHDCut(t *testing.T) {
	Skip(t)
	needSSH(t)
	s := New(t).SSHD(t)
	cmd := exec.Command("ssh", "-F", s.Config, "-o", "BatchMode=yes", s.Alias, "echo up; sleep 60")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := stdout.Read(buf); err != nil || string(buf) != "up\n" {
		t.Fatalf("reading the session: %q, %v", buf, err)
	}
	s.Cut(t)
	if err := cmd.Wait(); err == nil {
		t.Error("ssh succeeded after Cut")
	}
}

// TestListen checks a host reached only through another, with ssh -J.
func TestListen(t *testing.T) {
	Skip(t)
	needSSH(t)
	jump := New(t).SSHD(t)
	inner := New(t).SSHD(t)
	inner.Listen(t, jump, 2222)
	known := t.TempDir() + "/known_hosts"
	if err := os.WriteFile(known, []byte(inner.HostKeysLine(t, "[127.0.0.1]:2222")+jump.HostKeysLine(t, jump.Alias)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ssh", "-F", jump.Config, "-o", "BatchMode=yes", "-o", "UserKnownHostsFile="+known,
		"-i", inner.KeyFile, "-J", jump.Alias, "-p", "2222", "root@127.0.0.1", "cat /etc/ssh/ssh_host_ed25519_key.pub").CombinedOutput()
	innerKey := strings.Fields(inner.HostKeysLine(t, "x"))[2]
	if err != nil || !strings.Contains(string(out), innerKey) {
		t.Errorf("ssh -J = %q, %v; want the inner host's key", out, err)
	}
}
