package mbr_test

import (
	"bytes"
	"fmt"
	"os"

	"github.com/pibake/pibake/image/mbr"
)

func ExampleRead() {
	// The first sector of a 1 GiB disk laid out as Raspberry Pi OS is
	// (testdata/raspios-mbr.bin); Read needs no more than that.
	sector, err := os.ReadFile("testdata/raspios-mbr.bin")
	if err != nil {
		panic(err)
	}
	tab, err := mbr.Read("raspios.img", bytes.NewReader(sector), 1<<30)
	if err != nil {
		panic(err)
	}
	l, err := tab.RaspberryPi()
	if err != nil {
		panic(err)
	}
	fmt.Printf("boot: partition %d at byte %d, %d MiB, PARTUUID=%s\n", l.Boot.Number, l.Boot.Offset, l.Boot.Size>>20, tab.PartUUID(l.Boot.Number))
	fmt.Printf("root: partition %d at byte %d, %d MiB, PARTUUID=%s\n", l.Root.Number, l.Root.Offset, l.Root.Size>>20, tab.PartUUID(l.Root.Number))
	// Output:
	// boot: partition 1 at byte 8388608, 512 MiB, PARTUUID=8a438930-01
	// root: partition 2 at byte 545259520, 504 MiB, PARTUUID=8a438930-02
}
