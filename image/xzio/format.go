package xzio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/ulikunitz/xz/lzma"
)

// Sizes of the fixed parts of a stream.
const (
	streamHeaderLen = 12
	streamFooterLen = 12
)

var (
	headerMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	footerMagic = []byte{'Y', 'Z'}
)

// Magic is how every .xz file begins.
var Magic = string(headerMagic)

// Check types (the stream flags' low four bits).
const (
	checkNone   = 0x00
	checkCRC32  = 0x01
	checkCRC64  = 0x04
	checkSHA256 = 0x0a
)

// checkSize is the size of each check type's field; the format fixes it
// even for types it does not define, so that a reader can skip them.
func checkSize(check byte) int {
	switch {
	case check == 0:
		return 0
	case check <= 3:
		return 4
	case check <= 6:
		return 8
	case check <= 9:
		return 16
	case check <= 12:
		return 32
	default:
		return 64
	}
}

func checkName(check byte) string {
	switch check {
	case checkNone:
		return "none"
	case checkCRC32:
		return "CRC32"
	case checkCRC64:
		return "CRC64"
	case checkSHA256:
		return "SHA-256"
	}
	return fmt.Sprintf("unknown check type %#x", check)
}

// Filter IDs, named for errors about the ones we refuse.
const filterLZMA2 = 0x21

var filterNames = map[uint64]string{
	0x03: "delta",
	0x04: "x86 BCJ",
	0x05: "PowerPC BCJ",
	0x06: "IA-64 BCJ",
	0x07: "ARM BCJ",
	0x08: "ARM-Thumb BCJ",
	0x09: "SPARC BCJ",
	0x0a: "ARM64 BCJ",
	0x0b: "RISC-V BCJ",
}

// maxVLI is the largest value a variable-length integer may hold (2^63-1).
const maxVLI = 1<<63 - 1

// Errors callers branch on; the decoder's errors wrap one of them and say
// where in the file the trouble is.
var (
	// ErrCorrupt is data that is not what the format says: a failed check
	// or CRC, a bad header, LZMA2 data that does not decode.
	ErrCorrupt = errors.New("corrupt xz data")
	// ErrTruncated is a file that ends before its last stream does.
	ErrTruncated = errors.New("xz data ends early (truncated download?)")
	// ErrUnsupported is valid xz this package does not decode: filters
	// other than LZMA2, unknown check types.
	ErrUnsupported = errors.New("unsupported xz data")
)

func formatError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// readVLI decodes a variable-length integer from the start of b and returns
// it with its length in bytes.
func readVLI(b []byte) (uint64, int, error) {
	var x uint64
	for i := 0; i < 9 && i < len(b); i++ {
		c := b[i]
		x |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if c == 0 && i > 0 {
				return 0, 0, formatError("integer with a redundant zero byte")
			}
			return x, i + 1, nil
		}
	}
	if len(b) < 9 {
		return 0, 0, formatError("integer runs past its field")
	}
	return 0, 0, formatError("integer longer than 9 bytes")
}

func appendVLI(b []byte, x uint64) []byte {
	for x >= 0x80 {
		b = append(b, byte(x)|0x80)
		x >>= 7
	}
	return append(b, byte(x))
}

// streamFlags parses the 2-byte flags and their CRC32 (stream header and
// footer share them) and returns the check type.
func streamFlags(flags []byte) (byte, error) {
	if flags[0] != 0 || flags[1]&0xf0 != 0 {
		return 0, formatError("unsupported stream flags %#x %#x", flags[0], flags[1])
	}
	return flags[1], nil
}

// parseStreamHeader checks a 12-byte stream header and returns its check
// type.
func parseStreamHeader(b []byte) (byte, error) {
	if !bytes.Equal(b[:6], headerMagic) {
		return 0, formatError("no xz stream header")
	}
	if crc32.ChecksumIEEE(b[6:8]) != binary.LittleEndian.Uint32(b[8:12]) {
		return 0, formatError("stream header fails its CRC32")
	}
	return streamFlags(b[6:8])
}

// parseStreamFooter checks a 12-byte stream footer and returns the check
// type and the index's size.
func parseStreamFooter(b []byte) (check byte, indexSize int64, err error) {
	if !bytes.Equal(b[10:12], footerMagic) {
		return 0, 0, formatError("no xz stream footer")
	}
	if crc32.ChecksumIEEE(b[4:10]) != binary.LittleEndian.Uint32(b[0:4]) {
		return 0, 0, formatError("stream footer fails its CRC32")
	}
	check, err = streamFlags(b[8:10])
	return check, (int64(binary.LittleEndian.Uint32(b[4:8])) + 1) * 4, err
}

func appendStreamHeader(b []byte, check byte) []byte {
	b = append(b, headerMagic...)
	flags := []byte{0, check}
	b = append(b, flags...)
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(flags))
}

func appendStreamFooter(b []byte, check byte, indexSize int64) []byte {
	var tail [6]byte
	binary.LittleEndian.PutUint32(tail[:4], uint32(indexSize/4-1))
	tail[5] = check
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(tail[:]))
	b = append(b, tail[:]...)
	return append(b, footerMagic...)
}

// A record is one block's entry in the index.
type record struct {
	// unpadded is the block's size without its padding: header,
	// compressed data and check.
	unpadded, uncompressed int64
}

// padded is the block's size in the file.
func (r record) padded() int64 { return (r.unpadded + 3) &^ 3 }

