//go:build linux

package ssh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	cryptossh "golang.org/x/crypto/ssh"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/systemtest"
	"github.com/pibake/pibake/reconcile/testhost"
)

// pipeConn is a net.Conn over a command's stdin and stdout.
type pipeConn struct {
	io.Reader
	io.WriteCloser
	cmd *exec.Cmd
}

func (c *pipeConn) Close() error {
	c.WriteCloser.Close()
	c.cmd.Process.Kill()
	c.cmd.Wait()
	return nil
}
func (c *pipeConn) LocalAddr() net.Addr                { return &net.UnixAddr{Name: "local", Net: "unix"} }
func (c *pipeConn) RemoteAddr() net.Addr               { return &net.UnixAddr{Name: "sshd", Net: "unix"} }
func (c *pipeConn) SetDeadline(t time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(t time.Time) error { return nil }

// sshTestHost starts a throw-away host and connects to its sshd -i as user.
func sshTestHost(t *testing.T, user string) (*testhost.Host, *cryptossh.Client) {
	t.Helper()
	h := testhost.New(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := cryptossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := cryptossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	home := "/root"
	if user != "root" {
		home = "/home/" + user
		if out, err := h.Run(context.Background(), "useradd", "-m", "-s", "/bin/bash", user); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		h.WriteFile(t, "/etc/sudoers.d/"+user, []byte(user+" ALL=(ALL) NOPASSWD: ALL\n"), 0o440)
	}
	h.WriteFile(t, home+"/.ssh/authorized_keys", cryptossh.MarshalAuthorizedKey(sshPub), 0o600)
	if user != "root" {
		if out, err := h.Run(context.Background(), "chown", "-R", user+":", home+"/.ssh"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	testSigners[h] = signer
	return h, dialTestHost(t, h, user)
}

// testSigners are the client keys of the test hosts.
var testSigners = map[*testhost.Host]cryptossh.Signer{}

// dialTestHost makes a new connection to h's sshd as user.
func dialTestHost(t *testing.T, h *testhost.Host, user string) *cryptossh.Client {
	t.Helper()
	signer := testSigners[h]
	os.MkdirAll(filepath.Join(h.Root, "run/sshd"), 0o755)
	cmd := exec.Command("chroot", h.Root, "/usr/sbin/sshd", "-i", "-e")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	conn := &pipeConn{Reader: stdout, WriteCloser: stdin, cmd: cmd}
	c, chans, reqs, err := cryptossh.NewClientConn(conn, "sut", &cryptossh.ClientConfig{
		User:            user,
		Auth:            []cryptossh.AuthMethod{cryptossh.PublicKeys(signer)},
		HostKeyCallback: cryptossh.InsecureIgnoreHostKey(),
	})
	if err != nil {
		t.Fatal(err)
	}
	client := cryptossh.NewClient(c, chans, reqs)
	t.Cleanup(func() { client.Close() })
	return client
}

func TestSystemSmoke(t *testing.T) {
	testhost.Skip(t)
	h, client := sshTestHost(t, "pi")
	ctx := context.Background()
	s, err := NewSystem(ctx, client, "ssh pi@sut", SystemOptions{User: "pi"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := s.Lstat("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", fi)
	b, err := s.ReadFile("/etc/shadow")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("shadow %d bytes", len(b))
	list, err := s.ReadDir("/etc/ssh")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries", len(list))
	if err := s.Apply(ctx, &ops.Change{Kind: ops.Write, Path: "/etc/pibake-test", Content: []byte("hello\n"), Mode: 0o640, UID: 0, GID: 4}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(h.Path("/etc/pibake-test"))
	if err != nil || string(got) != "hello\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	res, err := s.Run(ctx, &ops.Exec{Argv: []string{"id", "-u"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("id -u: %q %d, %d round trips", res.Stdout, res.ExitCode, s.RoundTrips())
}

// TestSystemSuite: the suite every target passes, over real sshd, logged
// in as a user who becomes root through sudo.
func TestSystemSuite(t *testing.T) {
	testhost.Skip(t)
	_, client := sshTestHost(t, "pi")
	s, err := NewSystem(context.Background(), client, "ssh pi@sut", SystemOptions{User: "pi"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	systemtest.RunLive(t, func(t *testing.T) ops.System { return s }, "/srv/systemtest")
}
