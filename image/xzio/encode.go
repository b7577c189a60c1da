package xzio

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc64"
	"io"
	"sync"

	"github.com/ulikunitz/xz/lzma"
)

// Encoder settings: xz -6's dictionary and block size (three times the
// dictionary, as xz -T0 cuts them), which keeps each block's memory
// modest and gives two cores plenty of blocks.
const (
	BlockSize  = 24 << 20
	encodeDict = 8 << 20
)

// blockSize is BlockSize but in tests, which want several blocks of
// little data.
var blockSize int64 = BlockSize

// An encodeJob is one block on its way through the workers to w.
type encodeJob struct {
	off, size int64
	err       error
}

// Encode writes the first size bytes of src to w as one .xz stream of
// independent LZMA2 blocks of BlockSize, compressed by opts.Workers at
// once, each header giving both sizes and each block a CRC64 check, as
// xz -T0 writes them. A block of zeros is compressed once and reused.
// Memory is about (workers+1) × 2 × BlockSize plus the encoders'.
func Encode(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, opts Options) error {
	zeroBlock := sync.OnceValues(func() ([]byte, error) {
		return encodeBlock(nil, make([]byte, blockSize))
	})
	if _, err := w.Write(appendStreamHeader(nil, checkCRC64)); err != nil {
		return err
	}
	var records []record
	off := int64(0)
	err := inOrder(ctx, opts.workers(),
		func() (*encodeJob, bool) {
			if off >= size {
				return nil, false
			}
			j := &encodeJob{off: off, size: min(blockSize, size-off)}
			off += j.size
			return j, true
		},
		func() func(*encodeJob, []byte) []byte {
			var in []byte // the worker's uncompressed input
			return func(j *encodeJob, out []byte) []byte {
				if cap(in) < int(j.size) {
					in = make([]byte, j.size)
				}
				in = in[:j.size]
				if j.err = readAt(src, in, j.off); j.err != nil {
					return out
				}
				if j.size == blockSize && allZero(in) {
					var zero []byte
					zero, j.err = zeroBlock()
					return append(out[:0], zero...)
				}
				out, j.err = encodeBlock(out[:0], in)
				return out
			}
		},
		func(j *encodeJob, out []byte) error {
			if j.err != nil {
				return j.err
			}
			if _, err := w.Write(out); err != nil {
				return err
			}
			// The check is a multiple of four bytes, so the padding is all
			// before it: unpadded is the encoded size less the padding.
			h, err := parseBlockHeader(out)
			if err != nil {
				return fmt.Errorf("encoding: %w", err) // our own header: a bug
			}
			records = append(records, record{unpadded: int64(h.size) + h.compressed + 8, uncompressed: j.size})
			opts.progress(j.off + j.size)
			return nil
		})
	if err != nil {
		return err
	}
	index := appendIndex(nil, records)
	_, err = w.Write(appendStreamFooter(index, checkCRC64, int64(len(index))))
	return err
}

// encodeBlock appends to out the block that holds data.
func encodeBlock(out, data []byte) ([]byte, error) {
	var body bytes.Buffer
	body.Grow(len(data)/2 + 64)
	lw, err := lzma.Writer2Config{DictCap: encodeDict}.NewWriter2(&body)
	if err != nil {
		return out, err
	}
	if _, err := lw.Write(data); err != nil {
		return out, err
	}
	if err := lw.Close(); err != nil {
		return out, err
	}
	start := len(out)
	out = appendBlockHeader(out, int64(body.Len()), int64(len(data)), encodeDict)
	out = append(out, body.Bytes()...)
	for (len(out)-start)%4 != 0 {
		out = append(out, 0)
	}
	return binary.LittleEndian.AppendUint64(out, crc64.Checksum(data, crc64Table)), nil
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.NativeEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
