package bmap_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/image/bmap"
)

func TestWriteRead(t *testing.T) {
	tests := []struct {
		name   string
		size   int64
		ranges []image.Range
		want   [][2]int64 // blocks, first and last
	}{
		{"nothing mapped", 8192, nil, nil},
		{"one block", 8192, []image.Range{{Off: 0, Len: 4096}}, [][2]int64{{0, 0}}},
		{"widened to blocks", 20000, []image.Range{{Off: 5000, Len: 10}, {Off: 4097, Len: 1}}, [][2]int64{{1, 1}}},
		{"unsorted and touching", 40960, []image.Range{{Off: 16384, Len: 4096}, {Off: 0, Len: 4096}, {Off: 4096, Len: 100}}, [][2]int64{{0, 1}, {4, 4}}},
		{"overlapping", 40960, []image.Range{{Off: 0, Len: 16384}, {Off: 8192, Len: 16384}}, [][2]int64{{0, 5}}},
		{"partial last block", 10000, []image.Range{{Off: 4096, Len: 8192}}, [][2]int64{{1, 2}}},
		{"clipped", 10000, []image.Range{{Off: 8192, Len: 1 << 20}, {Off: 20000, Len: 4096}}, [][2]int64{{2, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := make([]byte, tt.size)
			rand.NewChaCha8([32]byte{9}).Read(src)
			var b bytes.Buffer
			if err := bmap.Write(&b, bytes.NewReader(src), tt.size, tt.ranges, "test.img"); err != nil {
				t.Fatal(err)
			}
			m, err := bmap.Read(bytes.NewReader(b.Bytes()))
			if err != nil {
				t.Fatalf("Read(Write(...)): %v\n%s", err, b.Bytes())
			}
			var got [][2]int64
			var mapped int64
			for _, r := range m.Ranges {
				got = append(got, [2]int64{r.First, r.Last})
				mapped += r.Last - r.First + 1
				sum := sha256.Sum256(src[r.First*bmap.BlockSize : min((r.Last+1)*bmap.BlockSize, tt.size)])
				if r.Checksum != hex.EncodeToString(sum[:]) {
					t.Errorf("range %v: checksum %s, want %x", r, r.Checksum, sum)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Write(%v) maps blocks (-want +got):\n%s", tt.ranges, diff)
			}
			wantMap := bmap.Map{ImageSize: tt.size, BlockSize: 4096, BlocksCount: (tt.size + 4095) / 4096, MappedBlocksCount: mapped}
			m.Ranges = nil
			if diff := cmp.Diff(wantMap, *m); diff != "" {
				t.Errorf("Read(Write(...)) (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadRefuses(t *testing.T) {
	var b bytes.Buffer
	if err := bmap.Write(&b, bytes.NewReader(make([]byte, 8192)), 8192, []image.Range{{Off: 0, Len: 8192}}, "test.img"); err != nil {
		t.Fatal(err)
	}
	good := b.String()
	tests := []struct{ name, old, new string }{
		{"changed content", "<ImageSize> 8192 ", "<ImageSize> 8193 "},
		{"changed range", "> 0-1 <", "> 0-0 <"},
		{"other version", `version="2.0"`, `version="1.3"`},
		{"not XML", "</bmap>", "</bmapx>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(good, tt.old) {
				t.Fatalf("the map has no %q:\n%s", tt.old, good)
			}
			_, err := bmap.Read(strings.NewReader(strings.Replace(good, tt.old, tt.new, 1)))
			if !errors.Is(err, bmap.ErrInvalid) {
				t.Errorf("Read(map with %q for %q) = %v, want ErrInvalid", tt.new, tt.old, err)
			}
		})
	}
}

func ExampleWrite() {
	src := bytes.Repeat([]byte{1}, 3*4096)
	ranges := []image.Range{{Off: 0, Len: 512}, {Off: 8192, Len: 4096}}
	if err := bmap.Write(os.Stdout, bytes.NewReader(src), int64(len(src)), ranges, "example.img"); err != nil {
		fmt.Println(err)
	}
	// Output:
	// <?xml version="1.0" ?>
	// <!-- The block map of an image: bmaptool copy writes only the blocks listed,
	//      checking each range's SHA-256. -->
	// <bmap version="2.0">
	//     <ImageSize> 12288 </ImageSize>
	//     <BlockSize> 4096 </BlockSize>
	//     <BlocksCount> 3 </BlocksCount>
	//     <!-- 66.7% of the image is mapped -->
	//     <MappedBlocksCount> 2 </MappedBlocksCount>
	//     <ChecksumType> sha256 </ChecksumType>
	//     <!-- The checksum of this file, taken with its value here as 64 "0" characters. -->
	//     <BmapFileChecksum> def3b499296ecad5dfd19c76bc004ac12e0700884c25b62d0a288f99c1351643 </BmapFileChecksum>
	//     <BlockMap>
	//         <Range chksum="3431383721510cf1c211de027cf958c183e16db5fabb6b230eb284c85e196aa9"> 0 </Range>
	//         <Range chksum="3431383721510cf1c211de027cf958c183e16db5fabb6b230eb284c85e196aa9"> 2 </Range>
	//     </BlockMap>
	// </bmap>
}