// parseIndex parses an index (the whole of it, as the footer sizes it).
func parseIndex(b []byte) ([]record, error) {
	if len(b) < 8 || len(b)%4 != 0 {
		return nil, formatError("index of %d bytes", len(b))
	}
	if b[0] != 0 {
		return nil, formatError("no index where the footer says")
	}
	body := b[:len(b)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, formatError("index fails its CRC32")
	}
	p := 1
	count, n, err := readVLI(body[p:])
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	p += n
	// Each record takes at least two bytes: a count beyond that is a lie.
	if count > uint64(len(body)-p)/2 {
		return nil, formatError("index claims %d blocks in %d bytes", count, len(b))
	}
	records := make([]record, 0, count)
	for range count {
		var r [2]uint64
		for j := range r {
			if r[j], n, err = readVLI(body[p:]); err != nil {
				return nil, fmt.Errorf("index: %w", err)
			}
			p += n
		}
		// The smallest block: an 8-byte header and one byte of data.
		if r[0] < 5 || r[0] > maxVLI-3 || r[1] > maxVLI {
			return nil, formatError("index record with impossible sizes %d, %d", r[0], r[1])
		}
		records = append(records, record{unpadded: int64(r[0]), uncompressed: int64(r[1])})
	}
	for ; p%4 != 0; p++ {
		if p >= len(body) || body[p] != 0 {
			return nil, formatError("index padding is not zero")
		}
	}
	if p != len(body) {
		return nil, formatError("index has %d bytes more than its records", len(body)-p)
	}
	return records, nil
}

func appendIndex(b []byte, records []record) []byte {
	start := len(b)
	b = append(b, 0)
	b = appendVLI(b, uint64(len(records)))
	for _, r := range records {
		b = appendVLI(b, uint64(r.unpadded))
		b = appendVLI(b, uint64(r.uncompressed))
	}
	for (len(b)-start)%4 != 0 {
		b = append(b, 0)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b[start:]))
}

// A blockHeader is what a block says of itself.
type blockHeader struct {
	// size is the header's length in bytes.
	size int
	// compressed and uncompressed are the sizes the header gives, or -1.
	compressed, uncompressed int64
	// dictCap is the LZMA2 dictionary size.
	dictCap int64
}

// parseBlockHeader parses the block header at the start of b, which holds
// at least the header's first byte. A b too short for the header the first
// byte announces is an error.
func parseBlockHeader(b []byte) (blockHeader, error) {
	h := blockHeader{compressed: -1, uncompressed: -1}
	if len(b) == 0 {
		return h, formatError("empty block header")
	}
	if b[0] == 0 {
		// A zero here starts the index: the index has fewer records than
		// the stream has blocks, or the reverse.
		return h, formatError("index where a block header should be")
	}
	h.size = (int(b[0]) + 1) * 4
	if len(b) < h.size {
		return h, formatError("block header of %d bytes in %d", h.size, len(b))
	}
	b = b[:h.size]
	if crc32.ChecksumIEEE(b[:h.size-4]) != binary.LittleEndian.Uint32(b[h.size-4:]) {
		return h, formatError("block header fails its CRC32")
	}
	flags := b[1]
	if flags&0x3c != 0 {
		return h, formatError("block header has reserved flags %#x", flags)
	}
	body := b[2 : h.size-4]
	p := 0
	vli := func(what string) (int64, error) {
		x, n, err := readVLI(body[p:])
		if err != nil {
			return 0, fmt.Errorf("block header %s: %w", what, err)
		}
		p += n
		if x > maxVLI {
			return 0, formatError("block header %s %d is too big", what, x)
		}
		return int64(x), nil
	}
	var err error
	if flags&0x40 != 0 {
		if h.compressed, err = vli("compressed size"); err != nil {
			return h, err
		}
		if h.compressed == 0 {
			return h, formatError("block header says compressed size 0")
		}
	}
	if flags&0x80 != 0 {
		if h.uncompressed, err = vli("uncompressed size"); err != nil {
			return h, err
		}
	}
	filters := int(flags&3) + 1
	for i := range filters {
		id, err := vli("filter id")
		if err != nil {
			return h, err
		}
		propsLen, err := vli("filter properties size")
		if err != nil {
			return h, err
		}
		if propsLen > int64(len(body)-p) {
			return h, formatError("block header filter properties run past the header")
		}
		props := body[p : p+int(propsLen)]
		p += int(propsLen)
		if id != filterLZMA2 {
			if name, ok := filterNames[uint64(id)]; ok {
				return h, fmt.Errorf("%w: the %s filter is not supported (only LZMA2; recompress with plain xz)", ErrUnsupported, name)
			}
			return h, fmt.Errorf("%w: filter %#x is not supported (only LZMA2)", ErrUnsupported, id)
		}
		if i != filters-1 {
			return h, formatError("LZMA2 filter is not last in the chain")
		}
		if len(props) != 1 {
			return h, formatError("LZMA2 filter properties of %d bytes", len(props))
		}
		if h.dictCap, err = lzma.DecodeDictCap(props[0]); err != nil {
			return h, formatError("LZMA2 dictionary size %#x", props[0])
		}
	}
	for ; p < len(body); p++ {
		if body[p] != 0 {
			return h, formatError("block header padding is not zero")
		}
	}
	return h, nil
}

// appendBlockHeader appends the header of an LZMA2 block with both sizes.
func appendBlockHeader(b []byte, compressed, uncompressed, dictCap int64) []byte {
	start := len(b)
	b = append(b, 0, 0xc0) // size, set below; both sizes present, one filter
	b = appendVLI(b, uint64(compressed))
	b = appendVLI(b, uint64(uncompressed))
	b = append(b, filterLZMA2, 1, lzma.EncodeDictCap(dictCap))
	for (len(b)-start)%4 != 0 {
		b = append(b, 0)
	}
	b[start] = byte((len(b)-start+4)/4 - 1)
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b[start:]))
}
