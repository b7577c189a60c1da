//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pibake/pibake/image/imagetest"
)

// BenchmarkBakeXZ bakes the example robot recipe into a 1.5 GiB
// Pi-OS-shaped .img.xz (imagetest.BenchXZ: a root 60% full, xz -T2 -6) and
// times `xz -dc FILE >/dev/null` on the same file in the same run. x-xz-dc
// is the bake's wall time over xz-utils' decompression alone: the promise
// is a bake bounded by decompression, so near 1 (below 1 when the
// parallel decoder has free cores). s-rebake-cached is a bake from the
// same base once its decompressed copy is cached: no decompression at all.
func BenchmarkBakeXZ(b *testing.B) {
	base, size := imagetest.BenchXZ(b)
	agent := testAgent(b, "arm64")
	b.Setenv("WIFI_PSK", "correct-horse-battery-staple")
	var xzTime, bakeTime, rebakeTime time.Duration
	for b.Loop() {
		xzTime += xzDecompress(b, base)
		out := filepath.Join(b.TempDir(), "robot.img")
		bakeTime += timeBake(b, base, out, agent, "--no-cache")
		os.Remove(out)

		// Baking again from the same base: the first keeps it
		// decompressed, the second copies it.
		b.Setenv("XDG_CACHE_HOME", b.TempDir())
		timeBake(b, base, out, agent)
		os.Remove(out)
		rebakeTime += timeBake(b, base, out, agent)
		os.Remove(out)
	}
	n := float64(b.N)
	b.ReportMetric(xzTime.Seconds()/n, "s-xz-dc")
	b.ReportMetric(bakeTime.Seconds()/n, "s-bake")
	b.ReportMetric(bakeTime.Seconds()/xzTime.Seconds(), "x-xz-dc")
	b.ReportMetric(rebakeTime.Seconds()/n, "s-rebake-cached")
	b.ReportMetric(float64(size)/1e6/(bakeTime.Seconds()/n), "MB/s-bake")
}

// xzDecompress runs xz -dc FILE >/dev/null, the baseline the bake is
// measured against.
func xzDecompress(tb testing.TB, path string) time.Duration {
	tb.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("xz", "-dc", path) // Stdout nil: /dev/null
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		tb.Fatalf("xz -dc %s: %v\n%s", path, err, stderr.Bytes())
	}
	return time.Since(start)
}

func timeBake(b *testing.B, base, out, agent string, flags ...string) time.Duration {
	start := time.Now()
	args := append([]string{"bake", "../../recipes/examples/robot.star", "--from", base, "--out", out, "--agent", agent}, flags...)
	if code, log := pibake(b, args...); code != 0 {
		b.Fatalf("bake: exit %d\n%s", code, log)
	}
	return time.Since(start)
}

// BenchmarkBakeToCard writes the baked robot recipe to a card (a loop
// device over a sparse file) from the cached 1.5 GiB base, two ways, in
// the same run: bake --out then flash (s-out-flash), and bake --device,
// which makes no image file and holds the bake's changes in memory
// (s-device). x-out-flash is the first over the second.
func BenchmarkBakeToCard(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("loop devices need root")
	}
	base, size := imagetest.BenchXZ(b)
	agent := testAgent(b, "arm64")
	b.Setenv("WIFI_PSK", "correct-horse-battery-staple")
	b.Setenv("XDG_CACHE_HOME", b.TempDir())
	card := filepath.Join(b.TempDir(), "card")
	f, err := os.Create(card)
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Truncate(size + 64<<20); err != nil {
		b.Fatal(err)
	}
	f.Close()
	dev := imagetest.Loop(b, card, false)
	run := func(args ...string) time.Duration {
		start := time.Now()
		if code, log := pibake(b, args...); code != 0 {
			b.Fatalf("pibake %v: exit %d\n%s", args, code, log)
		}
		return time.Since(start)
	}
	recipe := "../../recipes/examples/robot.star"
	run("bake", recipe, "--from", base, "--device", dev, "--force", "--yes", "--agent", agent) // fills the cache
	var outFlash, device time.Duration
	for b.Loop() {
		out := filepath.Join(b.TempDir(), "robot.img")
		outFlash += run("bake", recipe, "--from", base, "--out", out, "--agent", agent)
		outFlash += run("flash", out, "--device", dev, "--force", "--yes")
		os.Remove(out)
		device += run("bake", recipe, "--from", base, "--device", dev, "--force", "--yes", "--agent", agent)
	}
	n := float64(b.N)
	b.ReportMetric(outFlash.Seconds()/n, "s-out-flash")
	b.ReportMetric(device.Seconds()/n, "s-device")
	b.ReportMetric(outFlash.Seconds()/device.Seconds(), "x-out-flash")
}
