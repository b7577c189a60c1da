// Command mkroot makes a Raspberry Pi OS-shaped root directory from
// testdata/rootfs, for `make demo` and for trying recipes by hand:
//
//	go run ./testdata/mkroot DIR
package main

import (
	"fmt"
	"os"

	"github.com/pibake/pibake/ops/opstest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkroot DIR")
		os.Exit(2)
	}
	if err := opstest.CopyRoot(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "mkroot:", err)
		os.Exit(1)
	}
}
