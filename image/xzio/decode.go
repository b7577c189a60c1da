package xzio

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"runtime"
	"slices"

	"github.com/ulikunitz/xz/lzma"
)

// Options tune Decode and Encode.
type Options struct {
	// Workers is how many blocks are worked on at once; 0 means
	// runtime.GOMAXPROCS(0).
	Workers int
	// Progress, when not nil, is called after each block (and, for a
	// block too big to hold in memory, every few MiB) with how much of the
	// input has been consumed: compressed bytes for Decode, uncompressed
	// for Encode. It is called on the caller's goroutine, never
	// concurrently.
	Progress func(done int64)
}

func (o Options) workers() int {
	if o.Workers > 0 {
		return o.Workers
	}
	return runtime.GOMAXPROCS(0)
}

func (o Options) progress(done int64) {
	if o.Progress != nil {
		o.Progress(done)
	}
}

// maxBuffered is the largest block decoded into memory; bigger ones (a
// single-block file made by xz -T1) are decoded as a stream, in order,
// while the workers go on with the blocks after them.
var maxBuffered int64 = 256 << 20

// maxIndex bounds the index we read into memory: 64 MiB of index is
// millions of blocks, far beyond any disk image.
const maxIndex = 64 << 20

// streamChunk is how much a streamed decode hands emit at a time.
const streamChunk = 1 << 20

var crc64Table = crc64.MakeTable(crc64.ECMA)

// A block is where a block is and what the index says of it.
type block struct {
	// offset is where its header starts in the file; uoffset where its
	// data starts in the decoded output.
	offset, uoffset int64
	record
	check byte
}

// Decode decodes the .xz file r, of size bytes, and hands its contents to
// emit in order, in pieces: off is where p starts in the decoded output.
// p is only valid during the call. Blocks are decoded by opts.Workers at
// once, each into a buffer of its size: memory is about (workers+1) ×
// block size (24 MiB for xz -6), plus for each worker the compressed block
// and an LZMA2 dictionary (8 MiB for xz -6). It returns the decoded size.
//
// Data is emitted only after its block's check verified, except in a
// block too big to buffer, which is checked at its end: after an error,
// what was emitted must be thrown away. Errors wrap ErrCorrupt,
// ErrTruncated or ErrUnsupported (or come from emit, r or ctx) and name
// the byte of the file where the trouble is.
//
// Decode reads the index first (from the end of each stream), so a file
// cut short fails at once, before anything is emitted.
func Decode(ctx context.Context, r io.ReaderAt, size int64, opts Options, emit func(off int64, p []byte) error) (int64, error) {
	blocks, err := readLayout(r, size)
	if errors.Is(err, errNoFooter) {
		return 0, diagnose(r, size)
	}
	if err != nil {
		return 0, err
	}
	if err := decodeBlocks(ctx, r, blocks, opts, emit); err != nil {
		return 0, err
	}
	opts.progress(size)
	if len(blocks) == 0 {
		return 0, nil
	}
	last := blocks[len(blocks)-1]
	return last.uoffset + last.uncompressed, nil
}

// errNoFooter is a file that does not end in a stream footer: truncated,
// most likely.
var errNoFooter = errors.New("no stream footer at the end")

func readAt(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == io.EOF || err == nil {
		return fmt.Errorf("%w (at byte %d)", ErrTruncated, off+int64(n))
	}
	return err
}

