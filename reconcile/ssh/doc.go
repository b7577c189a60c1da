// Package ssh decides how pibake reaches a live Pi over SSH, the way OpenSSH
// would: it parses a target (ssh://user@host:port, user@host, host), resolves
// it through the user's ssh_config(5) and checks host keys against
// known_hosts files.
//
// [Dial] connects, on golang.org/x/crypto/ssh: through the host's
// ProxyCommand (run by /bin/sh -c, its stdin and stdout as the connection),
// its ProxyJump hosts (each hop resolved through the config too), or TCP;
// it checks the host key with [HostKeyCallback], asking first for the key
// types known_hosts holds for the host as OpenSSH does, and authenticates
// with public keys in OpenSSH's order: ssh-agent's (only those of the
// IdentityFiles under IdentitiesOnly), then the identity files, an
// encrypted one asking its passphrase (three tries) only once the server
// would take it. A keepalive@openssh.com request every 15 s, three left
// unanswered, closes a client whose link died.
//
// Limits of Dial, on purpose or not yet: only public key authentication
// (no passwords, keyboard-interactive, GSSAPI, certificates or security
// keys: id_*_sk files are skipped); no ControlMaster sharing; no
// CheckHostIP; ProxyJump hops after the first ignore their own
// ProxyCommand and ProxyJump, as ssh -J does; deadlines on a ProxyCommand
// connection are no-ops.
//
// Limits of the ssh_config support, on purpose:
//   - Match exec is refused (we never run commands found in a config), and so
//     are the criteria this package cannot judge without doing what ssh does
//     at connect time: canonical, final, localnetwork, address, localaddress,
//     tagged. The error names FILE:LINE.
//   - Unknown keywords are ignored, where OpenSSH would stop: the config is
//     someone else's and written for their ssh.
//   - Only the keywords pibake needs are resolved (see [Host]); the rest of a
//     file is read for syntax only.
//   - Only the one file given to [ParseConfig] (and what it includes) is read;
//     the system-wide /etc/ssh/ssh_config is not.
//   - Percent tokens in IdentityFile and UserKnownHostsFile are %d %h %k %n
//     %p %r %u and %%, in ProxyCommand %h %n %p %r and %%, in HostName %h
//     and %%; others there (%C %i %j %L %l %T) are an error naming FILE:LINE.
//     GlobalKnownHostsFile is taken as written, as ssh does.
//   - ~user is refused (only ~, the home in [Options], is expanded), and a
//     relative Include starts at Options.HomeDir/.ssh, as for a user config.
//   - Hostname canonicalisation (CanonicalizeHostname) is not done.
//
// Limits of the known_hosts support: @cert-authority lines are not trusted
// (a host with only a CA line is unknown), and a host key is matched as
// OpenSSH does for plain and hashed (|1|) entries, [host]:port for ports
// other than 22, and @revoked markers, which always refuse.
package ssh
