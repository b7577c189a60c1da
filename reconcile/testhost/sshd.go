//go:build linux

package testhost

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SSHD reaches a [Host] over the real OpenSSH sshd of its root, with no
// network and no port: the host gets a loopback-only network namespace, and
// each connection runs `sshd -i` (inetd mode) in it as the client's
// ProxyCommand, so one connection is one sshd process talking on the
// command's stdin and stdout.
type SSHD struct {
	host *Host
	// Name is the network namespace (ip netns) the host's sshd runs in.
	Name string
	// ProxyCommand is the shell command line that starts one sshd for one
	// connection, for ssh_config's ProxyCommand.
	ProxyCommand string
	// KeyFile is an unencrypted ed25519 client key authorised for root and
	// for "pi"; KeyFile+".pub" is its public half.
	KeyFile string
	// KnownHosts is a known_hosts file holding the host's keys, filed under
	// Alias (as ssh files a host reached by ProxyCommand: under its HostName,
	// which is Alias here).
	KnownHosts string
	// Config is an ssh_config file with a "Host Alias" block: HostName Alias,
	// User root, IdentityFile KeyFile, IdentitiesOnly yes,
	// UserKnownHostsFile KnownHosts, ProxyCommand. `ssh -F Config Alias`
	// works.
	Config string
	// Alias is the name of the host in Config.
	Alias string
}

// sshdConfig is dropped into the host's /etc/ssh/sshd_config.d. Only
// ed25519 and ECDSA host keys: both are quick to make, and two types are
// what a client must choose between. UseDNS no keeps a connection from
// waiting on a resolver the namespace does not have.
const sshdConfig = `HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
UseDNS no
`

