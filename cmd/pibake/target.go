package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/reconcile"
	"github.com/pibake/pibake/reconcile/local"
	"github.com/pibake/pibake/reconcile/ssh"
)

const targetHelp = `

Targets:
  dir:PATH    a root directory (a Pi's root tree); file changes are made
              under PATH, commands are deferred, never run on this machine
  image:FILE  a Raspberry Pi OS disk image (.img), edited in place: both
              partitions, the boot one where the image's fstab mounts it;
              commands are deferred to the Pi's first boot
  local       this machine (for example on the Pi itself); commands run
  ssh://USER@HOST:PORT, USER@HOST, HOST
              a live Pi over SSH, reached as your ssh_config says (HostName,
              User, Port, IdentityFile, ProxyJump, ProxyCommand, known
              hosts); a user other than root becomes root with sudo -n (or
              --sudo-password). Unknown host keys are refused unless
              --accept-new-host-key; a changed key always is.`

// targetOptions are what opening a target needs besides its spec.
type targetOptions struct {
	write  bool      // apply: an image opens read-write
	recipe string    // the recipe's file: a live host remembers what it reads, per recipe
	ssh    *sshFlags // nil: defaults
	io     *streams
	// sshStderr gets what connecting prints (a ProxyCommand's stderr,
	// warnings); nil: io.stderr.
	sshStderr io.Writer
}

// openTarget opens the system a --target names; close must be called
// when done (it writes back what an image holds pending). A plan opens an
// image read-only. A spec that is none of the others is an SSH host.
func openTarget(ctx context.Context, spec string, o targetOptions) (sys ops.System, close func() error, err error) {
	nothing := func() error { return nil }
	switch {
	case spec == "":
		return nil, nil, fmt.Errorf("no --target given (dir:PATH, image:FILE, local or an SSH host)")
	case spec == "local":
		return local.NewHost(), nothing, nil
	case strings.HasPrefix(spec, "dir:"):
		s, err := local.Dir(strings.TrimPrefix(spec, "dir:"))
		return s, nothing, err
	case strings.HasPrefix(spec, "image:"):
		im, err := image.Open(strings.TrimPrefix(spec, "image:"), image.Options{ReadOnly: !o.write})
		if err != nil {
			return nil, nil, fmt.Errorf("target %s: %w", spec, err)
		}
		return im, im.Close, nil
	}
	if strings.Contains(spec, ":") && !strings.HasPrefix(spec, "ssh://") && !strings.Contains(spec, "@") && !strings.Contains(spec, "[") {
		return nil, nil, fmt.Errorf("unknown target %q: want dir:PATH, image:FILE, local, ssh://USER@HOST:PORT or USER@HOST", spec)
	}
	return openSSH(ctx, spec, o)
}

// sshFlags are the flags for live hosts.
type sshFlags struct {
	config       string
	acceptNew    bool
	sudoPassword bool
	reboot       bool

	once     sync.Once
	password []byte
	pwErr    error
	prompt   sync.Mutex // one prompt on the terminal at a time
}

func (f *sshFlags) register(cmd *cobra.Command, apply bool) {
	cmd.Flags().StringVar(&f.config, "ssh-config", "", "ssh_config `FILE` to read instead of ~/.ssh/config")
	cmd.Flags().BoolVar(&f.acceptNew, "accept-new-host-key", false, "record the host key of an SSH host not yet in known_hosts (a changed key is always refused)")
	cmd.Flags().BoolVar(&f.sudoPassword, "sudo-password", false, "ask once for the sudo password of SSH hosts (from the terminal, else the first line of stdin) instead of using sudo -n")
	if apply {
		cmd.Flags().BoolVar(&f.reboot, "reboot", false, "reboot a live host whose changes need it (config.txt, cmdline.txt) and wait until it is back")
	}
}

// rebootTimeout bounds the wait for a rebooted host.
const rebootTimeout = 5 * time.Minute

