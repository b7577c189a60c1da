package xzio_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/pibake/pibake/image/xzio"
)

func Example() {
	ctx := context.Background()
	text := strings.Repeat("hello, pi\n", 1000)
	var file bytes.Buffer
	if err := xzio.Encode(ctx, &file, strings.NewReader(text), int64(len(text)), xzio.Options{}); err != nil {
		fmt.Println(err)
		return
	}
	var out bytes.Buffer
	size, err := xzio.Decode(ctx, bytes.NewReader(file.Bytes()), int64(file.Len()), xzio.Options{},
		func(off int64, p []byte) error {
			_, err := out.Write(p) // emit is called in order
			return err
		})
	fmt.Println(size, err, out.String() == text)

	// A file cut short says so.
	_, err = xzio.Decode(ctx, bytes.NewReader(file.Bytes()[:50]), 50, xzio.Options{},
		func(int64, []byte) error { return nil })
	fmt.Println(err)
	// Output:
	// 10000 <nil> true
	// xz data ends early (truncated download?): the block at byte 12 ends at byte 96, past the end of the file (50 bytes)
}