// SSHD prepares the host to be reached over ssh, as root or as "pi" (a
// user with passwordless sudo), and gives the files a client needs. The
// host gets fresh host keys, distinct from every other host's. The
// namespace and the sshd processes in it go away when t ends.
func (h *Host) SSHD(t testing.TB) *SSHD {
	t.Helper()
	Skip(t)
	s := &SSHD{host: h, Name: "pibake-" + randomHex(t, 6)}
	s.Alias = s.Name
	dir := t.TempDir()
	s.KeyFile = filepath.Join(dir, "id_ed25519")
	s.KnownHosts = filepath.Join(dir, "known_hosts")
	s.Config = filepath.Join(dir, "ssh_config")
	s.ProxyCommand = fmt.Sprintf("ip netns exec %s chroot %s /usr/sbin/sshd -i -e", s.Name, h.Root)

	mustRun(t, "ip", "netns", "add", s.Name)
	t.Cleanup(func() {
		s.Cut(t)
		if err := run(context.Background(), "", "ip", "netns", "delete", s.Name); err != nil {
			t.Errorf("removing the test network namespace: %v", err)
		}
	})
	mustRun(t, "ip", "-n", s.Name, "link", "set", "lo", "up")

	h.WriteFile(t, "/etc/ssh/sshd_config.d/pibake-test.conf", []byte(sshdConfig), 0o644)
	if err := os.MkdirAll(h.Path("/run/sshd"), 0o755); err != nil {
		t.Fatal(err) // sshd's privilege separation directory, made by its unit at boot
	}
	s.RegenerateHostKeys(t)
	mustRun(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pibake-test", "-f", s.KeyFile)
	pub, err := os.ReadFile(s.KeyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	s.addUserPi(t)
	s.Authorize(t, "root", pub)
	s.Authorize(t, "pi", pub)
	s.writeKnownHosts(t)
	s.writeConfig(t)
	return s
}

// RegenerateHostKeys gives the host new host keys, as a reinstall would:
// clients that knew the old ones must now refuse it. KnownHosts keeps the
// old keys; [SSHD.HostKeysLine] gives the new ones.
func (s *SSHD) RegenerateHostKeys(t testing.TB) {
	t.Helper()
	for _, typ := range []string{"ed25519", "ecdsa"} {
		key := s.host.Path("/etc/ssh/ssh_host_" + typ + "_key")
		os.Remove(key)
		os.Remove(key + ".pub")
		mustRun(t, "ssh-keygen", "-q", "-t", typ, "-N", "", "-C", "", "-f", key)
	}
}

// HostKeysLine gives the host's current public keys as known_hosts lines
// for name.
func (s *SSHD) HostKeysLine(t testing.TB, name string) string {
	t.Helper()
	var b strings.Builder
	for _, typ := range []string{"ed25519", "ecdsa"} {
		pub, err := os.ReadFile(s.host.Path("/etc/ssh/ssh_host_" + typ + "_key.pub"))
		if err != nil {
			t.Fatal(err)
		}
		fields := strings.Fields(string(pub))
		if len(fields) < 2 {
			t.Fatalf("host key %s: unexpected %q", typ, pub)
		}
		fmt.Fprintf(&b, "%s %s %s\n", name, fields[0], fields[1])
	}
	return b.String()
}

func (s *SSHD) writeKnownHosts(t testing.TB) {
	t.Helper()
	if err := os.WriteFile(s.KnownHosts, []byte(s.HostKeysLine(t, s.Alias)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (s *SSHD) writeConfig(t testing.TB) {
	t.Helper()
	config := fmt.Sprintf(`Host %s
  HostName %s
  User root
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  ProxyCommand %s
`, s.Alias, s.Alias, s.KeyFile, s.KnownHosts, s.ProxyCommand)
	if err := os.WriteFile(s.Config, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
}

// addUserPi adds the user pi, as on Raspberry Pi OS: a home, a shell and
// sudo without a password.
func (s *SSHD) addUserPi(t testing.TB) {
	t.Helper()
	if _, err := s.host.Run(context.Background(), "useradd", "--create-home", "--shell", "/bin/bash", "pi"); err != nil {
		t.Fatal(err)
	}
	s.host.WriteFile(t, "/etc/sudoers.d/010_pi-nopasswd", []byte("pi ALL=(ALL) NOPASSWD: ALL\n"), 0o440)
}

// RequireSudoPassword makes pi's sudo ask for a password, password, as
// when the NOPASSWD line is gone: `sudo -n` then fails, and `sudo -S`
// takes the password on stdin.
func (s *SSHD) RequireSudoPassword(t testing.TB, password string) {
	t.Helper()
	s.host.WriteFile(t, "/etc/sudoers.d/010_pi-nopasswd", []byte("pi ALL=(ALL) ALL\n"), 0o440)
	cmd := exec.Command("chroot", s.host.Root, "chpasswd")
	cmd.Stdin = strings.NewReader("pi:" + password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("setting pi's password: %v\n%s", err, out)
	}
}

// Authorize adds the public key line pub to user's authorized_keys in the
// host, owned by that user as sshd's StrictModes wants.
func (s *SSHD) Authorize(t testing.TB, user string, pub []byte) {
	t.Helper()
	home := "/root"
	if user != "root" {
		home = "/home/" + user
	}
	script := fmt.Sprintf(`set -e
mkdir -p %[1]s/.ssh
cat >> %[1]s/.ssh/authorized_keys
chown -R %[2]s: %[1]s/.ssh
chmod 700 %[1]s/.ssh
chmod 600 %[1]s/.ssh/authorized_keys`, home, user)
	cmd := exec.Command("chroot", s.host.Root, "/bin/sh", "-c", script)
	cmd.Stdin = strings.NewReader(strings.TrimSpace(string(pub)) + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("authorising a key for %s: %v\n%s", user, err, out)
	}
}

// Cut kills every process in the host's namespace, sshd first of all: the
// connections through it die at once, with no goodbye, as when a Pi loses
// power or its link.
func (s *SSHD) Cut(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGKILL)
}

// KillSSHD kills the sshd processes in the host's namespace, and only
// them: the connections end as when the link goes, and the remote
// commands see their connection gone, while the Pi stays up.
func (s *SSHD) KillSSHD(t testing.TB) {
	t.Helper()
	for _, pid := range s.pids(t) {
		comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
		if strings.HasPrefix(string(comm), "sshd") {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// WaitIdle waits, up to 5 s, until no process runs in the host's
// namespace any more: the connections and what they ran are over.
func (s *SSHD) WaitIdle(t testing.TB) {
	t.Helper()
	var pids []int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if pids = s.pids(t); len(pids) == 0 {
			return
		}
	}
	t.Fatalf("processes still running in %s after 5 s: %v", s.Name, pids)
}

func (s *SSHD) signal(t testing.TB, signal syscall.Signal) {
	t.Helper()
	for _, pid := range s.pids(t) {
		syscall.Kill(pid, signal)
	}
}

// pids are the processes in the host's namespace.
func (s *SSHD) pids(t testing.TB) []int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "pids", s.Name).Output()
	if err != nil {
		t.Errorf("listing the processes in %s: %v", s.Name, err)
		return nil
	}
	var pids []int
	for _, field := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(field); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Freeze stops (SIGSTOP) every process in the host's namespace: the
// connections stay open but nothing answers, as when a link dies without a
// word. Cut, or the end of the test, kills them.
func (s *SSHD) Freeze(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGSTOP)
}

// Listen runs the host's sshd as a daemon listening on 127.0.0.1:port in
// the namespace of via (another host's SSHD), so that the host is reached
// only through via: a jump host. It returns once sshd is listening, and
// stops it when t ends. The host must have been prepared with [Host.SSHD].
func (s *SSHD) Listen(t testing.TB, via *SSHD, port int) {
	t.Helper()
	pidFile := "/run/sshd-" + strconv.Itoa(port) + ".pid"
	cmd := exec.Command("ip", "netns", "exec", via.Name, "chroot", s.host.Root, "/usr/sbin/sshd", "-D", "-e",
		"-p", strconv.Itoa(port), "-o", "ListenAddress=127.0.0.1", "-o", "PidFile="+pidFile)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sshd: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	// sshd writes its pid file once it listens.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(s.host.Path(pidFile)); err == nil {
			return
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("sshd -D -p %d in %s: %v\n%s", port, via.Name, err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			done <- <-done
			t.Fatalf("sshd -D -p %d in %s: not listening after 10s\n%s", port, via.Name, stderr.String())
		}
	}
}

func mustRun(t testing.TB, argv ...string) {
	t.Helper()
	if err := run(context.Background(), "", argv...); err != nil {
		t.Fatal(err)
	}
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
