package ssh

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"

	cryptossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// passphraseTries is how often a wrong passphrase is asked again, as ssh's
// NumberOfPasswordPrompts.
const passphraseTries = 3

// authenticator holds the keys to offer, in OpenSSH's order: ssh-agent's,
// then the identity files'. It remembers what it tried for the error.
type authenticator struct {
	signers    []cryptossh.Signer
	agentConn  net.Conn
	agentKeys  int    // how many agent keys are offered
	agentNote  string // why the agent gave none, if it was asked
	files      []string
	skipped    []string
	err        error // a key that could not be unlocked
	identities []string
	// pause and resume stop the connect timeout while a key is unlocked:
	// a person may take a while to type its passphrase.
	pause, resume func()
}

// authMethods gathers the keys for h. An agent that cannot be reached and
// identity files that cannot be read are noted, not fatal: another key
// may get in.
func (d *dialer) authMethods(h *Host) *authenticator {
	a := &authenticator{identities: h.IdentityFiles}
	files := a.loadFiles(h.IdentityFiles, d.opts.Passphrase)
	a.addAgentKeys(d.opts.AgentSocket, h.IdentitiesOnly, files)
	for _, f := range files {
		if a.offered(f.pub) {
			continue // the agent holds it: no passphrase needed
		}
		if f.signer == nil {
			a.skipped = append(a.skipped, f.path+" (a public key, and the agent does not hold its private key)")
			continue
		}
		a.signers = append(a.signers, f.signer)
		a.files = append(a.files, f.path)
	}
	return a
}

func (a *authenticator) methods() []cryptossh.AuthMethod {
	return []cryptossh.AuthMethod{cryptossh.PublicKeysCallback(func() ([]cryptossh.Signer, error) {
		return a.signers, nil
	})}
}

func (a *authenticator) close() {
	if a.agentConn != nil {
		a.agentConn.Close()
	}
}

func (a *authenticator) offered(key cryptossh.PublicKey) bool {
	for _, s := range a.signers {
		if bytes.Equal(s.PublicKey().Marshal(), key.Marshal()) {
			return true
		}
	}
	return false
}

// summary says what was offered, for an authentication failure.
func (a *authenticator) summary() string {
	var parts []string
	if len(a.files) > 0 {
		parts = append(parts, "tried keys "+strings.Join(a.files, ", "))
	} else {
		parts = append(parts, "no identity file to try (looked for "+strings.Join(a.identities, ", ")+")")
	}
	switch {
	case a.agentNote != "":
		parts = append(parts, "agent: "+a.agentNote)
	default:
		parts = append(parts, fmt.Sprintf("agent: %d keys", a.agentKeys))
	}
	if len(a.skipped) > 0 {
		parts = append(parts, "skipped "+strings.Join(a.skipped, "; "))
	}
	return parts[0] + " (" + strings.Join(parts[1:], "; ") + ")"
}

// addAgentKeys offers the agent's keys; with identitiesOnly, only those of
// the identity files.
func (a *authenticator) addAgentKeys(socket string, identitiesOnly bool, files []identity) {
	if socket == "" || socket == "none" {
		a.agentNote = "none (SSH_AUTH_SOCK is not set)"
		return
	}
	conn, err := net.Dial("unix", socket)
	if err != nil {
		a.agentNote = fmt.Sprintf("not reached: %v", err)
		return
	}
	a.agentConn = conn
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		a.agentNote = fmt.Sprintf("listing keys: %v", err)
		return
	}
	for _, s := range signers {
		if identitiesOnly && !hasKey(files, s.PublicKey()) {
			continue
		}
		a.signers = append(a.signers, s)
		a.agentKeys++
	}
}

func hasKey(files []identity, key cryptossh.PublicKey) bool {
	for _, f := range files {
		if bytes.Equal(f.pub.Marshal(), key.Marshal()) {
			return true
		}
	}
	return false
}

// identity is a key from an identity file. An IdentityFile may name a
// public key whose private half is in the agent, as ssh allows: then
// signer is nil.
type identity struct {
	path   string
	pub    cryptossh.PublicKey
	signer cryptossh.Signer
}

