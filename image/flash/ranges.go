package flash

import (
	"cmp"
	"fmt"
	"slices"
)

// Range is a byte range of the image, and of the device it is written to.
type Range struct{ Off, Len int64 }

const (
	// blockSize is what ranges are aligned to: a multiple of every logical
	// sector size we meet (512 or 4096), as unbuffered I/O needs.
	blockSize = 4096
	// headSize is the part of the device written last: it holds the MBR,
	// or the protective MBR and primary GPT header.
	headSize = 4096
	// tailSize is what is zeroed at the end of a device bigger than the
	// image, where a backup GPT header from an earlier use would be.
	tailSize = 1 << 20
	// chunkSize is the unit of writing, hashing and verifying.
	chunkSize = 4 << 20
)

// plan returns the ranges Write writes after the head: aligned outward to
// blockSize (the end clamped to the device size), without the head,
// sorted and merged. Ranges must lie within the image.
func plan(ranges []Range, imageSize, deviceSize int64) ([]Range, error) {
	var out []Range
	for _, r := range ranges {
		if r.Off < 0 || r.Len < 0 || r.Off+r.Len > imageSize {
			return nil, fmt.Errorf("range of %d bytes at offset %d lies outside the image (%d bytes)", r.Len, r.Off, imageSize)
		}
		if r.Len == 0 {
			continue
		}
		start := r.Off / blockSize * blockSize
		end := min((r.Off+r.Len+blockSize-1)/blockSize*blockSize, deviceSize)
		start = max(start, headSize)
		if end <= start {
			continue
		}
		out = append(out, Range{start, end - start})
	}
	slices.SortFunc(out, func(a, b Range) int { return cmp.Compare(a.Off, b.Off) })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && r.Off <= merged[n-1].Off+merged[n-1].Len {
			last := &merged[n-1]
			last.Len = max(last.Len, r.Off+r.Len-last.Off)
			continue
		}
		merged = append(merged, r)
	}
	return merged, nil
}

// tail returns the range zeroed at the end of the device: its last
// tailSize bytes, but none of the image's blocks; Len is 0 when the device
// is no bigger than the image's last block.
func tail(imageSize, deviceSize int64) Range {
	imageEnd := (imageSize + blockSize - 1) / blockSize * blockSize
	start := max(deviceSize-tailSize, imageEnd)
	if start >= deviceSize {
		return Range{}
	}
	return Range{start, deviceSize - start}
}

// chunks splits ranges into pieces of at most chunkSize bytes.
func chunks(ranges []Range) []Range {
	var out []Range
	for _, r := range ranges {
		for off := r.Off; off < r.Off+r.Len; off += chunkSize {
			out = append(out, Range{off, min(chunkSize, r.Off+r.Len-off)})
		}
	}
	return out
}

// total is the number of bytes in ranges.
func total(ranges []Range) int64 {
	var n int64
	for _, r := range ranges {
		n += r.Len
	}
	return n
}
