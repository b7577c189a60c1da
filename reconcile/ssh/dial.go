package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	cryptossh "golang.org/x/crypto/ssh"
)

// DialOptions say how [Dial] reaches a host beyond what ssh_config says.
type DialOptions struct {
	// ConfigFile is the ssh_config to read; "" means ~/.ssh/config when it
	// exists, else none.
	ConfigFile string
	// AcceptNewHostKey records the key of a host no known_hosts file knows
	// (AcceptNewFlag); a changed key is refused all the same.
	AcceptNewHostKey bool
	// Passphrase is asked for an encrypted key's passphrase, with a prompt
	// such as "Enter passphrase for key 'PATH': ", only once the server
	// would accept that key. nil: encrypted keys are skipped, and the
	// error says so if no other key gets in.
	Passphrase func(prompt string) ([]byte, error)
	// Stderr gets a ProxyCommand's stderr and warnings, such as a host key
	// added; nil discards them.
	Stderr io.Writer
	// LocalUser and HomeDir default to the current user's, from the
	// password database as ssh does.
	LocalUser, HomeDir string
	// Timeout bounds connecting: the TCP connection (or proxy) and the SSH
	// handshake with authentication. 0: the config's ConnectTimeout, else
	// 30s.
	Timeout time.Duration
	// AgentSocket is the ssh-agent to ask for keys; "" means
	// $SSH_AUTH_SOCK. "none" asks no agent.
	AgentSocket string
	// Keepalive is how often the server is asked whether it is still
	// there; three questions unanswered close the client. 0 means 15s.
	Keepalive time.Duration
}

// DefaultTimeout bounds connecting when neither DialOptions nor the config
// says how long.
const DefaultTimeout = 30 * time.Second

// maxJumps bounds ProxyJump chains, which a config can make loop.
const maxJumps = 8

// Client is an SSH connection to one host, with what was decided to reach
// it.
type Client struct {
	*cryptossh.Client
	// Host is the resolved configuration the client was dialled with.
	Host *Host
	// Name is "user@host:port", for messages.
	Name string

	closeOnce     sync.Once
	closers       []func() error // the proxy, then jump clients, nearest first
	stopKeepalive chan struct{}
	keepaliveErr  error
	mu            sync.Mutex
}

// Close ends the connection, the ProxyCommand process if any and the
// connections to jump hosts.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.stopKeepalive)
		err = c.Client.Close()
		if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
			err = nil
		}
		for _, f := range c.closers {
			f()
		}
	})
	return err
}

// KeepaliveErr says why the keepalive closed the client, nil if it did not.
func (c *Client) KeepaliveErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keepaliveErr
}

// Dial connects to target ("ssh://user@host:port", "user@host" or an
// alias) as OpenSSH would with the same ssh_config: through its
// ProxyCommand or ProxyJump hosts, checking the host key against the
// known_hosts files, and authenticating with ssh-agent keys then identity
// files. ctx cancels connecting, not the client.
func Dial(ctx context.Context, target string, o DialOptions) (*Client, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", target, err)
	}
	d := &dialer{opts: o}
	if d.config, err = loadConfig(o); err != nil {
		return nil, fmt.Errorf("ssh %s: %w", target, err)
	}
	h, err := d.resolve(target)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", target, err)
	}
	return d.dial(ctx, h, 0)
}

func (o DialOptions) withDefaults() (DialOptions, error) {
	if o.LocalUser == "" || o.HomeDir == "" {
		me, err := user.Current()
		if err != nil {
			return o, fmt.Errorf("finding the local user: %w", err)
		}
		if o.LocalUser == "" {
			o.LocalUser = me.Username
		}
		if o.HomeDir == "" {
			o.HomeDir = me.HomeDir
		}
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.AgentSocket == "" {
		o.AgentSocket = os.Getenv("SSH_AUTH_SOCK")
	}
	if o.Keepalive == 0 {
		o.Keepalive = 15 * time.Second
	}
	return o, nil
}

func loadConfig(o DialOptions) (*Config, error) {
	name := o.ConfigFile
	if name == "" {
		name = filepath.Join(o.HomeDir, ".ssh", "config")
	}
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) && o.ConfigFile == "" {
		return ParseConfig(name, strings.NewReader(""))
	}
	if err != nil {
		return nil, fmt.Errorf("reading ssh config: %w", err)
	}
	defer f.Close()
	return ParseConfig(name, f)
}

type dialer struct {
	opts   DialOptions
	config *Config
}

func (d *dialer) resolve(target string) (*Host, error) {
	t, err := ParseTarget(target)
	if err != nil {
		return nil, err
	}
	return d.config.Resolve("", t, Options{LocalUser: d.opts.LocalUser, HomeDir: d.opts.HomeDir})
}

