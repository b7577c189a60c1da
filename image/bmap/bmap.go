// Package bmap writes and reads block maps in bmaptool's XML format,
// version 2.0: which 4096-byte blocks of a disk image hold what must be
// written to a card, each run of blocks with its SHA-256, so that
// `bmaptool copy --bmap IMG.bmap IMG /dev/sdX` writes only those and checks
// them as it goes. The bmap file carries its own SHA-256 too
// (BmapFileChecksum, computed with its value read as 64 '0' characters).
//
// Limits: version 2.0 only, with SHA-256 checksums and 4096-byte blocks
// (what bmaptool 3.x writes); Read refuses other versions, checksum types
// and block sizes. A mapped block at the end of an image whose size is not
// a multiple of 4096 is partial: its checksum covers the bytes the image
// has, as bmaptool reads them. No signatures (bmaptool's .asc or .sig).
package bmap

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/pibake/pibake/image"
)

// BlockSize is the block size of the maps this package writes.
const BlockSize = 4096

// Version is the bmap format version this package writes and reads.
const Version = "2.0"

// zeroChecksum stands for the bmap file's checksum while it is computed.
var zeroChecksum = bytes.Repeat([]byte("0"), 2*sha256.Size)

// Write writes to w the block map of src, a size-byte image whose bytes
// that matter are in ranges (image.Image.UsedRanges; in any order,
// overlapping or not, widened to whole blocks here). It reads every mapped
// byte of src to checksum it; name is src's name, for errors.
func Write(w io.Writer, src io.ReaderAt, size int64, ranges []image.Range, name string) error {
	blocks := blockRanges(ranges, size)
	var b bytes.Buffer
	var mapped int64
	for _, r := range blocks {
		mapped += r.Last - r.First + 1
	}
	count := (size + BlockSize - 1) / BlockSize
	fmt.Fprintf(&b, "<?xml version=\"1.0\" ?>\n"+
		"<!-- The block map of an image: bmaptool copy writes only the blocks listed,\n"+
		"     checking each range's SHA-256. -->\n"+
		"<bmap version=\"%s\">\n"+
		"    <ImageSize> %d </ImageSize>\n"+
		"    <BlockSize> %d </BlockSize>\n"+
		"    <BlocksCount> %d </BlocksCount>\n"+
		"    <!-- %.1f%% of the image is mapped -->\n"+
		"    <MappedBlocksCount> %d </MappedBlocksCount>\n"+
		"    <ChecksumType> sha256 </ChecksumType>\n"+
		"    <!-- The checksum of this file, taken with its value here as 64 \"0\" characters. -->\n"+
		"    <BmapFileChecksum> ",
		Version, size, BlockSize, count, percent(mapped, count), mapped)
	checksumAt := b.Len()
	b.Write(zeroChecksum)
	b.WriteString(" </BmapFileChecksum>\n    <BlockMap>\n")

	h := sha256.New()
	buf := make([]byte, 1<<20)
	for _, r := range blocks {
		h.Reset()
		start, end := r.First*BlockSize, min((r.Last+1)*BlockSize, size)
		if _, err := io.CopyBuffer(h, io.NewSectionReader(src, start, end-start), buf); err != nil {
			return fmt.Errorf("mapping %s: reading bytes %d to %d: %w", name, start, end, err)
		}
		fmt.Fprintf(&b, "        <Range chksum=\"%x\"> %s </Range>\n", h.Sum(nil), r)
	}
	b.WriteString("    </BlockMap>\n</bmap>\n")

	sum := sha256.Sum256(b.Bytes())
	hex.Encode(b.Bytes()[checksumAt:], sum[:])
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("writing the block map of %s: %w", name, err)
	}
	return nil
}

func percent(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}

// A BlockRange is a run of blocks, first to last inclusive, and the hex
// SHA-256 of their bytes.
type BlockRange struct {
	First, Last int64
	Checksum    string
}

