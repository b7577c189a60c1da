package xzio

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/ulikunitz/xz"
)

// FuzzParseIndex: the index parser never panics, and what it accepts it
// writes back the same.
func FuzzParseIndex(f *testing.F) {
	f.Add(appendIndex(nil, nil))
	f.Add(appendIndex(nil, []record{{unpadded: 100, uncompressed: 1000}, {unpadded: 7, uncompressed: 0}}))
	f.Add([]byte{0, 1, 0x80, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		records, err := parseIndex(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("parseIndex error %v is not ErrCorrupt", err)
			}
			return
		}
		if again := appendIndex(nil, records); !bytes.Equal(again, b) {
			t.Fatalf("parseIndex(%x) = %v, which writes back as %x", b, records, again)
		}
	})
}

// FuzzParseBlockHeader: the block header parser never panics and refuses
// with ErrCorrupt or ErrUnsupported.
func FuzzParseBlockHeader(f *testing.F) {
	f.Add(appendBlockHeader(nil, 1234, 5678, 8<<20))
	f.Add([]byte{0x02, 0x00, 0x21, 0x01, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00})
	f.Add([]byte{0x03, 0x01, 0x04, 0x00, 0x21, 0x01, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseBlockHeader(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("parseBlockHeader error %v is neither ErrCorrupt nor ErrUnsupported", err)
			}
			return
		}
		if h.size > len(b) || h.dictCap <= 0 {
			t.Fatalf("parseBlockHeader(%x) = %+v", b, h)
		}
	})
}

// FuzzDecode: Decode never panics, and what both it and ulikunitz/xz
// decode without error they decode the same.
func FuzzDecode(f *testing.F) {
	small := sample(300<<10, 10)
	for _, flags := range [][]string{{"--block-size=64KiB"}, {"-T1", "--check=crc32"}, {"--check=sha256", "--block-size=100KiB"}} {
		f.Add(xzUtils(f, small, flags...))
	}
	f.Add(xzUtils(f, make([]byte, 1<<20), "--block-size=512KiB"))
	f.Fuzz(func(t *testing.T, file []byte) {
		got, err := decodeAll(file, 2)
		if err != nil {
			return
		}
		r, err := xz.NewReader(bytes.NewReader(file))
		if err != nil {
			t.Fatalf("Decode took a file ulikunitz/xz refuses: %v", err)
		}
		want, err := io.ReadAll(r)
		if err != nil {
			// ulikunitz/xz is stricter on some things (it wants the LZMA2
			// chunk sequence of a block of zeros whole even when the
			// check says zeros), and emits a bad block before it says it
			// is bad: no judge then.
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Decode gives %d bytes that ulikunitz/xz does not", len(got))
		}
	})
}
