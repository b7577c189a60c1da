// Package ops holds pibake's operations and the System interface they see.
//
// An op is a struct of desired state (FilePut, User, AptPackages, ...).
// Plan reads the target through an Env and returns the Changes that would
// bring it into state; none means in state. Plan never writes: the engine
// (package reconcile) applies the changes, so a dry run is free and honest.
//
// An op's arguments are checked in one place, its Validate method (see
// Validator): pure checks, run when a recipe compiles, when a Step is
// decoded from JSON, and by the engine before each Plan, through the
// function Plan. Plan methods do not check their arguments again; they may
// assume Validate passed, and only report what they find on the target.
// Tests that call an op's Plan method directly skip Validate; call the
// function Plan to see argument errors too.
//
// One implementation serves every target. Facts are read from files where
// possible (/var/lib/dpkg/status, /etc/passwd, the [Install] symlinks of
// systemd, config.txt), so the same code answers for an unbooted image and a
// live Pi. Where a fact needs a command (Env.Query), an op on a target that
// cannot run commands plans as if the fact were unknown.
//
// Rules every op keeps:
//   - Converge: after its changes are applied, Plan returns none.
//   - An exec change must be needed according to facts on the target alone,
//     never only because an earlier change in the same run was made, unless
//     it is LiveOnly. On an image, exec changes are deferred to first boot,
//     which plans again from the image's files; an exec that only followed
//     from an offline file change would be lost.
//   - Content that may hold secrets (shadow, Wi-Fi keys) is marked
//     Sensitive so that no diff shows it.
package ops
