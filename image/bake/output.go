package bake

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// An output is a file being written that appears under its final name
// only when complete. On Linux it is an anonymous file (O_TMPFILE) in the
// destination directory, so that a bake killed at any point, even by
// SIGKILL, leaves nothing behind; elsewhere it is a hidden temporary file
// beside the destination, removed on any failure.
type output struct {
	f     *os.File
	final string
	// temp is the temporary file's name; "" for an anonymous file.
	temp string
}

// create starts an output that commit will name final.
func create(final string) (*output, error) {
	dir := filepath.Dir(final)
	if f, err := createAnonymous(dir); err == nil {
		return &output{f: f, final: final}, nil
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(final)+".pibake-*")
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", final, err)
	}
	return &output{f: f, final: final, temp: f.Name()}, nil
}

// commit makes the complete file appear as o.final, atomically replacing
// any file of that name.
func (o *output) commit() error {
	if err := o.f.Chmod(0o644); err != nil {
		return o.failf("%w", err)
	}
	if err := o.f.Sync(); err != nil {
		return o.failf("syncing: %w", err)
	}
	if o.temp == "" {
		temp, err := linkAnonymous(o.f, o.final)
		if err != nil {
			return o.failf("%w", err)
		}
		o.temp = temp
	}
	if o.temp != o.final {
		if err := os.Rename(o.temp, o.final); err != nil {
			return o.failf("%w", err)
		}
	}
	o.temp = ""
	if err := o.f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", o.final, err)
	}
	syncDir(filepath.Dir(o.final))
	return nil
}

func (o *output) failf(format string, args ...any) error {
	err := fmt.Errorf("writing %s: "+format, append([]any{o.final}, args...)...)
	o.discard()
	return err
}

// discard drops an output that is not committed; it may be called again.
func (o *output) discard() {
	if o.f != nil {
		o.f.Close()
	}
	if o.temp != "" {
		os.Remove(o.temp)
		o.temp = ""
	}
}

// syncDir makes a rename in dir durable, where the system can.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

var errNoAnonymous = errors.New("anonymous files not supported")

// reopen opens the output file again, for reading and writing, through a
// new handle that the caller closes.
func (o *output) reopen() (*os.File, error) {
	name := o.temp
	if name == "" {
		name = anonymousPath(o.f)
	}
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", o.final, err)
	}
	return f, nil
}