// readLayout finds every block of every stream from the indexes, walking
// back from the end of the file.
func readLayout(r io.ReaderAt, size int64) ([]block, error) {
	var streams [][]block
	var buf [streamFooterLen]byte
	end := size
	if size%4 != 0 {
		// Streams and their padding come in multiples of four bytes.
		return nil, errNoFooter
	}
	for end > 0 {
		// Stream padding: zeros, four at a time.
		for end >= 4 {
			if err := readAt(r, buf[:4], end-4); err != nil {
				return nil, err
			}
			if buf[0]|buf[1]|buf[2]|buf[3] != 0 {
				break
			}
			end -= 4
		}
		if end == 0 {
			break
		}
		if end < streamHeaderLen+streamFooterLen+8 {
			if len(streams) == 0 {
				return nil, errNoFooter
			}
			return nil, fmt.Errorf("%w: no xz stream before byte %d", ErrCorrupt, end)
		}
		if err := readAt(r, buf[:], end-streamFooterLen); err != nil {
			return nil, err
		}
		check, indexSize, err := parseStreamFooter(buf[:])
		if err != nil && len(streams) == 0 && !bytes.Equal(buf[10:], footerMagic) {
			return nil, errNoFooter
		}
		if err != nil {
			return nil, fmt.Errorf("%w (at byte %d)", err, end-streamFooterLen)
		}
		indexStart := end - streamFooterLen - indexSize
		if indexSize > maxIndex {
			return nil, fmt.Errorf("%w: an index of %d bytes (at byte %d)", ErrUnsupported, indexSize, end-streamFooterLen)
		}
		if indexStart < streamHeaderLen {
			return nil, fmt.Errorf("%w: stream footer gives an index larger than the file (at byte %d)", ErrCorrupt, end-streamFooterLen)
		}
		index := make([]byte, indexSize)
		if err := readAt(r, index, indexStart); err != nil {
			return nil, err
		}
		records, err := parseIndex(index)
		if err != nil {
			return nil, fmt.Errorf("%w (index at byte %d)", err, indexStart)
		}
		blocksSize := int64(0)
		tooMany := false
		for _, rec := range records {
			if rec.padded() > indexStart-blocksSize {
				tooMany = true
				break
			}
			blocksSize += rec.padded()
		}
		start := indexStart - blocksSize - streamHeaderLen
		if tooMany || start < 0 {
			return nil, fmt.Errorf("%w: index lists more blocks than the file holds (index at byte %d)", ErrCorrupt, indexStart)
		}
		if err := readAt(r, buf[:], start); err != nil {
			return nil, err
		}
		headerCheck, err := parseStreamHeader(buf[:])
		if err != nil {
			return nil, fmt.Errorf("%w (stream at byte %d, as its index places it)", err, start)
		}
		if headerCheck != check {
			return nil, fmt.Errorf("%w: stream header and footer disagree on the check (at byte %d)", ErrCorrupt, start)
		}
		if checkSize(check) != 0 && check != checkCRC32 && check != checkCRC64 && check != checkSHA256 {
			return nil, fmt.Errorf("%w: check type %#x (at byte %d)", ErrUnsupported, check, start)
		}
		stream := make([]block, len(records))
		off := start + streamHeaderLen
		for i, rec := range records {
			stream[i] = block{offset: off, record: rec, check: check}
			off += rec.padded()
		}
		streams = append(streams, stream)
		end = start
	}
	var blocks []block
	var uoff int64
	for i := len(streams) - 1; i >= 0; i-- {
		for _, b := range streams[i] {
			b.uoffset = uoff
			uoff += b.uncompressed
			if uoff < 0 || uoff > maxVLI {
				return nil, fmt.Errorf("%w: decoded size overflows", ErrCorrupt)
			}
			blocks = append(blocks, b)
		}
	}
	if len(streams) == 0 {
		return nil, fmt.Errorf("%w: only zeros", ErrCorrupt)
	}
	return blocks, nil
}

// diagnose says what is wrong with a file with no stream footer at its
// end, which no valid .xz file is. Nearly always it was cut short; when
// its block headers give their sizes, diagnose hops along them to say
// where the last whole block ends, and it checks the stream header, so
// that a file that merely starts as xz is called corrupt.
func diagnose(r io.ReaderAt, size int64) error {
	var head [streamHeaderLen]byte
	if err := readAt(r, head[:], 0); err != nil {
		return err
	}
	check, err := parseStreamHeader(head[:])
	if err != nil {
		return fmt.Errorf("%w (at byte 0)", err)
	}
	hdr := make([]byte, 1024)
	off := int64(streamHeaderLen)
	for off < size {
		if err := readAt(r, hdr[:1], off); err != nil {
			break
		}
		n := (int(hdr[0]) + 1) * 4
		if hdr[0] == 0 || readAt(r, hdr[:n], off) != nil {
			break
		}
		h, err := parseBlockHeader(hdr[:n])
		if err != nil {
			return fmt.Errorf("%w (block at byte %d)", err, off)
		}
		if h.compressed < 0 {
			break
		}
		next := off + (int64(h.size)+h.compressed+3)&^3 + int64(checkSize(check))
		if next > size {
			return fmt.Errorf("%w: the block at byte %d ends at byte %d, past the end of the file (%d bytes)", ErrTruncated, off, next, size)
		}
		off = next
	}
	return fmt.Errorf("%w: the file ends at byte %d with no xz stream footer", ErrTruncated, size)
}

// countingReader counts what was read through it, for progress and error
// offsets of the stream decoder.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// A decodeJob is one block on its way through the workers to emit.
type decodeJob struct {
	block
	err error
	// streamed blocks are too big to buffer; the emitter decodes them.
	streamed bool
}

