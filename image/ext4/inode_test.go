//go:build linux

package ext4

import (
	"testing"
	"time"
)

// TestInodeTimes round-trips timestamps through the on-disk encoding:
// 32 signed bits of seconds, two epoch bits and 30 bits of nanoseconds.
func TestInodeTimes(t *testing.T) {
	for _, want := range []time.Time{
		time.Date(1901, 12, 14, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Unix(0, 0),
		time.Date(2024, 2, 29, 12, 0, 0, 1, time.UTC),
		time.Date(2038, 1, 19, 3, 14, 8, 0, time.UTC),
		time.Date(2106, 2, 7, 6, 28, 16, 500, time.UTC),
		time.Date(2446, 5, 10, 22, 38, 55, 999999999, time.UTC),
	} {
		in := &inode{raw: make([]byte, 256)}
		le.PutUint16(in.raw[inExtraIsize:], 32)
		in.setTime(inMtime, inMtimeExtra, want)
		if got := in.mtime(); !got.Equal(want) {
			t.Errorf("mtime round trip of %v = %v", want, got)
		}
		small := &inode{raw: make([]byte, 128)}
		small.setTime(inMtime, inMtimeExtra, want)
		if want.Year() < 2038 && want.Year() > 1901 && !small.mtime().Equal(want.Truncate(time.Second)) {
			t.Errorf("128-byte inode mtime round trip of %v = %v", want, small.mtime())
		}
	}
}
