package bake

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// createAnonymous opens a file in dir that has no name until
// linkAnonymous gives it one; if the process dies first, it vanishes.
func createAnonymous(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir, "(unnamed)")), nil
}

// linkAnonymous names the anonymous file f final if that name is free,
// else a temporary name beside it (returned, to be renamed over final).
func linkAnonymous(f *os.File, final string) (string, error) {
	proc := anonymousPath(f)
	name := final
	for i := 0; ; i++ {
		err := unix.Linkat(unix.AT_FDCWD, proc, unix.AT_FDCWD, name, unix.AT_SYMLINK_FOLLOW)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, unix.EEXIST) || i == 100 {
			return "", fmt.Errorf("naming the new file: %w", err)
		}
		name = filepath.Join(filepath.Dir(final), fmt.Sprintf(".%s.pibake-%d-%d", filepath.Base(final), os.Getpid(), i))
	}
}

// anonymousPath names an open anonymous file for reopening.
func anonymousPath(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }
