package ssh

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// proxyConn is a ProxyCommand's stdin and stdout as a net.Conn, as ssh
// runs it: `/bin/sh -c COMMAND`. Deadlines are not supported (they are
// no-ops); the SSH layer does not use them.
type proxyConn struct {
	command string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stdout  io.ReadCloser
	addr    proxyAddr
	stderr  *tail
	exited  chan struct{} // closed once the process is waited for
	waitErr error
	once    sync.Once
}

var _ net.Conn = (*proxyConn)(nil)

// startProxy starts command in a process group of its own, so that Close
// ends what it started too. Its stderr goes to stderr, and the end of it
// is kept for errors.
func startProxy(command, address string, stderr io.Writer) (*proxyConn, error) {
	cmd := proxyCommand(command)
	p := &proxyConn{command: command, cmd: cmd, addr: proxyAddr(address), stderr: &tail{max: 2000}, exited: make(chan struct{})}
	cmd.Stderr = io.MultiWriter(stderr, p.stderr)
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("proxy command: %w", err)
	}
	if p.stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, fmt.Errorf("proxy command: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("proxy command %q: %w", command, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *proxyConn) Read(b []byte) (int, error)  { return p.stdout.Read(b) }
func (p *proxyConn) Write(b []byte) (int, error) { return p.stdin.Write(b) }

// Close ends the command: its stdin is closed, then its process group is
// killed, and the command waited for.
func (p *proxyConn) Close() error {
	p.once.Do(func() {
		p.stdin.Close()
		killGroup(p.cmd)
		<-p.exited
	})
	return nil
}

// exitError says how the command ended, with the end of its stderr, if it
// ended by itself within a moment: a handshake that fails on EOF usually
// means the command failed, and why is on its stderr.
func (p *proxyConn) exitError() error {
	select {
	case <-p.exited:
	case <-time.After(time.Second):
		return nil
	}
	status := "exited"
	if p.waitErr != nil {
		status = p.waitErr.Error()
	}
	msg := fmt.Sprintf("proxy command %q: %s", p.command, status)
	if t := strings.TrimSpace(p.stderr.String()); t != "" {
		msg += ": " + t
	}
	return errors.New(msg)
}

func (p *proxyConn) LocalAddr() net.Addr                { return proxyAddr("local") }
func (p *proxyConn) RemoteAddr() net.Addr               { return p.addr }
func (p *proxyConn) SetDeadline(t time.Time) error      { return nil }
func (p *proxyConn) SetReadDeadline(t time.Time) error  { return nil }
func (p *proxyConn) SetWriteDeadline(t time.Time) error { return nil }

// proxyAddr is the host:port the proxy reaches, which is what known_hosts
// lookups split.
type proxyAddr string

func (a proxyAddr) Network() string { return "proxy" }
func (a proxyAddr) String() string  { return string(a) }
