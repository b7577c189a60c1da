package flash

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// ErrVerify is wrapped by Write's error when what it reads back from the
// device differs from what it wrote: the card (or its reader) is faulty.
var ErrVerify = errors.New("verify failed")

// Options tune Write.
type Options struct {
	// Progress, if not nil, is called at most about ten times a second and
	// at the end of each phase.
	Progress func(Progress)
	// BeforeVerify, if not nil, is called after every write is synced and
	// before anything is read back. Tests use it to corrupt the device.
	BeforeVerify func() error
}

// Progress reports how far Write is.
type Progress struct {
	Phase       string // "write", then "verify"
	Done, Total int64  // bytes
}

// Result says what Write did.
type Result struct {
	Written    int64 // bytes written, the zeroing included
	Verified   int64 // bytes read back and compared
	WriteTime  time.Duration
	VerifyTime time.Duration
}

// target is a block device opened for Write: exclusively, unbuffered where
// the system allows it. Offsets and lengths are multiples of blockSize,
// except at the end of the device, which is a multiple of its logical
// sector size.
type target interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	// Size is the device's size as seen through the open handle.
	Size() (int64, error)
	// DropCache makes the next reads come from the device, not from a cache.
	DropCache() error
	// Reread makes the system see the new partition table.
	Reread() error
	Close() error
}

// Write writes the image src of size bytes onto dev: its first 4 KiB and
// the given ranges, nothing else, and verifies what it wrote by reading it
// back. See the package documentation for the order of the steps; until
// Write returns without error the device has no partition table.
//
// Write refuses what Check always refuses (a device that is mounted, holds
// the running system or is too small), but not a fixed disk: call
// dev.Check with the user's force first.
func Write(ctx context.Context, dev *Device, src io.ReaderAt, size int64, ranges []Range, opts Options) (*Result, error) {
	if size < headSize {
		return nil, fmt.Errorf("writing to %s: the image (%d bytes) is smaller than its %d-byte partition table block", dev.Path, size, headSize)
	}
	if err := dev.Check(size, true); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("writing to %s: not started: %w", dev.Path, err)
	}
	body, err := plan(ranges, size, dev.Size)
	if err != nil {
		return nil, fmt.Errorf("writing to %s: %w", dev.Path, err)
	}
	t, err := openTarget(dev)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	actual, err := t.Size()
	if err != nil {
		return nil, fmt.Errorf("%s: reading its size: %w", dev.Path, err)
	}
	if actual != dev.Size {
		return nil, fmt.Errorf("%s: its size changed from %s to %s since it was inspected (another card?): inspect it again", dev.Path, HumanSize(dev.Size), HumanSize(actual))
	}
	w := &writer{
		dev:      dev,
		t:        t,
		src:      src,
		size:     size,
		buf:      alignedBuffer(chunkSize),
		progress: progress{report: opts.Progress},
	}
	return w.run(ctx, body, opts.BeforeVerify)
}

// written is a chunk written and the hash of its bytes.
type written struct {
	Range
	sum [sha256.Size]byte
}

type writer struct {
	dev      *Device
	t        target
	src      io.ReaderAt
	size     int64
	buf      []byte // chunkSize, aligned; used by one phase at a time
	done     []written
	res      Result
	progress progress
}

func (w *writer) run(ctx context.Context, body []Range, beforeVerify func() error) (*Result, error) {
	start := time.Now()
	zeroTail := tail(w.size, w.dev.Size)
	zeros := []Range{{0, headSize}}
	if zeroTail.Len > 0 {
		zeros = append(zeros, zeroTail)
	}
	w.progress.start("write", total(zeros)+total(body))
	// The head is zeroed first and written last: until the end, the
	// device has no partition table and cannot pass for a good card.
	clear(w.buf)
	for _, z := range chunks(zeros) {
		if err := w.write(z, w.buf[:z.Len]); err != nil {
			return &w.res, err
		}
		w.progress.add(z.Len)
	}
	w.done = w.done[1:] // the head is verified after it is written for real
	if err := w.sync(); err != nil {
		return &w.res, err
	}
	if err := w.writeBody(ctx, body); err != nil {
		return &w.res, err
	}
	if err := w.sync(); err != nil {
		return &w.res, err
	}
	w.progress.end()
	w.res.WriteTime = time.Since(start)

	start = time.Now()
	if beforeVerify != nil {
		if err := beforeVerify(); err != nil {
			return &w.res, fmt.Errorf("writing to %s: before verifying: %w", w.dev.Path, err)
		}
	}
	if err := w.t.DropCache(); err != nil {
		return &w.res, fmt.Errorf("%s: dropping cached blocks before verifying: %w", w.dev.Path, err)
	}
	w.progress.start("verify", total(rangesOf(w.done))+headSize)
	if err := w.verify(ctx, w.done); err != nil {
		return &w.res, err
	}

	// Everything else is on the card and right: now make it a card.
	head := Range{0, headSize}
	if err := w.readImage(head, w.buf[:headSize]); err != nil {
		return &w.res, err
	}
	w.done = w.done[:0]
	if err := w.write(head, w.buf[:headSize]); err != nil {
		return &w.res, err
	}
	if err := w.sync(); err != nil {
		return &w.res, err
	}
	if err := w.t.DropCache(); err != nil {
		return &w.res, fmt.Errorf("%s: dropping cached blocks before verifying: %w", w.dev.Path, err)
	}
	if err := w.verify(ctx, w.done); err != nil {
		return &w.res, err
	}
	w.progress.end()
	w.res.VerifyTime = time.Since(start)
	if err := w.t.Reread(); err != nil {
		return &w.res, fmt.Errorf("%s: written and verified, but the system did not re-read its partition table (remove and reinsert the card): %w", w.dev.Path, err)
	}
	return &w.res, nil
}

