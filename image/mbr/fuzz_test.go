package mbr_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/pibake/pibake/image/mbr"
)

// FuzzRead checks that no first sector makes Read panic, and that what it
// accepts is consistent.
func FuzzRead(f *testing.F) {
	sector, err := os.ReadFile("testdata/raspios-mbr.bin")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sector, int64(1<<30))
	f.Add(sector[:300], int64(300))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		tab, err := mbr.Read("fuzz.img", bytes.NewReader(b), size)
		if err != nil {
			return
		}
		for _, p := range tab.Partitions {
			if p.Offset <= 0 || p.Size <= 0 || p.End() > size {
				t.Errorf("accepted partition %+v of a %d-byte image", p, size)
			}
		}
		tab.RaspberryPi()
	})
}
