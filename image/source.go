package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/pibake/pibake/image/xzio"
)

// CopyBase copies the disk image named src — raw, or xz-compressed (known
// by its magic bytes, whatever its name) — into dst from offset 0 and
// returns the image's size. Runs of zero bytes are not written (dst must
// be new and empty; it ends sparse, truncated to size). progress, when not
// nil, is called now and then (not per block; at most ~20 times a second)
// with the bytes of src consumed so far and src's total size. ctx cancels
// it.
//
// An .xz image is decoded in parallel, block by block (see package xzio),
// and every check is verified. After an error, dst holds part of the image
// and must be thrown away.
func CopyBase(ctx context.Context, dst *os.File, src string, progress func(done, total int64)) (size int64, err error) {
	in, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w", src, fs.ErrNotExist)
	}
	if err != nil {
		return 0, err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return 0, err
	}
	if info.IsDir() {
		return 0, fmt.Errorf("%s is a directory, not a disk image", src)
	}
	total := info.Size()
	if total == 0 {
		return 0, fmt.Errorf("%s: file is empty, not a disk image", src)
	}
	compressed, err := isXZ(in)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", src, err)
	}
	report := throttle(progress, total)
	w := sparseWriter{f: dst}
	if compressed {
		size, err = xzio.Decode(ctx, in, total, xzio.Options{Progress: report}, w.WriteAt)
		if err != nil && !errors.Is(err, errWrite) && ctx.Err() == nil {
			err = fmt.Errorf("%s: %w", src, err)
		}
	} else {
		size, err = total, copyRaw(ctx, w, in, total, report)
	}
	if err != nil {
		return 0, err
	}
	if err := dst.Truncate(size); err != nil {
		return 0, fmt.Errorf("writing %s: %w", dst.Name(), err)
	}
	if progress != nil {
		progress(total, total)
	}
	return size, nil
}

// isXZ says whether f starts as an .xz file does.
func isXZ(f io.ReaderAt) (bool, error) {
	magic := make([]byte, len(xzio.Magic))
	n, err := f.ReadAt(magic, 0)
	if n < len(magic) {
		if err == io.EOF {
			return false, nil
		}
		return false, err
	}
	return string(magic) == xzio.Magic, nil
}

// copyChunk is how much of a raw image is read at a time.
const copyChunk = 4 << 20

func copyRaw(ctx context.Context, w sparseWriter, in *os.File, size int64, report func(int64)) error {
	buf := make([]byte, copyChunk)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := in.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if n == 0 && err != nil {
			return fmt.Errorf("reading %s: %w", in.Name(), err)
		}
		if err := w.WriteAt(off, buf[:n]); err != nil {
			return err
		}
		off += int64(n)
		if report != nil {
			report(off)
		}
	}
	return nil
}

// errWrite marks errors writing the destination, which name it already.
var errWrite = errors.New("writing")

// sparseWriter writes what is not zeros, in whole pages, to a file that
// reads as zeros everywhere else.
type sparseWriter struct{ f *os.File }

const page = 4096

var zeroPage [page]byte

func (w sparseWriter) WriteAt(off int64, p []byte) error {
	for len(p) > 0 {
		// Skip zero pages, then write up to the next one.
		n := 0
		for n < len(p) && bytes.Equal(p[n:min(n+page, len(p))], zeroPage[:min(page, len(p)-n)]) {
			n += page
		}
		n = min(n, len(p))
		p, off = p[n:], off+int64(n)
		n = 0
		for n < len(p) && !bytes.Equal(p[n:min(n+page, len(p))], zeroPage[:min(page, len(p)-n)]) {
			n += page
		}
		n = min(n, len(p))
		if n > 0 {
			if _, err := w.f.WriteAt(p[:n], off); err != nil {
				return fmt.Errorf("%w %s: %w", errWrite, w.f.Name(), err)
			}
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// throttle calls progress at most every 50 ms, with total.
func throttle(progress func(done, total int64), total int64) func(int64) {
	if progress == nil {
		return nil
	}
	var last time.Time
	return func(done int64) {
		if now := time.Now(); now.Sub(last) >= 50*time.Millisecond {
			last = now
			progress(done, total)
		}
	}
}

// CompressXZ writes the first size bytes of src to w as one .xz stream of
// independent blocks compressed in parallel (like xz -T0), which
// xz-utils, ulikunitz/xz and Raspberry Pi Imager read. progress as for
// CopyBase, over size.
func CompressXZ(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, progress func(done, total int64)) error {
	report := throttle(progress, size)
	if err := xzio.Encode(ctx, w, src, size, xzio.Options{Progress: report}); err != nil {
		return fmt.Errorf("compressing with xz: %w", err)
	}
	if progress != nil {
		progress(size, size)
	}
	return nil
}