// writeBody writes the body chunks, reading the next chunk from the image
// while the current one is written.
func (w *writer) writeBody(ctx context.Context, body []Range) error {
	type filled struct {
		r   Range
		buf []byte
		err error
	}
	free := make(chan []byte, 2)
	free <- w.buf
	free <- alignedBuffer(chunkSize)
	ready := make(chan filled)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(ready)
		for _, r := range chunks(body) {
			var buf []byte
			select {
			case buf = <-free:
			case <-stop:
				return
			}
			err := w.readImage(r, buf[:r.Len])
			select {
			case ready <- filled{r, buf, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer wg.Wait()
	defer close(stop)
	for f := range ready {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("writing to %s: stopped after %s, the card has no partition table: %w", w.dev.Path, HumanSize(w.res.Written), err)
		}
		if f.err != nil {
			return f.err
		}
		if err := w.write(f.r, f.buf[:f.r.Len]); err != nil {
			return err
		}
		w.progress.add(f.r.Len)
		free <- f.buf
	}
	return nil
}

// readImage fills buf with the image's bytes at r. Where r goes beyond the
// end of the image (its last, partial block), buf is padded with what the
// device holds there, so that those bytes are rewritten unchanged.
func (w *writer) readImage(r Range, buf []byte) error {
	end := r.Off + r.Len
	if end > w.size {
		from := max(r.Off, w.size/blockSize*blockSize)
		if _, err := w.t.ReadAt(buf[from-r.Off:], from); err != nil {
			return fmt.Errorf("%s: reading %d bytes at offset %d past the end of the image: %w", w.dev.Path, end-from, from, err)
		}
		end = w.size
	}
	n, err := w.src.ReadAt(buf[:end-r.Off], r.Off)
	if n == int(end-r.Off) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("reading the image at offset %d: %w", r.Off, err)
	}
	return nil
}

func (w *writer) write(r Range, buf []byte) error {
	if _, err := w.t.WriteAt(buf, r.Off); err != nil {
		return fmt.Errorf("%s: writing %d bytes at offset %d: %w", w.dev.Path, r.Len, r.Off, err)
	}
	w.res.Written += r.Len
	w.done = append(w.done, written{r, sha256.Sum256(buf)})
	return nil
}

func (w *writer) sync() error {
	if err := w.t.Sync(); err != nil {
		return fmt.Errorf("%s: syncing: %w", w.dev.Path, err)
	}
	return nil
}

// verify reads back each chunk and compares its hash with what was written.
func (w *writer) verify(ctx context.Context, done []written) error {
	for _, c := range done {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("verifying %s: stopped, the card has no partition table: %w", w.dev.Path, err)
		}
		buf := w.buf[:c.Len]
		if _, err := w.t.ReadAt(buf, c.Off); err != nil {
			return fmt.Errorf("%s: reading back %d bytes at offset %d: %w", w.dev.Path, c.Len, c.Off, err)
		}
		if sha256.Sum256(buf) != c.sum {
			return fmt.Errorf("%s: %w: the %d bytes at offset %d read back differently from what was written; the card was left without a partition table: try another card or reader", w.dev.Path, ErrVerify, c.Len, c.Off)
		}
		w.res.Verified += c.Len
		w.progress.add(c.Len)
	}
	return nil
}

func rangesOf(done []written) []Range {
	out := make([]Range, len(done))
	for i, c := range done {
		out[i] = c.Range
	}
	return out
}

// progress calls report at most every progressInterval, and at the end of
// each phase.
type progress struct {
	report func(Progress)
	p      Progress
	last   time.Time
}

const progressInterval = 100 * time.Millisecond

func (p *progress) start(phase string, total int64) {
	p.p = Progress{Phase: phase, Total: total}
	p.last = time.Now()
}

func (p *progress) add(n int64) {
	p.p.Done += n
	if p.report != nil && time.Since(p.last) >= progressInterval {
		p.last = time.Now()
		p.report(p.p)
	}
}

func (p *progress) end() {
	if p.report != nil {
		p.report(p.p)
	}
}