// dial reaches h over its proxy, its jump hosts or TCP, and sets the SSH
// connection up over that. The timeout bounds each of the two, and does
// not run while a passphrase is asked.
func (d *dialer) dial(ctx context.Context, h *Host, depth int) (*Client, error) {
	c := &Client{Host: h, Name: hostName(h), stopKeepalive: make(chan struct{})}
	conn, err := d.transport(ctx, c, depth)
	if err != nil {
		c.closeAll()
		return nil, fmt.Errorf("ssh %s: connecting: %w", c.Name, err)
	}
	if err := d.handshake(ctx, c, conn); err != nil {
		conn.Close()
		c.closeAll()
		return nil, err
	}
	go c.keepalive(d.opts.Keepalive)
	return c, nil
}

func (d *dialer) timeout(h *Host) time.Duration {
	switch {
	case d.opts.Timeout > 0:
		return d.opts.Timeout
	case h.ConnectTimeout > 0:
		return h.ConnectTimeout
	}
	return DefaultTimeout
}

func hostName(h *Host) string {
	return h.User + "@" + net.JoinHostPort(h.HostName, strconv.Itoa(h.Port))
}

func (c *Client) closeAll() {
	for _, f := range c.closers {
		f()
	}
	c.closers = nil
}

// transport gives a byte stream to the host's sshd.
func (d *dialer) transport(ctx context.Context, c *Client, depth int) (net.Conn, error) {
	h := c.Host
	connectCtx, cancel := context.WithTimeout(ctx, d.timeout(h))
	defer cancel()
	address := net.JoinHostPort(h.HostName, strconv.Itoa(h.Port))
	switch {
	case h.ProxyCommand != "":
		p, err := startProxy(h.ProxyCommand, address, d.opts.Stderr)
		if err != nil {
			return nil, err
		}
		c.closers = append(c.closers, p.Close)
		return p, nil
	case len(h.ProxyJump) > 0:
		jump, err := d.dialJumps(ctx, h.ProxyJump, depth)
		if err != nil {
			return nil, err
		}
		c.closers = append(c.closers, jump.Close)
		conn, err := jump.DialContext(connectCtx, "tcp", address)
		if err != nil {
			return nil, fmt.Errorf("through jump host %s: %w", jump.Name, err)
		}
		return conn, nil
	}
	var nd net.Dialer
	return nd.DialContext(connectCtx, "tcp", address)
}

// dialJumps reaches the last of hops, each through the one before it. The
// first hop is dialled as any host, by its own config; the others are
// reached from the previous hop over TCP, as ssh -J does.
func (d *dialer) dialJumps(ctx context.Context, hops []string, depth int) (*Client, error) {
	if depth >= maxJumps {
		return nil, fmt.Errorf("more than %d jump hosts: does ProxyJump loop?", maxJumps)
	}
	var prev *Client
	for _, hop := range hops {
		h, err := d.resolve(hop)
		if err != nil {
			if prev != nil {
				prev.Close()
			}
			return nil, fmt.Errorf("jump host %s: %w", hop, err)
		}
		var next *Client
		if prev == nil {
			next, err = d.dial(ctx, h, depth+1)
		} else {
			next, err = d.dialThrough(ctx, prev, h)
		}
		if err != nil {
			if prev != nil {
				prev.Close()
			}
			return nil, fmt.Errorf("jump host: %w", err)
		}
		prev = next
	}
	return prev, nil
}

// dialThrough reaches h from the jump host via, ignoring h's own proxies
// as ssh -J does for every hop but the first.
func (d *dialer) dialThrough(ctx context.Context, via *Client, h *Host) (*Client, error) {
	c := &Client{Host: h, Name: hostName(h), stopKeepalive: make(chan struct{})}
	c.closers = append(c.closers, via.Close)
	connectCtx, cancel := context.WithTimeout(ctx, d.timeout(h))
	defer cancel()
	conn, err := via.DialContext(connectCtx, "tcp", net.JoinHostPort(h.HostName, strconv.Itoa(h.Port)))
	if err != nil {
		c.closeAll()
		return nil, fmt.Errorf("ssh %s: connecting through %s: %w", c.Name, via.Name, err)
	}
	if err := d.handshake(ctx, c, conn); err != nil {
		conn.Close()
		c.closeAll()
		return nil, err
	}
	go c.keepalive(d.opts.Keepalive)
	return c, nil
}

