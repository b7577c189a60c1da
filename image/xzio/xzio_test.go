package xzio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

// sample is data shaped like a disk image: text, random bytes and runs of
// zeros, in 64 KiB pieces.
func sample(size int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, 0, size)
	for len(b) < size {
		piece := make([]byte, min(64<<10, size-len(b)))
		switch rng.IntN(4) {
		case 0, 1:
			for i := 0; i < len(piece); {
				i += copy(piece[i:], fmt.Sprintf("line %d: key%d = value %d\n", i, rng.IntN(50), rng.IntN(1000)))
			}
		case 2:
			for i := range piece {
				piece[i] = byte(rng.Uint32())
			}
		}
		b = append(b, piece...)
	}
	return b
}

// xzUtils compresses data with the real xz and the given flags.
func xzUtils(t testing.TB, data []byte, flags ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("xz (xz-utils) is not installed; make deps installs it")
	}
	cmd := exec.Command("xz", append([]string{"-c", "-q"}, flags...)...)
	cmd.Stdin = bytes.NewReader(data)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("xz %s: %v\n%s", strings.Join(flags, " "), err, stderr.Bytes())
	}
	return out.Bytes()
}

// decodeAll decodes file with Decode into memory, checking that emit sees
// the output in order and in one piece.
func decodeAll(file []byte, workers int) ([]byte, error) {
	var out []byte
	n, err := Decode(context.Background(), bytes.NewReader(file), int64(len(file)), Options{Workers: workers},
		func(off int64, p []byte) error {
			if off != int64(len(out)) {
				return fmt.Errorf("emit at %d after %d bytes", off, len(out))
			}
			out = append(out, p...)
			return nil
		})
	if err == nil && n != int64(len(out)) {
		return out, fmt.Errorf("Decode returned size %d, emitted %d", n, len(out))
	}
	return out, err
}

func TestDecodeXZUtils(t *testing.T) {
	data := sample(2<<20, 1)
	other := sample(1<<20+123, 2)
	zeroish := zeroish()
	tests := []struct {
		name string
		file func(t *testing.T) []byte
		want []byte
	}{
		{"T1 one block", func(t *testing.T) []byte { return xzUtils(t, data, "-T1", "-6") }, data},
		{"T2 multi-block", func(t *testing.T) []byte { return xzUtils(t, data, "-T2", "-0") }, data},
		{"block-size 512KiB", func(t *testing.T) []byte { return xzUtils(t, data, "--block-size=512KiB", "-3") }, data},
		{"crc32", func(t *testing.T) []byte { return xzUtils(t, data, "--check=crc32", "--block-size=512KiB", "-3") }, data},
		{"crc64", func(t *testing.T) []byte { return xzUtils(t, data, "--check=crc64", "--block-size=512KiB", "-3") }, data},
		{"sha256", func(t *testing.T) []byte { return xzUtils(t, data, "--check=sha256", "--block-size=512KiB", "-3") }, data},
		{"none", func(t *testing.T) []byte { return xzUtils(t, data, "--check=none", "--block-size=512KiB", "-3") }, data},
		{"empty", func(t *testing.T) []byte { return xzUtils(t, nil) }, nil},
		// Blocks of zeros, and of a pattern that compresses as well but is
		// not zeros, under each check: the zero shortcut must not take the
		// pattern for zeros.
		{"zeros crc64", func(t *testing.T) []byte { return xzUtils(t, zeroish, "--block-size=512KiB", "-3") }, zeroish},
		{"zeros sha256", func(t *testing.T) []byte { return xzUtils(t, zeroish, "--block-size=1MiB", "--check=sha256") }, zeroish},
		{"zeros crc32", func(t *testing.T) []byte { return xzUtils(t, zeroish, "--block-size=1MiB", "--check=crc32") }, zeroish},
		{"zeros none", func(t *testing.T) []byte { return xzUtils(t, zeroish, "--block-size=1MiB", "--check=none") }, zeroish},
		{"concatenated", func(t *testing.T) []byte {
			return concat(xzUtils(t, data, "--block-size=512KiB", "-3"), xzUtils(t, other, "-T1", "--check=sha256"))
		}, concat(data, other)},
		{"padding", func(t *testing.T) []byte {
			return concat(xzUtils(t, data, "--block-size=1MiB", "-3"), make([]byte, 8), xzUtils(t, other), make([]byte, 4))
		}, concat(data, other)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := tt.file(t)
			for _, workers := range []int{1, 3} {
				got, err := decodeAll(file, workers)
				if err != nil {
					t.Fatalf("workers %d: %v", workers, err)
				}
				if !bytes.Equal(got, tt.want) {
					t.Fatalf("workers %d: decoded %d bytes, not the %d put in", workers, len(got), len(tt.want))
				}
			}
		})
	}
}

