package image

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name   string
		ranges []Range
		size   int64
		want   []Range
	}{
		{"none", nil, 1 << 20, nil},
		{"empty dropped", []Range{{4096, 0}}, 1 << 20, nil},
		{"widened", []Range{{5000, 10}}, 1 << 20, []Range{{4096, 4096}}},
		{"widened across a boundary", []Range{{4000, 200}}, 1 << 20, []Range{{0, 8192}}},
		{"sorted", []Range{{16384, 4096}, {0, 4096}}, 1 << 20, []Range{{0, 4096}, {16384, 4096}}},
		{"touching merged", []Range{{0, 4096}, {4096, 4096}}, 1 << 20, []Range{{0, 8192}}},
		{"merged after widening", []Range{{0, 512}, {8000, 100}}, 1 << 20, []Range{{0, 8192}}},
		{"overlapping merged", []Range{{0, 16384}, {4096, 4096}}, 1 << 20, []Range{{0, 16384}}},
		{"clipped to size", []Range{{8192, 4096}}, 10000, []Range{{8192, 1808}}},
		{"past the end dropped", []Range{{12288, 4096}}, 10000, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := normalize(tt.ranges, tt.size)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("normalize(%v, %d) (-want +got):\n%s", tt.ranges, tt.size, diff)
			}
		})
	}
}