// handshake sets SSH up over conn: host key, then authentication. The
// connection is closed when ctx ends first, or the timeout passes (not
// counting the time a passphrase is asked).
func (d *dialer) handshake(ctx context.Context, c *Client, conn net.Conn) error {
	h := c.Host
	hostKeys, err := d.hostKeyCallback(h)
	if err != nil {
		return fmt.Errorf("ssh %s: %w", c.Name, err)
	}
	auth := d.authMethods(h)
	defer auth.close()
	config := &cryptossh.ClientConfig{
		User:              h.User,
		Auth:              auth.methods(),
		HostKeyCallback:   hostKeys.check,
		HostKeyAlgorithms: hostKeyAlgorithms(h),
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	timer := newPausableTimer(d.timeout(h), func() { conn.Close() })
	defer timer.stop()
	auth.pause, auth.resume = timer.pause, timer.resume
	address := net.JoinHostPort(h.HostName, strconv.Itoa(h.Port))
	sshConn, chans, reqs, err := cryptossh.NewClientConn(conn, address, config)
	if err != nil {
		switch {
		case hostKeys.err != nil:
			return fmt.Errorf("ssh %s: %w", c.Name, hostKeys.err)
		case ctx.Err() != nil:
			// The connection was closed for this: what the proxy or
			// x/crypto said of it would mislead.
			return fmt.Errorf("ssh %s: connecting: %w", c.Name, context.Cause(ctx))
		case timer.fired():
			return fmt.Errorf("ssh %s: connecting: timed out after %s", c.Name, d.timeout(h))
		}
		return d.handshakeError(c, conn, auth, err)
	}
	c.Client = cryptossh.NewClient(sshConn, chans, reqs)
	return nil
}

// handshakeError says what went wrong in terms of the host.
func (d *dialer) handshakeError(c *Client, conn net.Conn, auth *authenticator, err error) error {
	if strings.Contains(err.Error(), "unable to authenticate") {
		return fmt.Errorf("ssh %s: authentication failed: %s", c.Name, auth.summary())
	}
	if auth.err != nil {
		return fmt.Errorf("ssh %s: authentication failed: %w", c.Name, auth.err)
	}
	if p, ok := conn.(*proxyConn); ok {
		if exit := p.exitError(); exit != nil {
			return fmt.Errorf("ssh %s: connecting: %w", c.Name, exit)
		}
	}
	return fmt.Errorf("ssh %s: connecting: %w", c.Name, err)
}

// hostKeyChecker keeps the error of the host key check, so that it reaches
// the caller as it was made (errors.Is-able) and not buried in the
// handshake's.
type hostKeyChecker struct {
	callback cryptossh.HostKeyCallback
	err      error
}

func (k *hostKeyChecker) check(hostname string, remote net.Addr, key cryptossh.PublicKey) error {
	k.err = k.callback(hostname, remote, key)
	return k.err
}

func (d *dialer) hostKeyCallback(h *Host) (*hostKeyChecker, error) {
	policy := h.StrictHostKeyChecking.Policy()
	if d.opts.AcceptNewHostKey {
		policy = AcceptNew
	}
	logf := func(format string, args ...any) { fmt.Fprintf(d.opts.Stderr, "pibake: "+format+"\n", args...) }
	callback, err := HostKeyCallback(h.UserKnownHostsFiles, policy, h.KnownHostsOptions(logf))
	if err != nil {
		return nil, err
	}
	return &hostKeyChecker{callback: callback}, nil
}

// keepalive asks the server every interval whether it is there, as
// ServerAliveInterval does, and closes the client when three questions in
// a row go unanswered: a dead link then fails the commands on it instead
// of hanging them.
func (c *Client) keepalive(interval time.Duration) {
	const maxMissed = 3
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	replies := make(chan error, 1)
	waiting, missed := false, 0
	for {
		select {
		case <-c.stopKeepalive:
			return
		case err := <-replies:
			waiting, missed = false, 0
			if err != nil {
				return // the connection is gone; Wait says why
			}
		case <-ticker.C:
			if waiting {
				missed++
				if missed >= maxMissed {
					c.mu.Lock()
					c.keepaliveErr = fmt.Errorf("ssh %s: no answer to %d keepalives in %s: connection lost", c.Name, maxMissed, maxMissed*interval)
					c.mu.Unlock()
					c.Client.Close()
					return
				}
				continue
			}
			waiting = true
			go func() {
				_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
				replies <- err
			}()
		}
	}
}

// pausableTimer calls f once the time given has run, not counting pauses.
type pausableTimer struct {
	mu        sync.Mutex
	timer     *time.Timer
	remaining time.Duration
	started   time.Time
	done      bool
}

func newPausableTimer(d time.Duration, f func()) *pausableTimer {
	t := &pausableTimer{remaining: d, started: time.Now()}
	t.timer = time.AfterFunc(d, func() {
		t.mu.Lock()
		t.done = true
		t.mu.Unlock()
		f()
	})
	return t
}

func (t *pausableTimer) pause() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer.Stop() {
		t.remaining -= time.Since(t.started)
	}
}

func (t *pausableTimer) resume() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.done {
		t.started = time.Now()
		t.timer.Reset(max(t.remaining, 0))
	}
}

func (t *pausableTimer) stop() { t.timer.Stop() }

func (t *pausableTimer) fired() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.done
}
