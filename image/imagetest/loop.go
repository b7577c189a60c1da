package imagetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Loop attaches file to a free loop device (with a partition scan when
// partitions), read-write, and detaches it when the test ends. Loop
// devices need root.
func Loop(t testing.TB, file string, partitions bool) string {
	t.Helper()
	args := []string{"--find", "--show"}
	if partitions {
		args = append(args, "--partscan")
	}
	out, err := exec.Command("losetup", append(args, file)...).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup %s: %v\n%s", file, err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup --detach %s: %v\n%s", dev, err, out)
		}
	})
	return dev
}

// BytesWritten is what the kernel counts as written to the block device
// dev so far (/sys/block/NAME/stat, sectors written × 512).
func BytesWritten(t testing.TB, dev string) int64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(data))
	if len(fields) < 7 {
		t.Fatalf("%s: short stat %q", dev, data)
	}
	sectors, err := strconv.ParseInt(fields[6], 10, 64)
	if err != nil {
		t.Fatalf("%s: stat field 7: %v", dev, err)
	}
	return sectors * 512
}
