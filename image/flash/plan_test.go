package flash

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlan(t *testing.T) {
	const MiB = 1 << 20
	tests := []struct {
		name          string
		ranges        []Range
		image, device int64
		want          []Range
		wantErr       string
	}{
		{"head only", []Range{{0, 512}}, 8 * MiB, 8 * MiB, nil, ""},
		{"head cut off", []Range{{100, 8192}}, 8 * MiB, 8 * MiB, []Range{{4096, 8192}}, ""},
		{"aligned outward", []Range{{5000, 10}}, 8 * MiB, 8 * MiB, []Range{{4096, 4096}}, ""},
		{"sorted and merged", []Range{{MiB, 4096}, {8192, 100}, {MiB + 4096, 10}, {8192 + 50, 4096}}, 8 * MiB, 8 * MiB,
			[]Range{{8192, 8192}, {MiB, 8192}}, ""},
		{"overlapping", []Range{{8192, MiB}, {16384, 4096}}, 8 * MiB, 8 * MiB, []Range{{8192, MiB}}, ""},
		{"empty ranges skipped", []Range{{8192, 0}}, 8 * MiB, 8 * MiB, nil, ""},
		{"partial last block", []Range{{MiB - 11, 10}}, MiB - 1, 2 * MiB, []Range{{MiB - 4096, 4096}}, ""},
		{"end clamped to the device", []Range{{MiB - 11, 10}}, MiB - 1, MiB - 512, []Range{{MiB - 4096, 3584}}, ""},
		{"beyond the image", []Range{{MiB, 10}}, MiB, 2 * MiB, nil, "lies outside the image"},
		{"negative", []Range{{-1, 10}}, MiB, MiB, nil, "lies outside the image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := plan(tt.ranges, tt.image, tt.device)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("plan(%v) error = %v, want one containing %q", tt.ranges, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("plan(%v) mismatch (-want +got):\n%s", tt.ranges, diff)
			}
		})
	}
}

func TestTail(t *testing.T) {
	const MiB = 1 << 20
	tests := []struct {
		image, device int64
		want          Range
	}{
		{8 * MiB, 8 * MiB, Range{}},
		{8 * MiB, 64 * MiB, Range{63 * MiB, MiB}},
		{8*MiB - 1, 8*MiB + 512, Range{8 * MiB, 512}},
		{8 * MiB, 8*MiB + 512*1024, Range{8 * MiB, 512 * 1024}},
		{8*MiB + 1, 8*MiB + 4096, Range{}},
	}
	for _, tt := range tests {
		if got := tail(tt.image, tt.device); got != tt.want {
			t.Errorf("tail(%d, %d) = %v, want %v", tt.image, tt.device, got, tt.want)
		}
	}
}

func TestChunks(t *testing.T) {
	got := chunks([]Range{{4096, chunkSize + 8192}, {100 * chunkSize, 4096}})
	want := []Range{{4096, chunkSize}, {4096 + chunkSize, 8192}, {100 * chunkSize, 4096}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chunks mismatch (-want +got):\n%s", diff)
	}
}

func TestHumanSize(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {512, "512 B"}, {1536, "1.5 KiB"}, {64 << 20, "64.0 MiB"}, {32 << 30, "32.0 GiB"},
	}
	for _, tt := range tests {
		if got := HumanSize(tt.n); got != tt.want {
			t.Errorf("HumanSize(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestCheckRules(t *testing.T) {
	card := Device{Path: "/dev/sdb", Model: "Generic SD", Size: 32 << 30, Removable: true}
	tests := []struct {
		name    string
		edit    func(d *Device)
		image   int64
		force   bool
		wantErr string
	}{
		{"fits", func(*Device) {}, 4 << 30, false, ""},
		{"too small", func(*Device) {}, 64 << 30, true, "/dev/sdb (32.0 GiB) is smaller than the image (64.0 GiB)"},
		{"mounted, forced", func(d *Device) { d.Mounts = []string{"/dev/sdb1 on /media/pi/bootfs", "/dev/sdb2 on /media/pi/rootfs"} }, 1, true,
			"/dev/sdb: /dev/sdb1 is mounted on /media/pi/bootfs (and 1 more): unmount it first"},
		{"swap", func(d *Device) { d.Mounts = []string{"/dev/sdb2 on [SWAP]"} }, 1, true, "/dev/sdb2 is in use, on [SWAP]: swapoff it first"},
		{"held", func(d *Device) { d.Mounts = []string{"/dev/sdb on dm-0 (a device-mapper, LVM or md holder)"} }, 1, true,
			"/dev/sdb is in use, on dm-0 (a device-mapper, LVM or md holder): release it first (dmsetup remove, vgchange -an)"},
		{"system, forced", func(d *Device) { d.System = "holds / (the running system)" }, 1, true, "/dev/sdb holds / (the running system)"},
		{"fixed", func(d *Device) { d.Removable = false }, 1, false, "is not removable media (a fixed disk?): pass --force if you are sure"},
		{"fixed, forced", func(d *Device) { d.Removable = false }, 1, true, ""},
		{"read-only, forced", func(d *Device) { d.ReadOnly = true }, 1, true, "/dev/sdb (Generic SD, 32.0 GiB) is read-only: is the SD card's lock switch set?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := card
			tt.edit(&d)
			err := d.Check(tt.image, tt.force)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Check(%d, %v) = %v, want nil", tt.image, tt.force, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Check(%d, %v) = %v, want an error containing %q", tt.image, tt.force, err, tt.wantErr)
			}
		})
	}
}