// String is the range as a bmap file writes it: "first-last", or "first"
// for a single block.
func (r BlockRange) String() string {
	if r.First == r.Last {
		return fmt.Sprint(r.First)
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// blockRanges turns byte ranges into sorted, merged runs of whole blocks,
// none past the end of a size-byte image.
func blockRanges(ranges []image.Range, size int64) []BlockRange {
	var out []BlockRange
	for _, r := range ranges {
		end := min(r.Off+r.Len, size)
		if r.Len <= 0 || r.Off < 0 || r.Off >= end {
			continue
		}
		out = append(out, BlockRange{First: r.Off / BlockSize, Last: (end - 1) / BlockSize})
	}
	slices.SortFunc(out, func(a, b BlockRange) int { return cmp.Compare(a.First, b.First) })
	merged := out[:0]
	for _, r := range out {
		if k := len(merged); k > 0 && r.First <= merged[k-1].Last+1 {
			merged[k-1].Last = max(merged[k-1].Last, r.Last)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// Map is a block map as Read finds it.
type Map struct {
	ImageSize         int64
	BlockSize         int64
	BlocksCount       int64
	MappedBlocksCount int64
	// Ranges are the mapped blocks, as the file lists them.
	Ranges []BlockRange
}

// ErrInvalid is wrapped by Read's errors about the map's content.
var ErrInvalid = errors.New("invalid block map")

// Read reads a block map in bmaptool's format 2.0 and checks it: its own
// checksum, SHA-256 checksums, 4096-byte blocks, counts that agree.
func Read(r io.Reader) (*Map, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading a block map: %w", err)
	}
	var x struct {
		Version           string `xml:"version,attr"`
		ImageSize         string
		BlockSize         string
		BlocksCount       string
		MappedBlocksCount string
		ChecksumType      string
		BmapFileChecksum  string
		Ranges            []struct {
			Checksum string `xml:"chksum,attr"`
			Blocks   string `xml:",chardata"`
		} `xml:"BlockMap>Range"`
	}
	if err := xml.Unmarshal(raw, &x); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if x.Version != Version {
		return nil, invalid("version %q (only %s is read)", x.Version, Version)
	}
	if t := strings.TrimSpace(x.ChecksumType); t != "sha256" {
		return nil, invalid("checksum type %q (only sha256 is read)", t)
	}
	sum := strings.TrimSpace(x.BmapFileChecksum)
	at := bytes.Index(raw, []byte(sum))
	if len(sum) != len(zeroChecksum) || at < 0 {
		return nil, invalid("BmapFileChecksum %q", sum)
	}
	zeroed := slices.Clone(raw)
	copy(zeroed[at:], zeroChecksum)
	if got := sha256.Sum256(zeroed); hex.EncodeToString(got[:]) != sum {
		return nil, invalid("the file's checksum is %x, BmapFileChecksum says %s", got, sum)
	}
	m := &Map{}
	for _, f := range []struct {
		name string
		text string
		to   *int64
	}{
		{"ImageSize", x.ImageSize, &m.ImageSize},
		{"BlockSize", x.BlockSize, &m.BlockSize},
		{"BlocksCount", x.BlocksCount, &m.BlocksCount},
		{"MappedBlocksCount", x.MappedBlocksCount, &m.MappedBlocksCount},
	} {
		if *f.to, err = strconv.ParseInt(strings.TrimSpace(f.text), 10, 64); err != nil || *f.to < 0 {
			return nil, invalid("%s %q", f.name, f.text)
		}
	}
	if m.BlockSize != BlockSize {
		return nil, invalid("block size %d (only %d is read)", m.BlockSize, BlockSize)
	}
	if m.BlocksCount != (m.ImageSize+BlockSize-1)/BlockSize {
		return nil, invalid("%d blocks of %d bytes for an image of %d bytes", m.BlocksCount, m.BlockSize, m.ImageSize)
	}
	var mapped int64
	for _, xr := range x.Ranges {
		first, last, isRange := strings.Cut(strings.TrimSpace(xr.Blocks), "-")
		if !isRange {
			last = first
		}
		r := BlockRange{Checksum: xr.Checksum}
		var err1, err2 error
		r.First, err1 = strconv.ParseInt(strings.TrimSpace(first), 10, 64)
		r.Last, err2 = strconv.ParseInt(strings.TrimSpace(last), 10, 64)
		if err1 != nil || err2 != nil || r.First < 0 || r.First > r.Last || r.Last >= m.BlocksCount {
			return nil, invalid("range %q in an image of %d blocks", xr.Blocks, m.BlocksCount)
		}
		m.Ranges = append(m.Ranges, r)
		mapped += r.Last - r.First + 1
	}
	if mapped != m.MappedBlocksCount {
		return nil, invalid("the ranges map %d blocks, MappedBlocksCount says %d", mapped, m.MappedBlocksCount)
	}
	return m, nil
}
