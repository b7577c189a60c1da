package image

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// overlayBlock is the unit an Overlay copies and holds: a page, the ext4
// block size of every Raspberry Pi OS image, and rangeAlign.
const overlayBlock = 4096

// ErrFrozen is returned by a write to a frozen Overlay.
var ErrFrozen = errors.New("overlay is frozen: the image is read-only now")

// An Overlay is a copy-on-write view of a disk image: reads come from the
// base except where the Overlay was written, writes are held in memory in
// 4 KiB blocks, and the base is never written. A bake edits an image
// through one to write a card straight from the (cached) base and its
// changes, with no copy of the image on disk.
//
// Memory is what was written, rounded up to blocks: for a bake, the
// recipe's files and the filesystems' changed metadata, at most the base's
// free space. It is safe for concurrent use.
type Overlay struct {
	base   io.ReaderAt
	size   int64
	mu     sync.RWMutex
	blocks map[int64]*[overlayBlock]byte
	frozen bool
}

// NewOverlay returns an empty overlay over the first size bytes of base,
// which it only reads (and does not close).
func NewOverlay(base io.ReaderAt, size int64) *Overlay {
	return &Overlay{base: base, size: size, blocks: map[int64]*[overlayBlock]byte{}}
}

// Size is the size of the image, as given to NewOverlay.
func (o *Overlay) Size() int64 { return o.size }

// Held is the number of bytes of changes held in memory.
func (o *Overlay) Held() int64 {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return int64(len(o.blocks)) * overlayBlock
}

// Freeze makes every later write fail with ErrFrozen.
func (o *Overlay) Freeze() {
	o.mu.Lock()
	o.frozen = true
	o.mu.Unlock()
}

// ReadAt reads as io.ReaderAt says: io.EOF at and past Size.
func (o *Overlay) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("overlay: read at negative offset %d", off)
	}
	if off >= o.size {
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > o.size-off {
		p, eof = p[:o.size-off], io.EOF
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	if err := o.readBase(p, off); err != nil {
		return 0, err
	}
	for b := off / overlayBlock; b*overlayBlock < off+int64(len(p)); b++ {
		if blk := o.blocks[b]; blk != nil {
			start := b * overlayBlock
			lo, hi := max(start, off), min(start+overlayBlock, off+int64(len(p)))
			copy(p[lo-off:hi-off], blk[lo-start:hi-start])
		}
	}
	return len(p), eof
}

// readBase fills p from the base at off, which is within Size; a base
// shorter than Size reads as zeros past its end.
func (o *Overlay) readBase(p []byte, off int64) error {
	n, err := o.base.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err != nil && err != io.EOF {
		return fmt.Errorf("reading the base image at byte %d: %w", off+int64(n), err)
	}
	clear(p[n:])
	return nil
}

// WriteAt holds p in memory; a write reaching past Size fails whole.
func (o *Overlay) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > o.size {
		return 0, fmt.Errorf("overlay: write of %d bytes at byte %d is outside the %d-byte image", len(p), off, o.size)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.frozen {
		return 0, ErrFrozen
	}
	for b := off / overlayBlock; b*overlayBlock < off+int64(len(p)); b++ {
		start := b * overlayBlock
		lo, hi := max(start, off), min(start+overlayBlock, off+int64(len(p)))
		blk := o.blocks[b]
		if blk == nil {
			blk = new([overlayBlock]byte)
			// A partly written block keeps the base's other bytes.
			if lo > start || hi < start+overlayBlock {
				end := min(start+overlayBlock, o.size)
				if err := o.readBase(blk[:end-start], start); err != nil {
					return int(max(lo-off, 0)), err
				}
			}
			o.blocks[b] = blk
		}
		copy(blk[lo-start:hi-start], p[lo-off:hi-off])
	}
	return len(p), nil
}

// DataRanges lists, in no particular order and maybe overlapping, the
// ranges between start and end that hold data: the base's (holes left
// out when the base is a file on Linux) and every block written.
func (o *Overlay) DataRanges(start, end int64) ([]Range, error) {
	data, err := diskData(o.base, start, end)
	if err != nil {
		return nil, err
	}
	o.mu.RLock()
	for b := range o.blocks {
		if off := b * overlayBlock; off < end && off+overlayBlock > start {
			lo, hi := max(off, start), min(off+overlayBlock, end)
			data = append(data, Range{lo, hi - lo})
		}
	}
	o.mu.RUnlock()
	return data, nil
}

// diskData lists the ranges of d between start and end that hold data: a
// file's, holes left out (SEEK_DATA, Linux), an Overlay's, or everything.
func diskData(d io.ReaderAt, start, end int64) ([]Range, error) {
	switch d := d.(type) {
	case *os.File:
		return dataRanges(d, start, end)
	case interface {
		DataRanges(start, end int64) ([]Range, error)
	}:
		return d.DataRanges(start, end)
	}
	return []Range{{start, end - start}}, nil
}
