package image

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// dataRanges lists the ranges of f between start and end that hold data,
// holes left out, as lseek's SEEK_DATA and SEEK_HOLE find them.
func dataRanges(f *os.File, start, end int64) ([]Range, error) {
	var out []Range
	for off := start; off < end; {
		data, err := f.Seek(off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			return nil, fmt.Errorf("finding data at byte %d: %w", off, err)
		}
		if data >= end {
			break
		}
		hole, err := f.Seek(data, unix.SEEK_HOLE)
		if err != nil {
			return nil, fmt.Errorf("finding a hole after byte %d: %w", data, err)
		}
		hole = min(hole, end)
		out = append(out, Range{data, hole - data})
		off = hole
	}
	return out, nil
}
