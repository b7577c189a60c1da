package ext4

import (
	"fmt"
	"io"
)

// Section returns the size bytes of dev starting at off as a Device of
// their own: a partition of a disk image. Reads past the end return
// io.EOF; writes past it fail.
func Section(dev Device, off, size int64) Device {
	return &section{dev: dev, off: off, size: size}
}

type section struct {
	dev       Device
	off, size int64
}

func (s *section) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= s.size {
		return 0, io.EOF
	}
	if max := s.size - off; int64(len(p)) > max {
		n, err := s.dev.ReadAt(p[:max], s.off+off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return s.dev.ReadAt(p, s.off+off)
}

func (s *section) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > s.size {
		return 0, fmt.Errorf("writing %d bytes at %d: outside the %d-byte section", len(p), off, s.size)
	}
	return s.dev.WriteAt(p, s.off+off)
}

// Sync flushes the underlying device when it can be flushed.
func (s *section) Sync() error {
	if d, ok := s.dev.(interface{ Sync() error }); ok {
		return d.Sync()
	}
	return nil
}
