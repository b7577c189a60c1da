package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// System is a target as the operations see it: a root filesystem to read,
// and a way to apply changes to it. It is implemented by an unbooted image,
// a directory, this machine and a Pi over SSH.
//
// Paths are absolute and slash-separated, as on the target ("/etc/hostname").
// A missing path gives an error satisfying errors.Is(err, fs.ErrNotExist).
type System interface {
	// Lstat describes name without following a final symbolic link.
	Lstat(name string) (*FileInfo, error)
	// Stat describes name, following symbolic links within the target.
	Stat(name string) (*FileInfo, error)
	// ReadFile returns the content of the regular file name.
	ReadFile(name string) ([]byte, error)
	// ReadDir lists the directory name, sorted by name, without "." and "..".
	ReadDir(name string) ([]*FileInfo, error)
	// Apply makes one file change (never an exec: see Runner).
	Apply(ctx context.Context, c *Change) error
}

// Runner is a System that can run commands: this machine, or a live Pi.
// A System without it (an image, a directory) defers exec changes to the
// Pi's first boot.
type Runner interface {
	Run(ctx context.Context, e *Exec) (*ExecResult, error)
}

// Querier is a Runner that answers read-only commands (Env.Query) apart
// from commands that change the target, so that it can run them in a
// batch with other reads, or remember their answers until the target
// changes (a Pi over SSH).
type Querier interface {
	Query(ctx context.Context, argv []string) (*ExecResult, error)
}

// FileInfo describes a file on a target. It is plain data so that a remote
// target can send it in bulk.
type FileInfo struct {
	Name   string      `json:"name"` // base name
	Mode   fs.FileMode `json:"mode"` // type and permission bits, as io/fs
	UID    int         `json:"uid"`
	GID    int         `json:"gid"`
	Size   int64       `json:"size"`
	Target string      `json:"target,omitempty"` // of a symbolic link
	// FixedMode says the filesystem holding it keeps no modes or owners
	// (FAT, as the boot partition): what Mode, UID and GID say is all it
	// can be, so ops do not try to change them.
	FixedMode bool `json:"fixed_mode,omitempty"`
}

// IsDir reports whether fi describes a directory.
func (fi *FileInfo) IsDir() bool { return fi.Mode.IsDir() }

// IsRegular reports whether fi describes a regular file.
func (fi *FileInfo) IsRegular() bool { return fi.Mode.IsRegular() }

// IsSymlink reports whether fi describes a symbolic link.
func (fi *FileInfo) IsSymlink() bool { return fi.Mode&fs.ModeSymlink != 0 }

// Mode is a permission mode as users write it: "0644", "0755", "1777".
// It marshals to JSON as that octal string.
type Mode uint32

// ParseMode parses an octal mode such as "0644" or "755".
func ParseMode(s string) (Mode, error) {
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0o"), 8, 32)
	if err != nil || v > 0o7777 {
		return 0, fmt.Errorf("invalid mode %q: want an octal number such as \"0644\"", s)
	}
	return Mode(v), nil
}

func (m Mode) String() string { return fmt.Sprintf("%04o", uint32(m)) }

// FileMode is m as io/fs permission bits (with setuid, setgid and sticky).
func (m Mode) FileMode() fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		fm |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}

// ModeOf is the inverse of Mode.FileMode: the permission bits of fm.
func ModeOf(fm fs.FileMode) Mode {
	m := Mode(fm & 0o777)
	if fm&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if fm&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if fm&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return m
}

func (m Mode) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

func (m *Mode) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("mode: want an octal string such as \"0644\": %w", err)
	}
	v, err := ParseMode(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}