// decodeBlocks decodes blocks on workers and emits them in order.
func decodeBlocks(ctx context.Context, r io.ReaderAt, blocks []block, opts Options, emit func(off int64, p []byte) error) error {
	next := 0
	return inOrder(ctx, opts.workers(),
		func() (*decodeJob, bool) {
			if next == len(blocks) {
				return nil, false
			}
			b := blocks[next]
			next++
			return &decodeJob{block: b, streamed: b.uncompressed > maxBuffered || b.padded() > maxBuffered}, true
		},
		func() func(*decodeJob, []byte) []byte {
			var in []byte // the worker's compressed input
			return func(j *decodeJob, out []byte) []byte {
				if j.streamed {
					return out
				}
				out, j.err = decodeBlock(r, j.block, out, &in)
				return out
			}
		},
		func(j *decodeJob, out []byte) error {
			if j.streamed {
				if err := streamBlock(ctx, r, j.block, opts, emit); err != nil {
					return err
				}
			} else {
				if j.err != nil {
					return j.err
				}
				if err := emit(j.uoffset, out[:j.uncompressed]); err != nil {
					return err
				}
			}
			opts.progress(j.offset + j.padded())
			return nil
		})
}

// blockLayout checks a block's header against its index record and
// returns the size of its compressed data.
func blockLayout(b block, h blockHeader) (int64, error) {
	compressed := b.unpadded - int64(h.size) - int64(checkSize(b.check))
	switch {
	case compressed <= 0:
		return 0, fmt.Errorf("%w: block is smaller than its header (at byte %d)", ErrCorrupt, b.offset)
	case h.compressed >= 0 && h.compressed != compressed:
		return 0, fmt.Errorf("%w: block header and index disagree on the compressed size (at byte %d)", ErrCorrupt, b.offset)
	case h.uncompressed >= 0 && h.uncompressed != b.uncompressed:
		return 0, fmt.Errorf("%w: block header and index disagree on the uncompressed size (at byte %d)", ErrCorrupt, b.offset)
	}
	return compressed, nil
}

// dictCap is the dictionary a block needs: no bigger than the block,
// whatever the header says, so that small blocks cost little memory.
func dictCap(h blockHeader, uncompressed int64) int {
	return int(max(lzma.MinDictCap, min(h.dictCap, uncompressed)))
}

func newCheck(check byte) hash.Hash {
	switch check {
	case checkCRC32:
		return crc32.NewIEEE()
	case checkCRC64:
		return crc64.New(crc64Table)
	case checkSHA256:
		return sha256.New()
	}
	return nil
}

// verify compares a block's check with its data's.
func verify(b block, h hash.Hash, want []byte) error {
	if h == nil {
		return nil
	}
	var sum [sha256.Size]byte
	got := h.Sum(sum[:0])
	if len(got) <= 8 {
		// CRCs are stored little-endian, Sum gives them big-endian.
		slices.Reverse(got)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: block fails its %s check (at byte %d)", ErrCorrupt, checkName(b.check), b.offset)
	}
	return nil
}

// decodeBlock decodes block b into out (grown as needed), reading its
// compressed form into *in (likewise).
func decodeBlock(r io.ReaderAt, b block, out []byte, in *[]byte) ([]byte, error) {
	size := int(b.padded())
	if cap(*in) < size {
		*in = make([]byte, size)
	}
	raw := (*in)[:size]
	if err := readAt(r, raw, b.offset); err != nil {
		return out, err
	}
	h, err := parseBlockHeader(raw)
	if err != nil {
		return out, fmt.Errorf("%w (block at byte %d)", err, b.offset)
	}
	compressed, err := blockLayout(b, h)
	if err != nil {
		return out, err
	}
	if cap(out) < int(b.uncompressed) {
		out = make([]byte, b.uncompressed)
	}
	out = out[:b.uncompressed]
	tail := raw[int64(h.size)+compressed:]
	checkLen := checkSize(b.check)
	for _, c := range tail[:len(tail)-checkLen] {
		if c != 0 {
			return out, fmt.Errorf("%w: block padding is not zero (at byte %d)", ErrCorrupt, b.offset)
		}
	}
	if zeros(b, compressed, out, tail[len(tail)-checkLen:]) {
		return out, nil
	}
	data := raw[h.size : int64(h.size)+compressed]
	src := bytes.NewReader(data)
	lr, err := lzma.Reader2Config{DictCap: dictCap(h, b.uncompressed)}.NewReader2(src)
	if err != nil {
		return out, lzmaError(b, err)
	}
	if _, err := io.ReadFull(lr, out); err != nil {
		return out, lzmaError(b, err)
	}
	if err := lzmaEnd(b, lr, func() int64 { return int64(src.Len()) }); err != nil {
		return out, err
	}
	sum := newCheck(b.check)
	if sum != nil {
		sum.Write(out)
	}
	return out, verify(b, sum, tail[len(tail)-checkLen:])
}

