package flash_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/image/bmap"
	"github.com/pibake/pibake/image/flash"
	"github.com/pibake/pibake/image/imagetest"
)

// BenchmarkFlash writes the 1.5 GiB benchmark image (its root 60% full)
// onto a loop device three ways, in the same run: pibake's flash.Write
// (the used blocks, then a read-back of all of them), bmaptool copy with
// the image's bmap (the mapped blocks, checksummed as read), and dd
// (everything, bs=4M oflag=direct conv=fsync). It reports each one's time
// and the bytes the kernel counted written, and the ratios to pibake's
// time (x-bmaptool, x-dd).
func BenchmarkFlash(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("loop devices need root")
	}
	xz, _ := imagetest.BenchXZ(b)
	im, err := image.Open(xz, image.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer im.Close()
	size := im.Size()
	used, err := im.UsedRanges()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	raw := filepath.Join(dir, "bench.img") // for bmaptool and dd
	if err := copyImage(raw, im); err != nil {
		b.Fatal(err)
	}
	bmapFile := filepath.Join(dir, "bench.bmap")
	f, err := os.Create(bmapFile)
	if err != nil {
		b.Fatal(err)
	}
	if err := bmap.Write(f, im, size, used, "bench.img"); err != nil {
		b.Fatal(err)
	}
	f.Close()
	ranges := make([]flash.Range, len(used))
	for i, r := range used {
		ranges[i] = flash.Range{Off: r.Off, Len: r.Len}
	}

	tools := []struct {
		name string
		run  func(dev string) error
	}{
		{"pibake", func(dev string) error {
			d, err := flash.Inspect(dev)
			if err != nil {
				return err
			}
			_, err = flash.Write(context.Background(), d, im, size, ranges, flash.Options{})
			return err
		}},
		{"bmaptool", func(dev string) error {
			return run("bmaptool", "-q", "copy", "--bmap", bmapFile, raw, dev)
		}},
		{"dd", func(dev string) error {
			return run("dd", "if="+raw, "of="+dev, "bs=4M", "oflag=direct", "conv=fsync", "status=none")
		}},
	}
	times := make([]time.Duration, len(tools))
	written := make([]int64, len(tools))
	for b.Loop() {
		for i, tool := range tools {
			dev := benchDevice(b, dir, size+16<<20)
			before := imagetest.BytesWritten(b, dev)
			start := time.Now()
			if err := tool.run(dev); err != nil {
				b.Fatalf("%s: %v", tool.name, err)
			}
			times[i] += time.Since(start)
			written[i] += imagetest.BytesWritten(b, dev) - before
			detach(dev)
		}
	}
	n := float64(b.N)
	var usedBytes int64
	for _, r := range used {
		usedBytes += r.Len
	}
	for i, tool := range tools {
		b.ReportMetric(times[i].Seconds()/n, "s-"+tool.name)
		b.ReportMetric(float64(written[i])/n/1e6, "MB-"+tool.name)
	}
	b.ReportMetric(times[1].Seconds()/times[0].Seconds(), "x-bmaptool")
	b.ReportMetric(times[2].Seconds()/times[0].Seconds(), "x-dd")
	b.Logf("image %.0f MB, %.0f MB in use; pibake %.2fs (%.0f MB written, verified), bmaptool %.2fs (%.0f MB), dd %.2fs (%.0f MB)",
		float64(size)/1e6, float64(usedBytes)/1e6,
		times[0].Seconds()/n, float64(written[0])/n/1e6, times[1].Seconds()/n, float64(written[1])/n/1e6,
		times[2].Seconds()/n, float64(written[2])/n/1e6)
}

func copyImage(dst string, im *image.Image) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	used, err := im.UsedRanges()
	if err != nil {
		return err
	}
	if err := f.Truncate(im.Size()); err != nil {
		return err
	}
	buf := make([]byte, 4<<20)
	for _, r := range used {
		for off := r.Off; off < r.Off+r.Len; {
			n := min(int64(len(buf)), r.Off+r.Len-off)
			if _, err := im.ReadAt(buf[:n], off); err != nil {
				return err
			}
			if _, err := f.WriteAt(buf[:n], off); err != nil {
				return err
			}
			off += n
		}
	}
	return f.Sync()
}

// benchDevice is a loop device over a new sparse file of size bytes.
func benchDevice(b *testing.B, dir string, size int64) string {
	file := filepath.Join(dir, "card")
	os.Remove(file)
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.Truncate(file, size); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", file).CombinedOutput()
	if err != nil {
		b.Fatalf("losetup: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// detach frees dev at once: each run writes up to the whole image.
func detach(dev string) { exec.Command("losetup", "-d", dev).Run() }

func run(argv ...string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return &exec.Error{Name: strings.Join(argv, " ") + ": " + strings.TrimSpace(string(out)), Err: err}
	}
	return nil
}
