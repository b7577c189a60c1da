package ssh

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"strings"

	cryptossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyAlgorithms orders the host key algorithms so that those of key
// types known for h come first, as OpenSSH does. Without it a host known by
// its ed25519 key that prefers to show its ECDSA key would look changed.
// nil (x/crypto's defaults) when no key is known.
func hostKeyAlgorithms(h *Host) []string {
	address := KnownHostsAddress(h.HostName, h.Port)
	if h.HostKeyAlias != "" {
		address = KnownHostsAddress(h.HostKeyAlias, 22)
	}
	known := knownKeyTypes(append(append([]string(nil), h.UserKnownHostsFiles...), h.GlobalKnownHostsFiles...), address)
	if len(known) == 0 {
		return nil
	}
	var preferred, rest []string
	for _, algorithm := range cryptossh.SupportedAlgorithms().HostKeys {
		if known[keyTypeOf(algorithm)] {
			preferred = append(preferred, algorithm)
		} else {
			rest = append(rest, algorithm)
		}
	}
	return append(preferred, rest...)
}

// keyTypeOf gives the key type a host key algorithm signs with.
func keyTypeOf(algorithm string) string {
	switch algorithm {
	case cryptossh.KeyAlgoRSASHA256, cryptossh.KeyAlgoRSASHA512:
		return cryptossh.KeyAlgoRSA
	}
	return algorithm
}

// knownKeyTypes gives the types of the plain host keys the files hold for
// address (as knownhosts.Normalize writes it). Unreadable files and lines
// are passed over: the host key check proper reports them.
func knownKeyTypes(files []string, address string) map[string]bool {
	types := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) || err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			marker, hosts, key, _, _, err := cryptossh.ParseKnownHosts([]byte(line))
			if err != nil || marker != "" || key == nil {
				continue
			}
			if knownHostsMatch(hosts, address) {
				types[key.Type()] = true
			}
		}
	}
	return types
}

// knownHostsMatch judges a known_hosts line's host patterns as sshd(8)
// describes: a negated pattern that matches excludes the line, else any
// pattern or hashed name that matches includes it.
func knownHostsMatch(patterns []string, address string) bool {
	matched := false
	for _, p := range patterns {
		if strings.HasPrefix(p, "|1|") {
			if hashedMatch(p, address) {
				matched = true
			}
			continue
		}
		if negated, ok := strings.CutPrefix(p, "!"); ok {
			if matchPattern(address, knownhosts.Normalize(negated)) || matchPattern(address, negated) {
				return false
			}
			continue
		}
		if matchPattern(address, p) || matchPattern(address, knownhosts.Normalize(p)) {
			matched = true
		}
	}
	return matched
}

// hashedMatch judges a |1|salt|hash entry: the hash is HMAC-SHA1 of the
// name, keyed with the salt.
func hashedMatch(entry, address string) bool {
	parts := strings.Split(entry, "|")
	if len(parts) != 4 {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[2])
	hash, err2 := base64.StdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	mac := hmac.New(sha1.New, salt)
	mac.Write([]byte(address))
	return hmac.Equal(mac.Sum(nil), hash)
}
