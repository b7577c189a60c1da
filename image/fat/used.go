package fat

// Range is a span of bytes of the filesystem, from its start.
type Range struct {
	Off, Len int64
}

// UsedRanges lists the byte ranges the filesystem uses, in order and merged
// where adjacent: the reserved sectors (boot sector, FSInfo, backup boot
// sector), every FAT copy whole, and every allocated cluster. That is what
// must be copied to reproduce the filesystem on a device holding anything
// else: a free cluster's bytes are never read, and bad clusters
// (0x0FFFFFF7) carry nothing worth copying.
func (fsys *FS) UsedRanges() ([]Range, error) {
	// The reserved sectors and the FATs are one run up to cluster 2.
	out := []Range{{0, fsys.dataStart}}
	for c := uint32(2); fsys.valid(c); c++ {
		if e := fsys.entry(c); e == 0 || e == fatBad {
			continue
		}
		off := fsys.clusterOffset(c)
		if last := &out[len(out)-1]; last.Off+last.Len == off {
			last.Len += fsys.clusterSize
			continue
		}
		out = append(out, Range{off, fsys.clusterSize})
	}
	return out, nil
}
