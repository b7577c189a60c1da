package flash_test

import (
	"context"
	"fmt"
	"os"

	"github.com/pibake/pibake/image/flash"
)

// A whole flash, as the CLI does it. Not run: it needs a card.
func ExampleWrite() {
	image, err := os.Open("raspios.img")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer image.Close()
	info, err := image.Stat()
	if err != nil {
		fmt.Println(err)
		return
	}
	dev, err := flash.Inspect("/dev/sdb")
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := dev.Check(info.Size(), false); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(dev.Describe()) // then ask the user
	// The ranges come from the image's filesystems; here, all of it.
	ranges := []flash.Range{{Off: 0, Len: info.Size()}}
	res, err := flash.Write(context.Background(), dev, image, info.Size(), ranges, flash.Options{
		Progress: func(p flash.Progress) {
			fmt.Fprintf(os.Stderr, "\r%s %s of %s", p.Phase, flash.HumanSize(p.Done), flash.HumanSize(p.Total))
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("wrote %s and verified %s in %v\n", flash.HumanSize(res.Written), flash.HumanSize(res.Verified), res.WriteTime+res.VerifyTime)
}
