package ssh

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cryptossh "golang.org/x/crypto/ssh"
)

// Conn opens channels on an SSH connection; *golang.org/x/crypto/ssh.Client
// is one.
type Conn interface {
	OpenChannel(name string, data []byte) (cryptossh.Channel, <-chan *cryptossh.Request, error)
}

// shell is one long-lived POSIX shell on the remote host, run as root
// (directly or through sudo), that reads scripts on its stdin and answers
// on its stdout. Every request is one round trip: the script goes out in
// one write, the answer comes back as NUL-terminated fields ending with
// "Z" and the shell's nonce, so answers can never be mistaken for each
// other. Requests are serialised.
type shell struct {
	name  string // for messages: "ssh pi@robot1:22"
	ch    cryptossh.Channel
	out   *bufio.Reader
	nonce string

	stderr *tail // the shell's stderr, for messages

	mu     sync.Mutex
	broken error // set once the shell cannot be trusted any more

	exit       chan exitStatus // the remote command's end, once
	stderrDone chan struct{}   // closed when all of stderr is in
	// trips counts round trips: the channel open and each request.
	trips atomic.Int64
}

type exitStatus struct {
	code   int
	signal string
}

// startShell opens a session channel and starts command in it without
// waiting for the server's reply to the exec request (it arrives with, or
// before, the first answer), so a shell costs one round trip before its
// first request. prelude is written at once: it is the start of the
// first request's script.
func startShell(conn Conn, name, command, prelude string) (*shell, error) {
	ch, reqs, err := conn.OpenChannel("session", nil)
	if err != nil {
		return nil, fmt.Errorf("%s: opening a session: %w", name, err)
	}
	s := &shell{
		name:   name,
		ch:     ch,
		out:    bufio.NewReaderSize(ch, 64<<10),
		nonce:  newNonce(),
		stderr: &tail{max: 8 << 10, changed: make(chan struct{}, 1)},
		exit:   make(chan exitStatus, 1),

		stderrDone: make(chan struct{}),
	}
	s.trips.Add(1)
	go s.watch(reqs)
	go func() {
		io.Copy(s.stderr, ch.Stderr())
		close(s.stderrDone)
	}()
	payload := cryptossh.Marshal(struct{ Command string }{command})
	if _, err := ch.SendRequest("exec", false, payload); err != nil {
		ch.Close()
		return nil, fmt.Errorf("%s: starting %s: %w", name, command, err)
	}
	if prelude != "" {
		if _, err := io.WriteString(ch, prelude); err != nil {
			ch.Close()
			return nil, fmt.Errorf("%s: starting the remote shell: %w", name, err)
		}
	}
	return s, nil
}

// watch records the remote command's exit status.
func (s *shell) watch(reqs <-chan *cryptossh.Request) {
	var st exitStatus
	got := false
	for r := range reqs {
		switch r.Type {
		case "exit-status":
			var v struct{ Status uint32 }
			if cryptossh.Unmarshal(r.Payload, &v) == nil {
				st.code, got = int(v.Status), true
			}
		case "exit-signal":
			var v struct {
				Signal     string
				CoreDumped bool
				Error      string
				Lang       string
			}
			if cryptossh.Unmarshal(r.Payload, &v) == nil {
				st.signal, got = v.Signal, true
			}
		}
		if r.WantReply {
			r.Reply(false, nil)
		}
	}
	if !got {
		st.code = -1
	}
	s.exit <- st
}

func newNonce() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// request sends script and returns the fields of its answer (without the
// end marker). The script must print only NUL-terminated fields.
func (s *shell) request(ctx context.Context, script string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return nil, s.broken
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			s.ch.Close()
		case <-done:
		}
	}()
	s.trips.Add(1)
	if _, err := io.WriteString(s.ch, script+"\nprintf 'Z\\0%s\\0' "+s.nonce+"\n"); err != nil {
		return nil, s.fail(ctx, err)
	}
	var fields []string
	for {
		f, err := s.out.ReadString(0)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		f = f[:len(f)-1]
		if f == "Z" {
			n, err := s.out.ReadString(0)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			if n[:len(n)-1] != s.nonce {
				return nil, s.fail(ctx, errors.New("the remote shell answered out of turn"))
			}
			return fields, nil
		}
		fields = append(fields, f)
	}
}

// fail marks the shell broken and says why, as well as can be told: the
// context, the remote command's exit and what it said.
func (s *shell) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		s.broken = fmt.Errorf("%s: %w (the connection was closed; a command may still be running there)", s.name, ctx.Err())
		return s.broken
	}
	// The command's end and its last words come apart from its stdout:
	// give them a moment to arrive, to say why it ended.
	var st exitStatus
	wait := time.NewTimer(time.Second)
	defer wait.Stop()
	select {
	case st = <-s.exit:
		s.exit <- st
		select {
		case <-s.stderrDone:
		case <-wait.C:
		}
	case <-wait.C:
		st.code = -1
	}
	s.ch.Close()
	said := strings.TrimSpace(noise.ReplaceAllString(s.stderr.String(), ""))
	switch {
	case strings.Contains(said, "a password is required") || strings.Contains(said, "a terminal is required"):
		s.broken = fmt.Errorf("%s: sudo needs a password: %s (log in as root, allow passwordless sudo, or pass --sudo-password)", s.name, lastLine(said))
	case errors.Is(err, io.EOF) && st.code >= 0:
		s.broken = fmt.Errorf("%s: the remote shell exited (status %d)%s", s.name, st.code, saying(said))
	case errors.Is(err, io.EOF) && st.signal != "":
		s.broken = fmt.Errorf("%s: the remote shell was killed (SIG%s)%s", s.name, st.signal, saying(said))
	default:
		s.broken = fmt.Errorf("%s: connection lost: %v%s", s.name, err, saying(said))
	}
	return s.broken
}

// noise is what sudo and sshd say that explains nothing: a host whose
// name does not resolve, and sshd's own log lines (with -e).
var noise = regexp.MustCompile(`(?m)^(sudo: unable to resolve host .*|Accepted publickey for .*|mm_request_send: .*)\n?`)

func saying(s string) string {
	if s == "" {
		return ""
	}
	return ": " + lastLine(s)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// stderrChanged is signalled when the remote command writes to stderr.
func (s *shell) stderrChanged() <-chan struct{} { return s.stderr.changed }

// close ends the shell: its stdin closes, so it exits and removes its
// temporary directory.
func (s *shell) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken == nil {
		s.broken = fmt.Errorf("%s: closed", s.name)
	}
	s.ch.CloseWrite()
	select {
	case st := <-s.exit:
		s.exit <- st
	case <-time.After(2 * time.Second):
	}
	// The shell has exited and the host closed the channel: that is
	// how it should end, not an error.
	if err := s.ch.Close(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: closing the remote shell: %w", s.name, err)
	}
	return nil
}

// tail keeps the last max bytes written to it (a command's stderr, for
// messages).
type tail struct {
	mu      sync.Mutex
	max     int
	b       []byte
	changed chan struct{} // if not nil, signalled (without blocking) on each write
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	select {
	case t.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