// zeroish is 2 MiB of zeros, 2 MiB of one repeated byte, 1 MiB of zeros
// but for one byte, and data.
func zeroish() []byte {
	b := make([]byte, 6<<20)
	for i := 2 << 20; i < 4<<20; i++ {
		b[i] = 0xaa
	}
	b[4<<20+12345] = 1
	copy(b[5<<20:], sample(1<<20, 9))
	return b
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestDecodeStreamedBlock makes every block too big to buffer, so that
// they are decoded as streams, in order, between buffered ones.
func TestDecodeStreamedBlock(t *testing.T) {
	data := sample(6<<20, 3)
	file := concat(xzUtils(t, data[:4<<20], "-T1"), xzUtils(t, data[4<<20:], "--block-size=256KiB"))
	defer func(old int64) { maxBuffered = old }(maxBuffered)
	maxBuffered = 1 << 20
	got, err := decodeAll(file, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("decoded %d bytes, not the %d put in", len(got), len(data))
	}
	// And a bit flipped in the streamed block's data is caught at its end.
	file[len(file)/4] ^= 0x10
	if _, err := decodeAll(file, 2); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped streamed block: err = %v, want ErrCorrupt", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	data := sample(3<<20, 4)
	file := xzUtils(t, data, "--block-size=512KiB")
	single := xzUtils(t, data, "-T1")
	tests := []struct {
		name string
		file []byte
		want error
		text string
	}{
		{"half", file[:len(file)/2], ErrTruncated, "xz data ends early (truncated download?)"},
		{"no last byte", file[:len(file)-1], ErrTruncated, "truncated"},
		{"no footer", file[:len(file)-12], ErrTruncated, "truncated"},
		{"header only", file[:12], ErrTruncated, "truncated"},
		{"single block, half", single[:len(single)/2], ErrTruncated, "truncated"},
		{"single block, no footer", single[:len(single)-12], ErrTruncated, "truncated"},
		{"not xz", []byte("hello, this is not xz at all"), ErrCorrupt, "stream header"},
		{"flipped data", flip(file, 2000), ErrCorrupt, "at byte"},
		{"flipped check", flip(file, indexOf(t, file)-3), ErrCorrupt, "check"},
		{"flipped block header", flip(file, 14), ErrCorrupt, "block header fails its CRC32 (block at byte 12)"},
		{"flipped index", flip(file, indexOf(t, file)+3), ErrCorrupt, "index"},
		{"flipped footer", flip(file, len(file)-8), ErrCorrupt, "footer"},
		{"flipped stream header", flip(file, 7), ErrCorrupt, "stream header"},
		{"x86 filter", xzUtils(t, data, "--x86", "--lzma2"), ErrUnsupported, "x86 BCJ filter"},
		{"delta filter", xzUtils(t, data, "--delta", "--lzma2"), ErrUnsupported, "delta filter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeAll(tt.file, 2)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("Decode = %v, want %v saying %q", err, tt.want, tt.text)
			}
		})
	}
}

