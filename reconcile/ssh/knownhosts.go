package ssh

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	cryptossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Policy says what to do with a host key no known_hosts file knows.
type Policy int

const (
	// Strict refuses a host seen for the first time.
	Strict Policy = iota
	// AcceptNew trusts a host seen for the first time and writes its key
	// to the first writable user known_hosts file.
	AcceptNew
)

// AcceptNewFlag is the command-line flag that turns on AcceptNew; errors
// name it so the user knows how to go on.
const AcceptNewFlag = "--accept-new-host-key"

var (
	// ErrUnknownHostKey is wrapped when no known_hosts file knows the host.
	ErrUnknownHostKey = errors.New("unknown host key")
	// ErrChangedHostKey is wrapped when the host offers a key other than the
	// one known for it: possibly someone in the middle. Never accepted.
	ErrChangedHostKey = errors.New("host key changed")
	// ErrRevokedHostKey is wrapped when the key is marked @revoked.
	ErrRevokedHostKey = errors.New("host key revoked")
)

// KnownHostsOptions are the parts of the resolved config that change how
// host keys are looked up and written.
type KnownHostsOptions struct {
	// GlobalFiles are read, never written (GlobalKnownHostsFile).
	GlobalFiles []string
	// HostKeyAlias, when set, is the name looked up and written instead of
	// the host and port dialled, as ssh_config's HostKeyAlias.
	HostKeyAlias string
	// Hash writes new entries hashed (|1|…), as HashKnownHosts yes.
	Hash bool
	// Logf, when set, is told about keys written.
	Logf func(format string, args ...any)
}

// HostKeyCallback checks the key a host offers against the known_hosts
// files, the user's files first. A known key passes. An unknown host is
// refused under Strict; under AcceptNew its key is appended to the first
// user file that can be written, atomically. A changed or revoked key is
// always refused. Files that do not exist are skipped, as ssh does.
//
// A host that only an @cert-authority line vouches for is unknown: host
// certificates are not supported. Keys of another type known for the host
// count as a changed key, where OpenSSH might ask.
func HostKeyCallback(userFiles []string, policy Policy, opts KnownHostsOptions) (cryptossh.HostKeyCallback, error) {
	check, err := readKnownHosts(append(append([]string(nil), userFiles...), opts.GlobalFiles...))
	if err != nil {
		return nil, err
	}
	return func(hostname string, remote net.Addr, key cryptossh.PublicKey) error {
		lookup := hostname
		if opts.HostKeyAlias != "" {
			// ssh looks an alias up as written, without the port.
			lookup = net.JoinHostPort(opts.HostKeyAlias, "22")
		}
		err := check(lookup, remote, key)
		var keyErr *knownhosts.KeyError
		var revoked *knownhosts.RevokedError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &revoked):
			return fmt.Errorf("%s: %w: the key offered is marked @revoked at %s:%d; refusing to connect",
				knownhosts.Normalize(lookup), ErrRevokedHostKey, revoked.Revoked.Filename, revoked.Revoked.Line)
		case errors.As(err, &keyErr) && len(keyErr.Want) > 0:
			want := keyErr.Want[0]
			return fmt.Errorf("%s: %w: the host offered %s key %s but %s:%d holds %s key %s for it; "+
				"someone may be in the middle, or the host was reinstalled: if so, remove that line (ssh-keygen -R) and connect again",
				knownhosts.Normalize(lookup), ErrChangedHostKey,
				key.Type(), cryptossh.FingerprintSHA256(key), want.Filename, want.Line, want.Key.Type(), cryptossh.FingerprintSHA256(want.Key))
		case errors.As(err, &keyErr):
			if policy != AcceptNew {
				return fmt.Errorf("%s: %w: no known_hosts file (%s) has a host key for it; the host offered %s key %s; "+
					"check it, then run again with %s to trust it",
					knownhosts.Normalize(lookup), ErrUnknownHostKey, strings.Join(userFiles, ", "),
					key.Type(), cryptossh.FingerprintSHA256(key), AcceptNewFlag)
			}
			return appendKnownHost(userFiles, lookup, key, opts)
		default:
			return fmt.Errorf("checking host key of %s: %w", hostname, err)
		}
	}, nil
}