func openSSH(ctx context.Context, spec string, o targetOptions) (ops.System, func() error, error) {
	f := o.ssh
	if f == nil {
		f = &sshFlags{}
	}
	stderr := o.sshStderr
	if stderr == nil {
		stderr = o.io.stderr
	}
	opts := ssh.OpenOptions{
		Dial: ssh.DialOptions{
			ConfigFile:       f.config,
			AcceptNewHostKey: f.acceptNew,
			Stderr:           stderr,
		},
		Remember: rememberFile(spec, o.recipe),
	}
	if in, ok := o.io.stdin.(*os.File); ok && term.IsTerminal(int(in.Fd())) {
		opts.Dial.Passphrase = func(prompt string) ([]byte, error) {
			f.prompt.Lock()
			defer f.prompt.Unlock()
			fmt.Fprint(o.io.stderr, prompt)
			defer fmt.Fprintln(o.io.stderr)
			return term.ReadPassword(int(in.Fd()))
		}
	}
	if f.sudoPassword {
		pw, err := f.askSudoPassword(o.io)
		if err != nil {
			return nil, nil, err
		}
		opts.SudoPassword = pw
	}
	r, err := ssh.Open(ctx, spec, opts)
	if err != nil {
		return nil, nil, err
	}
	return r, r.Close, nil
}

// askSudoPassword reads the sudo password once for all hosts.
func (f *sshFlags) askSudoPassword(io *streams) ([]byte, error) {
	f.once.Do(func() {
		f.prompt.Lock()
		defer f.prompt.Unlock()
		if in, ok := io.stdin.(*os.File); ok && term.IsTerminal(int(in.Fd())) {
			fmt.Fprint(io.stderr, "sudo password for the SSH hosts: ")
			f.password, f.pwErr = term.ReadPassword(int(in.Fd()))
			fmt.Fprintln(io.stderr)
			return
		}
		line, err := bufio.NewReader(io.stdin).ReadString('\n')
		if err != nil && line == "" {
			f.pwErr = errors.New("--sudo-password: no terminal to ask on, and nothing on stdin")
			return
		}
		f.password = []byte(strings.TrimRight(line, "\r\n"))
	})
	return f.password, f.pwErr
}

// rememberFile is where what a recipe reads on a host is kept between
// runs (see ssh.SystemOptions.Remember); "" when there is no cache.
func rememberFile(spec, recipe string) string {
	dir, err := os.UserCacheDir()
	if err != nil || recipe == "" {
		return ""
	}
	if abs, err := filepath.Abs(recipe); err == nil {
		recipe = abs
	}
	sum := sha256.Sum256([]byte(spec + "\n" + recipe))
	return filepath.Join(dir, "pibake", "facts", hex.EncodeToString(sum[:12])+".json")
}

// unreachableError is a target that could not be opened.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// runOn plans or applies steps on the target spec names, and reboots it
// afterwards when asked and needed. An error opening the target is an
// *unreachableError.
func runOn(ctx context.Context, spec string, steps []*ops.Step, opts reconcile.Options, rep reconcile.Reporter, o targetOptions) (reconcile.Summary, error) {
	sys, closeTarget, err := openTarget(ctx, spec, o)
	if err != nil {
		return reconcile.Summary{}, &unreachableError{err}
	}
	summary, err := reconcile.Run(ctx, sys, steps, opts, rep)
	if err == nil && opts.Apply && o.ssh != nil && o.ssh.reboot && summary.Reboot && summary.Failed == 0 {
		err = reboot(ctx, sys, o.io.stderr)
	}
	if cerr := closeTarget(); err == nil {
		err = cerr
	}
	return summary, err
}

// rebooter is a live target that can reboot.
type rebooter interface {
	Reboot(ctx context.Context, timeout time.Duration) error
	String() string
}

func reboot(ctx context.Context, sys ops.System, stderr io.Writer) error {
	r, ok := sys.(rebooter)
	if !ok {
		fmt.Fprintf(stderr, "pibake: --reboot: %v is not a live host; reboot it yourself\n", sys)
		return nil
	}
	fmt.Fprintf(stderr, "%s: rebooting, then waiting (up to %v) until it answers\n", r, rebootTimeout)
	start := time.Now()
	if err := r.Reboot(ctx, rebootTimeout); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: back after %.0fs\n", r, time.Since(start).Seconds())
	return nil
}
