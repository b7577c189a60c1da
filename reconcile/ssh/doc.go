// Package ssh is pibake's live target: a Pi reached over SSH the way
// OpenSSH would reach it. It parses a target (ssh://user@host:port,
// user@host, host), resolves it through the user's ssh_config(5), checks
// host keys against known_hosts files, dials, and gives the ops a [System]
// on the host ([Open] does it all).
//
// The [System] is agentless: one POSIX shell on the host, run as root (sudo
// -n, or sudo -S with a password, when the login user is not root), on one
// connection for the whole run, using only what Raspberry Pi OS always has
// (sh, coreutils, findutils, tar). Reads are answered from facts fetched in
// batches, one round trip each: before a run the engine plans it against a
// speculative view ([System.Prefetch]) to learn what it will read, so a
// plan of a host already in state costs the session's opening and one
// batch; what a run read is remembered per host and recipe
// ([SystemOptions.Remember]), so facts that depend on other facts (a
// venv's packages) come in that first batch too from the second run on.
// Each change is one round trip: a file goes to a temporary name beside the
// destination, gets its owner and mode, is synced, and is renamed over it,
// its size checked first, so a reader never sees half a file; a cut
// connection leaves at most a temporary file, which the next run removes.
// Commands run in a clean environment as the local target runs them, and
// refetch what they may have changed. [Remote.Reboot] reboots and waits for
// the new boot.
//
// Limits of the System: GNU find and tar are needed (busybox ones are not
// enough); files under /proc and /sys read as empty (find and tar take
// their size as 0); a query (Env.Query) may be run by the speculative pass
// even when the plan would not run it, so queries must be read-only; no
// file larger than memory.
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