func flip(b []byte, at int) []byte {
	b = bytes.Clone(b)
	b[at] ^= 0x04
	return b
}

// indexOf finds where a one-stream file's index starts.
func indexOf(t *testing.T, file []byte) int {
	_, indexSize, err := parseStreamFooter(file[len(file)-12:])
	if err != nil {
		t.Fatal(err)
	}
	return len(file) - 12 - int(indexSize)
}

// TestDecodeNeverLies flips bits all over a file: every result is either
// an error or the right data, never a panic or wrong data.
func TestDecodeNeverLies(t *testing.T) {
	data := sample(256<<10, 5)
	zeros := zeroish()[1<<20 : 3<<20]
	for _, tt := range []struct {
		data  []byte
		flags []string
	}{
		{data, []string{"--block-size=32KiB"}},
		{data, []string{"-T1", "--check=crc32"}},
		{zeros, []string{"--block-size=512KiB"}},
	} {
		data, flags := tt.data, tt.flags
		file := xzUtils(t, data, flags...)
		step := max(1, len(file)/150)
		for at := 0; at < len(file); at += step {
			for _, bit := range []byte{0x01, 0x80} {
				bad := bytes.Clone(file)
				bad[at] ^= bit
				got, err := decodeAll(bad, 2)
				if err == nil && !bytes.Equal(got, data) {
					t.Fatalf("xz %v, byte %d ^ %#x: Decode returned wrong data and no error", flags, at, bit)
				}
			}
		}
		for cut := 0; cut < len(file); cut += step {
			if _, err := decodeAll(file[:cut], 2); !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("xz %v, cut at %d: Decode = %v, want an error", flags, cut, err)
			}
		}
	}
}

func TestEncode(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("xz (xz-utils) is not installed; make deps installs it")
	}
	defer func(old int64) { blockSize = old }(blockSize)
	blockSize = 1 << 20
	data := sample(int(blockSize)*5/2, 6)
	// A block of zeros, which is encoded once.
	clear(data[blockSize : 2*blockSize])
	tests := []struct {
		name string
		data []byte
	}{
		{"three blocks", data},
		{"empty", nil},
		{"small", data[:1000]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			var last int64
			err := Encode(context.Background(), &out, bytes.NewReader(tt.data), int64(len(tt.data)), Options{Workers: 2,
				Progress: func(done int64) { last = done }})
			if err != nil {
				t.Fatal(err)
			}
			if last != int64(len(tt.data)) {
				t.Errorf("last progress %d, want %d", last, len(tt.data))
			}
			path := filepath.Join(t.TempDir(), "out.xz")
			if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if msg, err := exec.Command("xz", "-t", path).CombinedOutput(); err != nil {
				t.Fatalf("xz -t: %v\n%s", err, msg)
			}
			got, err := exec.Command("xz", "-dc", path).Output()
			if err != nil {
				t.Fatalf("xz -dc: %v", err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Fatalf("xz -dc gives %d bytes, not the %d encoded", len(got), len(tt.data))
			}
			list, err := exec.Command("xz", "--robot", "--list", path).Output()
			if err != nil {
				t.Fatalf("xz --list: %v", err)
			}
			wantBlocks := (len(tt.data) + int(blockSize) - 1) / int(blockSize)
			if f := strings.Fields(string(list)); !strings.Contains(string(list), fmt.Sprintf("file\t1\t%d\t", wantBlocks)) {
				t.Errorf("xz --list: %s, want %d blocks", f, wantBlocks)
			}
			r, err := xz.NewReader(bytes.NewReader(out.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, tt.data) {
				t.Fatalf("ulikunitz/xz: %d bytes, %v; want the %d encoded", len(got), err, len(tt.data))
			}
			if got, err := decodeAll(out.Bytes(), 2); err != nil || !bytes.Equal(got, tt.data) {
				t.Fatalf("Decode: %d bytes, %v; want the %d encoded", len(got), err, len(tt.data))
			}
		})
	}
}