// loadFiles reads the identity files that exist. An encrypted one becomes
// a signer that asks its passphrase when first used, which is once the
// server has said it would accept the key.
func (a *authenticator) loadFiles(paths []string, passphrase func(string) ([]byte, error)) []identity {
	var out []identity
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // as ssh, which tries the files there are
		}
		if err != nil {
			a.skipped = append(a.skipped, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		signer, err := cryptossh.ParsePrivateKey(data)
		var missing *cryptossh.PassphraseMissingError
		switch {
		case err == nil:
			out = append(out, identity{path, signer.PublicKey(), signer})
		case errors.As(err, &missing):
			if s, note := a.encrypted(path, data, missing.PublicKey, passphrase); s != nil {
				out = append(out, identity{path, s.PublicKey(), s})
			} else {
				a.skipped = append(a.skipped, path+" ("+note+")")
			}
		default:
			if pub, _, _, _, pubErr := cryptossh.ParseAuthorizedKey(data); pubErr == nil {
				out = append(out, identity{path: path, pub: pub})
				continue
			}
			a.skipped = append(a.skipped, fmt.Sprintf("%s: %v", path, err))
		}
	}
	return out
}

func (a *authenticator) encrypted(path string, data []byte, pub cryptossh.PublicKey, passphrase func(string) ([]byte, error)) (cryptossh.Signer, string) {
	if passphrase == nil {
		return nil, "encrypted, and no way to ask its passphrase"
	}
	if pub == nil {
		pubData, err := os.ReadFile(path + ".pub")
		if err != nil {
			return nil, "encrypted, and its public key is not in it nor in " + path + ".pub"
		}
		if pub, _, _, _, err = cryptossh.ParseAuthorizedKey(pubData); err != nil {
			return nil, fmt.Sprintf("encrypted, and %s.pub: %v", path, err)
		}
	}
	return &encryptedKey{path: path, pem: data, pub: pub, ask: passphrase, auth: a}, ""
}

// encryptedKey is an encrypted private key that is decrypted on first use.
type encryptedKey struct {
	path   string
	pem    []byte
	pub    cryptossh.PublicKey
	ask    func(prompt string) ([]byte, error)
	auth   *authenticator
	signer cryptossh.AlgorithmSigner
}

var _ cryptossh.AlgorithmSigner = (*encryptedKey)(nil)

func (k *encryptedKey) PublicKey() cryptossh.PublicKey { return k.pub }

func (k *encryptedKey) Sign(rand io.Reader, data []byte) (*cryptossh.Signature, error) {
	s, err := k.unlock()
	if err != nil {
		return nil, err
	}
	return s.Sign(rand, data)
}

func (k *encryptedKey) SignWithAlgorithm(rand io.Reader, data []byte, algorithm string) (*cryptossh.Signature, error) {
	s, err := k.unlock()
	if err != nil {
		return nil, err
	}
	return s.SignWithAlgorithm(rand, data, algorithm)
}

// unlock asks the passphrase, again on a wrong one, passphraseTries times
// in all. A failure is kept for the error Dial gives: x/crypto's own would
// not say which key.
func (k *encryptedKey) unlock() (cryptossh.AlgorithmSigner, error) {
	if k.signer != nil {
		return k.signer, nil
	}
	// Typing and the key derivation (bcrypt, slow on purpose) are not the
	// server's doing: the connect timeout waits.
	if k.auth.pause != nil {
		k.auth.pause()
		defer k.auth.resume()
	}
	prompt := fmt.Sprintf("Enter passphrase for key '%s': ", k.path)
	for range passphraseTries {
		pass, err := k.ask(prompt)
		if err != nil {
			k.auth.err = fmt.Errorf("key %s: asking its passphrase: %w", k.path, err)
			return nil, k.auth.err
		}
		s, err := cryptossh.ParsePrivateKeyWithPassphrase(k.pem, pass)
		if errors.Is(err, x509.IncorrectPasswordError) {
			continue
		}
		if err != nil {
			k.auth.err = fmt.Errorf("key %s: %w", k.path, err)
			return nil, k.auth.err
		}
		as, ok := s.(cryptossh.AlgorithmSigner)
		if !ok {
			k.auth.err = fmt.Errorf("key %s: %T cannot choose a signature algorithm", k.path, s)
			return nil, k.auth.err
		}
		k.signer = as
		return as, nil
	}
	k.auth.err = fmt.Errorf("key %s: wrong passphrase %d times", k.path, passphraseTries)
	return nil, k.auth.err
}
