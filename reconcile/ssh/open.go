package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pibake/pibake/ops"
)

// OpenOptions say how to reach a host and become root there.
type OpenOptions struct {
	Dial DialOptions
	// SudoPassword is given to sudo when the login user is not root
	// (nil: sudo -n).
	SudoPassword []byte
	// Remember is SystemOptions.Remember.
	Remember string
	// Trace is SystemOptions.Trace.
	Trace func(format string, args ...any)
}

// Remote is a live host as a target: the connection and the System on it.
type Remote struct {
	*System
	client *Client
	target string
	opts   OpenOptions
}

// Open dials target (ssh://user@host:port, user@host, or an ssh_config
// alias) and starts the remote shell.
func Open(ctx context.Context, target string, o OpenOptions) (*Remote, error) {
	client, err := Dial(ctx, target, o.Dial)
	if err != nil {
		return nil, err
	}
	name := "ssh " + client.Name
	sys, err := NewSystem(ctx, client, name, SystemOptions{
		User:         client.Host.User,
		SudoPassword: o.SudoPassword,
		Remember:     o.Remember,
		Trace:        o.Trace,
	})
	if err != nil {
		client.Close()
		return nil, err
	}
	return &Remote{System: sys, client: client, target: target, opts: o}, nil
}

// Close ends the remote shell and the connection.
func (r *Remote) Close() error {
	err := r.System.Close()
	if cerr := r.client.Close(); err == nil {
		err = cerr
	}
	return err
}

// Reboot reboots the host and waits, up to timeout, until it answers
// again with a new boot ID; the Remote is then connected to the new boot.
// The host must be booted with systemd.
func (r *Remote) Reboot(ctx context.Context, timeout time.Duration) error {
	before, err := r.bootID(ctx)
	if err != nil {
		return fmt.Errorf("%s: before rebooting: %w", r.name, err)
	}
	// Detached and delayed, so that this command returns and the shell
	// can leave before the host goes down.
	res, err := r.System.Run(ctx, &ops.Exec{Description: "reboot", Script: "systemd-run --on-active=1 --timer-property=AccuracySec=100ms systemctl reboot"})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exit code %d: %s", res.ExitCode, bytes.TrimSpace(res.Stderr))
	}
	if err != nil {
		return fmt.Errorf("%s: asking for a reboot: %w", r.name, err)
	}
	r.System.Close()
	r.client.Close()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := Open(dctx, r.target, r.opts)
		cancel()
		if err != nil {
			last = err
			continue
		}
		after, err := n.bootID(ctx)
		if err != nil || after == before {
			n.Close()
			last = errors.New("it still runs the old boot")
			if err != nil {
				last = err
			}
			continue
		}
		*r = *n
		return nil
	}
	return fmt.Errorf("%s: rebooted, but did not answer within %v: %v", r.name, timeout, last)
}

// bootID is the kernel's random ID of this boot (a command: /proc files
// have no size for find and tar).
func (r *Remote) bootID(ctx context.Context) (string, error) {
	res, err := r.System.Run(ctx, &ops.Exec{Argv: []string{"cat", "/proc/sys/kernel/random/boot_id"}})
	if err != nil {
		return "", err
	}
	id := string(bytes.TrimSpace(res.Stdout))
	if res.ExitCode != 0 || id == "" {
		return "", fmt.Errorf("reading the boot ID: exit code %d", res.ExitCode)
	}
	return id, nil
}
