package mbr_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/image/mbr"
)

// tool finds a test tool (sfdisk lives in /usr/sbin, not always in PATH).
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	if runtime.GOOS == "linux" {
		t.Fatalf("%s is not installed (Debian package %s; make deps installs it)", name, pkg)
	}
	t.Skipf("%s (from %s) is not installed on this %s machine", name, pkg, runtime.GOOS)
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func run(t *testing.T, stdin string, argv ...string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

// disk makes a sparse disk image of size bytes partitioned by an sfdisk script.
func disk(t *testing.T, size int64, script string) string {
	t.Helper()
	sfdisk := tool(t, "sfdisk", "fdisk")
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	run(t, script, sfdisk, "--no-reread", "--no-tell-kernel", "-q", img)
	return img
}

// piScript is Raspberry Pi OS's layout, scaled down: p1 FAT32 at sector
// 16384, p2 Linux right after it.
const piScript = "label: dos\nlabel-id: 0x1a2b3c4d\nstart=16384, size=98304, type=c\nstart=114688, type=83\n"

func TestReadRaspberryPiLayout(t *testing.T) {
	img := disk(t, 80<<20, piScript)
	tab, err := mbr.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	want := []mbr.Partition{
		{Number: 1, Type: 0x0c, Offset: 16384 * 512, Size: 98304 * 512},
		{Number: 2, Type: 0x83, Offset: 114688 * 512, Size: 80<<20 - 114688*512},
	}
	if tab.DiskID != 0x1a2b3c4d {
		t.Errorf("DiskID = %#x, want 0x1a2b3c4d", tab.DiskID)
	}
	if diff := cmp.Diff(want, tab.Partitions); diff != "" {
		t.Errorf("Partitions (-want +got):\n%s", diff)
	}
	if got := tab.PartUUID(2); got != "1a2b3c4d-02" {
		t.Errorf("PartUUID(2) = %q, want 1a2b3c4d-02", got)
	}
	l, err := tab.RaspberryPi()
	if err != nil {
		t.Fatal(err)
	}
	if l.Boot != want[0] || l.Root != want[1] {
		t.Errorf("RaspberryPi() = %+v, want boot %+v root %+v", l, want[0], want[1])
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name    string
		make    func(t *testing.T) string
		layout  bool // the error comes from RaspberryPi, not Read
		wantErr error
		wantMsg string
	}{
		{
			name: "zeros",
			make: func(t *testing.T) string {
				p := filepath.Join(t.TempDir(), "zeros.img")
				os.WriteFile(p, make([]byte, 4096), 0o644)
				return p
			},
			wantErr: mbr.ErrNotDiskImage, wantMsg: "no MBR boot signature (0x55AA) at byte 510",
		},
		{
			name: "tiny",
			make: func(t *testing.T) string {
				p := filepath.Join(t.TempDir(), "tiny.img")
				os.WriteFile(p, []byte("hello"), 0o644)
				return p
			},
			wantErr: mbr.ErrNotDiskImage, wantMsg: "the file is only 5 bytes",
		},
		{
			name: "bare FAT32",
			make: func(t *testing.T) string {
				p := filepath.Join(t.TempDir(), "boot.fat")
				os.WriteFile(p, nil, 0o644)
				os.Truncate(p, 40<<20)
				run(t, "", tool(t, "mkfs.vfat", "dosfstools"), "-F", "32", p)
				return p
			},
			wantErr: mbr.ErrNotDiskImage, wantMsg: "bare FAT32 filesystem",
		},
		{
			name: "GPT",
			make: func(t *testing.T) string {
				return disk(t, 80<<20, "label: gpt\nstart=16384, size=98304, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n")
			},
			wantErr: mbr.ErrGPT, wantMsg: "GPT partition tables are not supported yet",
		},
		{
			name:    "empty table",
			make:    func(t *testing.T) string { return disk(t, 80<<20, "label: dos\n") },
			wantErr: mbr.ErrLayout, wantMsg: "the MBR partition table is empty",
		},
		{
			name: "truncated",
			make: func(t *testing.T) string {
				p := disk(t, 80<<20, piScript)
				if err := os.Truncate(p, 60<<20); err != nil {
					t.Fatal(err)
				}
				return p
			},
			wantErr: mbr.ErrBeyondEnd, wantMsg: "partition 2 ends at byte 83886080 but the file has 62914560 bytes",
		},
		{
			name:    "Linux only",
			make:    func(t *testing.T) string { return disk(t, 80<<20, "label: dos\nstart=2048, type=83\n") },
			layout:  true,
			wantErr: mbr.ErrLayout, wantMsg: "no FAT32 boot partition (type 0x0c) in the MBR; found partition 1 type 0x83",
		},
		{
			name: "root before boot",
			make: func(t *testing.T) string {
				return disk(t, 80<<20, "label: dos\nstart=2048, size=40960, type=83\nstart=43008, type=c\n")
			},
			layout:  true,
			wantErr: mbr.ErrLayout, wantMsg: "no Linux root partition (type 0x83) after the FAT32 boot partition",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := tt.make(t)
			tab, err := mbr.ReadFile(img)
			if tt.layout {
				if err != nil {
					t.Fatalf("ReadFile: %v", err)
				}
				_, err = tab.RaspberryPi()
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, img+": ") || !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("error = %q, want it to name %s and say %q", msg, img, tt.wantMsg)
			}
		})
	}
}
