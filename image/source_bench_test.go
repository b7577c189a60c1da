//go:build linux

package image_test

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/image/imagetest"
)

// BenchmarkCopyBaseXZ bakes the base of a Pi-OS-shaped .img.xz (1.5 GiB,
// its root 60% full of text and binaries, compressed by xz -T2 -6 into
// 24 MiB blocks) and times xz -dc on the same file in the same run:
// x-xz-dc is CopyBase's time over xz-utils', the number to keep near or
// under 1.
func BenchmarkCopyBaseXZ(b *testing.B) {
	xzPath, size := imagetest.BenchXZ(b)
	var xzTime, ourTime time.Duration
	for b.Loop() {
		var stderr bytes.Buffer
		cmd := exec.Command("xz", "-dc", xzPath) // Stdout nil: /dev/null
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("xz -dc: %v\n%s", err, stderr.Bytes())
		}
		xzTime += time.Since(start)

		dst, err := os.CreateTemp(b.TempDir(), "base-*.img")
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if _, err := image.CopyBase(b.Context(), dst, xzPath, nil); err != nil {
			b.Fatal(err)
		}
		ourTime += time.Since(start)
		dst.Close()
		os.Remove(dst.Name())
	}
	n := float64(b.N)
	b.ReportMetric(xzTime.Seconds()/n, "s-xz-dc")
	b.ReportMetric(ourTime.Seconds()/n, "s-copybase")
	b.ReportMetric(ourTime.Seconds()/xzTime.Seconds(), "x-xz-dc")
	b.ReportMetric(float64(size)/1e6/(xzTime.Seconds()/n), "MB/s-xz-dc")
	b.ReportMetric(float64(size)/1e6/(ourTime.Seconds()/n), "MB/s-copybase")
}