// zeroRatio is how much smaller than its data a block must be compressed
// for zeros to try it as all zeros: xz packs 24 MiB of zeros into a few
// KiB.
const zeroRatio = 256

// zeros says whether block b, compressed to compressed bytes, holds only
// zeros, as its check (want) tells, and then clears out. Runs of zeros are
// most of a disk image, and ulikunitz/xz decodes them at a tenth of
// xz-utils' speed (it copies a distance-1 match a byte at a time), so a
// block that compressed that well is first tried as zeros: if the check
// of that many zero bytes is the block's check, the block is zeros, with
// the certainty of a CRC64 or SHA-256 (the odds that a corrupt block
// passes its check, which is what any xz decoder relies on). Blocks with
// weaker checks (CRC32, none) are always decoded.
func zeros(b block, compressed int64, out, want []byte) bool {
	if b.check != checkCRC64 && b.check != checkSHA256 || compressed*zeroRatio > b.uncompressed {
		return false
	}
	clear(out)
	sum := newCheck(b.check)
	sum.Write(out)
	return verify(b, sum, want) == nil
}

// lzmaEnd checks that the LZMA2 data ended where the sizes say: its end
// marker next, and nothing after it.
func lzmaEnd(b block, lr *lzma.Reader2, left func() int64) error {
	var one [1]byte
	if n, err := lr.Read(one[:]); n != 0 || err != io.EOF {
		return fmt.Errorf("%w: block holds more data than its size (at byte %d)", ErrCorrupt, b.offset)
	}
	if n := left(); n != 0 {
		return fmt.Errorf("%w: block has %d bytes after its LZMA2 data (at byte %d)", ErrCorrupt, n, b.offset)
	}
	return nil
}

func lzmaError(b block, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: LZMA2 data ends before the block's size (at byte %d)", ErrCorrupt, b.offset)
	}
	return fmt.Errorf("%w: LZMA2 data: %v (block at byte %d)", ErrCorrupt, err, b.offset)
}

// streamBlock decodes a block too big to buffer, emitting as it goes.
func streamBlock(ctx context.Context, r io.ReaderAt, b block, opts Options, emit func(off int64, p []byte) error) error {
	var hdr [1024]byte
	if err := readAt(r, hdr[:1], b.offset); err != nil {
		return err
	}
	n := (int(hdr[0]) + 1) * 4
	if err := readAt(r, hdr[:n], b.offset); err != nil {
		return err
	}
	h, err := parseBlockHeader(hdr[:n])
	if err != nil {
		return fmt.Errorf("%w (block at byte %d)", err, b.offset)
	}
	compressed, err := blockLayout(b, h)
	if err != nil {
		return err
	}
	in := &countingReader{r: io.NewSectionReader(r, b.offset+int64(h.size), compressed)}
	buffered := bufio.NewReaderSize(in, 1<<20)
	lr, err := lzma.Reader2Config{DictCap: dictCap(h, b.uncompressed)}.NewReader2(buffered)
	if err != nil {
		return lzmaError(b, err)
	}
	sum := newCheck(b.check)
	buf := make([]byte, streamChunk)
	for off := int64(0); off < b.uncompressed; {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := buf[:min(int64(len(buf)), b.uncompressed-off)]
		if _, err := io.ReadFull(lr, p); err != nil {
			return lzmaError(b, err)
		}
		if sum != nil {
			sum.Write(p)
		}
		if err := emit(b.uoffset+off, p); err != nil {
			return err
		}
		off += int64(len(p))
		opts.progress(b.offset + in.n)
	}
	if err := lzmaEnd(b, lr, func() int64 { return int64(buffered.Buffered()) + compressed - in.n }); err != nil {
		return err
	}
	tail := make([]byte, b.padded()-int64(h.size)-compressed)
	if err := readAt(r, tail, b.offset+int64(h.size)+compressed); err != nil {
		return err
	}
	checkLen := checkSize(b.check)
	for _, c := range tail[:len(tail)-checkLen] {
		if c != 0 {
			return fmt.Errorf("%w: block padding is not zero (at byte %d)", ErrCorrupt, b.offset)
		}
	}
	return verify(b, sum, tail[len(tail)-checkLen:])
}
