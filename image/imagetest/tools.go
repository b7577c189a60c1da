//go:build linux

package imagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// readAt reads n bytes of path at off.
func readAt(path string, off int64, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("reading %s at byte %d: %w", path, off, err)
	}
	return b, nil
}

var mtoolsEnv = []string{"MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null"}

// run runs argv and returns its combined output; a failure's error holds
// the command and the end of its output.
func run(ctx context.Context, argv ...string) ([]byte, error) {
	return runIn(ctx, nil, nil, argv...)
}

func runIn(ctx context.Context, stdin []byte, env []string, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), &toolError{argv: argv, err: err, out: out.Bytes()}
	}
	return out.Bytes(), nil
}

// A toolError is a tool that failed, with what it said.
type toolError struct {
	argv []string
	err  error
	out  []byte
}

func (e *toolError) Error() string {
	tail := string(e.out)
	if len(tail) > 8000 {
		tail = "..." + tail[len(tail)-8000:]
	}
	return fmt.Sprintf("%s: %v\n%s", strings.Join(e.argv, " "), e.err, tail)
}

func (e *toolError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	return -1
}

// SHA256 is the hex SHA-256 of the file at path, to see that a file was
// left alone.
func SHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
