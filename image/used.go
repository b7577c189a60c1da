package image

import (
	"cmp"
	"fmt"
	"slices"
)

// Range is a span of bytes of the disk image.
type Range struct {
	Off, Len int64
}

// rangeAlign is the unit ranges are widened to: a page, bmaptool's block
// and every SD card's write unit or a fraction of it.
const rangeAlign = 4096

// Size is the image's size in bytes, as opened: what a card must hold.
func (im *Image) Size() int64 { return im.size }

// ReadAt reads the disk image (not a partition) at byte off, as
// io.ReaderAt says.
func (im *Image) ReadAt(p []byte, off int64) (int, error) {
	return im.disk.ReadAt(p, off)
}

// UsedRanges lists the byte ranges of the disk image that must be written
// to reproduce it on a device full of garbage: what the FAT32 boot and the
// ext4 root filesystems use (fat.FS.UsedRanges, ext4.FS.UsedRanges), and,
// outside those two partitions (the MBR, the gaps, any other partition),
// every byte the file holds, holes left out since they read as zeros and a
// device need not (bmaptool skips them too). Free space inside the two
// filesystems is left out even where it holds stale data.
//
// The ranges are sorted and apart, each widened to 4096-byte boundaries
// (more image bytes are never wrong to write) and clipped to Size; the
// first 4096 bytes, with the partition table, are always in. Holes are
// found with SEEK_DATA on Linux; elsewhere everything outside the
// filesystems counts as data. On an Overlay, what was written counts too.
func (im *Image) UsedRanges() ([]Range, error) {
	size := im.size
	ranges := []Range{{0, rangeAlign}}

	boot, err := im.boot.UsedRanges()
	if err != nil {
		return nil, fmt.Errorf("%s: boot partition (%d): %w", im.path, im.layout.Boot.Number, err)
	}
	for _, r := range boot {
		ranges = append(ranges, Range{im.layout.Boot.Offset + r.Off, r.Len})
	}
	root, err := im.root.UsedRanges()
	if err != nil {
		return nil, fmt.Errorf("%s: root partition (%d): %w", im.path, im.layout.Root.Number, err)
	}
	for _, r := range root {
		ranges = append(ranges, Range{im.layout.Root.Offset + r.Off, r.Len})
	}

	// The rest of the file, around the two partitions (the layout puts
	// the root after the boot partition).
	parts := []Range{
		{im.layout.Boot.Offset, im.layout.Boot.Size},
		{im.layout.Root.Offset, im.layout.Root.Size},
		{size, 0},
	}
	var start int64
	for _, p := range parts {
		if p.Off > start {
			data, err := diskData(im.disk, start, min(p.Off, size))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", im.path, err)
			}
			ranges = append(ranges, data...)
		}
		start = max(start, p.Off+p.Len)
	}
	return normalize(ranges, size), nil
}

// normalize widens ranges to rangeAlign, clips them to size, sorts them
// and merges those that overlap or touch.
func normalize(ranges []Range, size int64) []Range {
	var out []Range
	for _, r := range ranges {
		if r.Len <= 0 {
			continue
		}
		start := r.Off / rangeAlign * rangeAlign
		end := min((r.Off+r.Len+rangeAlign-1)/rangeAlign*rangeAlign, size)
		if start < end {
			out = append(out, Range{start, end - start})
		}
	}
	slices.SortFunc(out, func(a, b Range) int { return cmp.Compare(a.Off, b.Off) })
	merged := out[:0]
	for _, r := range out {
		if k := len(merged); k > 0 && r.Off <= merged[k-1].Off+merged[k-1].Len {
			merged[k-1].Len = max(merged[k-1].Len, r.Off+r.Len-merged[k-1].Off)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}
