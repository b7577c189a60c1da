//go:build linux

package ext4

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// BenchmarkBake writes what a recipe typically writes, 1,000 small files
// (in ten directories, one of them growing into an htree) and one 100 MiB
// file, into a 2 GiB Raspberry Pi OS-style filesystem. mkfs runs once;
// each iteration starts from a fresh copy of its result (off the clock).
func BenchmarkBake(b *testing.B) {
	needTools(b)
	const size = 2 << 30
	base := mkfs(b, profiles[0], size>>20, "")
	bfs, _ := openImage(b, base, Options{ReadOnly: true})
	ranges, err := bfs.UsedRanges()
	if err != nil {
		b.Fatal(err)
	}
	small := make([][]byte, 1000)
	for i := range small {
		small[i] = bytes.Repeat([]byte{byte(i)}, 100+i*37%8000)
	}
	big := make([]byte, 100<<20)
	for i := range big {
		big[i] = byte(i * 31 >> 7)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(big)) + 1000*4100)
	var img string
	for b.Loop() {
		b.StopTimer()
		if img != "" {
			os.Remove(img)
		}
		img = copyImage(b, base, ranges, size)
		file, err := os.OpenFile(img, os.O_RDWR, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		fsys, err := Open(file, size, Options{})
		if err != nil {
			b.Fatal(err)
		}
		for d := range 10 {
			if err := fsys.Mkdir(fmt.Sprintf("/d%d", d), Attr{Mode: 0o755}); err != nil {
				b.Fatal(err)
			}
		}
		for i, data := range small {
			if err := fsys.WriteFile(fmt.Sprintf("/d%d/file-%04d.conf", i%10, i), bytes.NewReader(data), Attr{Mode: 0o644}); err != nil {
				b.Fatal(err)
			}
		}
		if err := fsys.WriteFile("/big.img", bytes.NewReader(big), Attr{Mode: 0o644}); err != nil {
			b.Fatal(err)
		}
		if err := fsys.Close(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		file.Close()
		b.StartTimer()
	}
	b.StopTimer()
	fsck(b, img)
}
