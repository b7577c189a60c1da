// Package ssh decides how pibake reaches a live Pi over SSH, the way OpenSSH
// would: it parses a target (ssh://user@host:port, user@host, host), resolves
// it through the user's ssh_config(5) and checks host keys against
// known_hosts files.
//
// This slice does not dial: it only decides the effective HostName, User,
// Port, identity files, proxies and host key policy, and builds the
// [golang.org/x/crypto/ssh.HostKeyCallback] a later dialer uses.
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
