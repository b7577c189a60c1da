package ext4

import (
	"errors"
	"fmt"
)

// Sentinel errors callers branch on. Errors returned by this package wrap
// one of them (or an io/fs error) and add what was found and where.
var (
	// ErrUnsupported: the filesystem uses a feature this package does not
	// implement (the message names it), or an operation it does not offer.
	ErrUnsupported = errors.New("unsupported ext4 feature")
	// ErrNeedsRecovery: the journal must be replayed, orphans processed or
	// recorded errors fixed (run e2fsck) before the filesystem can be used.
	ErrNeedsRecovery = errors.New("ext4 filesystem needs recovery")
	// ErrCorrupt: on-disk metadata is inconsistent; the message says what
	// and where ("inode 1234: extent header magic 0x0000").
	ErrCorrupt = errors.New("corrupt ext4 filesystem")
	// ErrNoSpace: not enough free blocks or inodes; the message says how
	// many are missing. Nothing was changed.
	ErrNoSpace = errors.New("no space left on ext4 filesystem")
	// ErrReadOnly: a change was asked of a filesystem opened read-only.
	ErrReadOnly = errors.New("ext4 filesystem opened read-only")
)

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}