// appendKnownHost writes the key for address to the first user file that
// takes it.
func appendKnownHost(files []string, address string, key cryptossh.PublicKey, opts KnownHostsOptions) error {
	name := knownhosts.Normalize(address)
	entry := name
	if opts.Hash {
		entry = knownhosts.HashHostname(name)
	}
	line := knownhosts.Line([]string{entry}, key) + "\n"
	var errs []error
	for _, f := range files {
		err := appendAtomically(f, line)
		if err == nil {
			if opts.Logf != nil {
				opts.Logf("added host key %s %s for %s to %s", key.Type(), cryptossh.FingerprintSHA256(key), name, f)
			}
			return nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return fmt.Errorf("%s: new host key: no user known_hosts file to write it to", name)
	}
	return fmt.Errorf("%s: new host key: writing it: %w", name, errors.Join(errs...))
}

// appendAtomically writes a copy of the file with line added and renames it
// over the file, so that a crash leaves the old file or the new one, never
// half a line. The file keeps its mode; a new one is 0600, in a directory
// made 0700 if missing (as ~/.ssh). Two processes appending at once can
// lose one line; the host is then unknown again next time, not trusted.
func appendAtomically(name, line string) error {
	if real, err := filepath.EvalSymlinks(name); err == nil {
		name = real // keep a symlinked known_hosts a symlink
	}
	old, err := os.ReadFile(name)
	mode := fs.FileMode(0o600)
	switch {
	case err == nil:
		info, err := os.Stat(name)
		if err != nil {
			return err
		}
		mode = info.Mode().Perm()
		// A file that cannot be written is one to skip, as ssh would.
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		f.Close()
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
			return err
		}
	default:
		return err
	}
	if len(old) > 0 && !bytes.HasSuffix(old, []byte("\n")) {
		old = append(old, '\n')
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this finds nothing
	if _, err := tmp.Write(append(old, line...)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

// KnownHostsAddress is the name a host's key is filed under: the host for
// port 22, [host]:port for another.
func KnownHostsAddress(host string, port int) string {
	return knownhosts.Normalize(net.JoinHostPort(host, strconv.Itoa(port)))
}

// readKnownHosts reads the files that exist. x/crypto's knownhosts takes an
// @cert-authority key for a host key of its own (and any other key for a
// changed one), so those lines are blanked in a copy first: a host only a
// CA vouches for is then unknown, as documented.
func readKnownHosts(files []string) (cryptossh.HostKeyCallback, error) {
	var read []string
	copies := map[string]string{} // copy → original, to name the original in errors
	var tmpDir string
	defer func() {
		if tmpDir != "" {
			os.RemoveAll(tmpDir)
		}
	}()
	for _, f := range files {
		content, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			continue // as ssh, which reads the files there are
		}
		if err != nil {
			return nil, fmt.Errorf("known hosts: %w", err)
		}
		if !bytes.Contains(content, []byte("@cert-authority")) {
			read = append(read, f)
			continue
		}
		lines := bytes.Split(content, []byte("\n"))
		for i, line := range lines {
			if bytes.HasPrefix(bytes.TrimLeft(line, " \t"), []byte("@cert-authority")) {
				lines[i] = nil
			}
		}
		if tmpDir == "" {
			if tmpDir, err = os.MkdirTemp("", "pibake-known-hosts"); err != nil {
				return nil, fmt.Errorf("known hosts: %w", err)
			}
		}
		c := filepath.Join(tmpDir, strconv.Itoa(len(copies)))
		if err := os.WriteFile(c, bytes.Join(lines, []byte("\n")), 0o600); err != nil {
			return nil, fmt.Errorf("known hosts: %w", err)
		}
		copies[c] = f
		read = append(read, c)
	}
	if len(read) == 0 {
		return func(string, net.Addr, cryptossh.PublicKey) error { return &knownhosts.KeyError{} }, nil
	}
	check, err := knownhosts.New(read...)
	if err != nil {
		for c, f := range copies {
			err = errors.New(strings.ReplaceAll(err.Error(), c, f))
		}
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	if len(copies) == 0 {
		return check, nil
	}
	return func(hostname string, remote net.Addr, key cryptossh.PublicKey) error {
		err := check(hostname, remote, key)
		var keyErr *knownhosts.KeyError
		var revoked *knownhosts.RevokedError
		switch {
		case errors.As(err, &keyErr):
			for i, want := range keyErr.Want {
				if f, ok := copies[want.Filename]; ok {
					keyErr.Want[i].Filename = f
				}
			}
		case errors.As(err, &revoked):
			if f, ok := copies[revoked.Revoked.Filename]; ok {
				revoked.Revoked.Filename = f
			}
		}
		return err
	}, nil
}

// KnownHostsOptions gives the options of h that [HostKeyCallback] takes:
// GlobalKnownHostsFile, HostKeyAlias and HashKnownHosts.
func (h *Host) KnownHostsOptions(logf func(format string, args ...any)) KnownHostsOptions {
	return KnownHostsOptions{
		GlobalFiles:  h.GlobalKnownHostsFiles,
		HostKeyAlias: h.HostKeyAlias,
		Hash:         h.HashKnownHosts,
		Logf:         logf,
	}
}
