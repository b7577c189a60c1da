package flash

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pibake/pibake/image/imagetest"
)

const MiB = 1 << 20

// needLoop skips a test that needs loop devices where they cannot exist.
func needLoop(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to set up loop devices")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("needs losetup (util-linux) to set up loop devices")
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// randomFile creates a file of size pseudo-random bytes (seeded, so a
// failure repeats) and returns its path and contents.
func randomFile(t *testing.T, name string, size int64, seed uint64) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	rng.Read(data)
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// loopDevice attaches file to a free loop device until the test ends.
func loopDevice(t *testing.T, file string, partitions bool) string {
	return imagetest.Loop(t, file, partitions)
}

// bytesWritten is what the kernel counts as written to dev so far.
func bytesWritten(t *testing.T, dev string) int64 { return imagetest.BytesWritten(t, dev) }

func hashFile(t *testing.T, path string) string { return imagetest.SHA256(t, path) }

func inspect(t *testing.T, path string) *Device {
	t.Helper()
	d, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// firstDifference describes where got and want first differ, "" if equal.
func firstDifference(got, want []byte) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d bytes, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at offset %d: %#x, want %#x", i, got[i], want[i])
		}
	}
	return ""
}

// partitionTable writes an MBR with one Linux partition into file.
func partitionTable(t *testing.T, file string) {
	t.Helper()
	cmd := exec.Command("sfdisk", "--no-reread", "--no-tell-kernel", "-q", file)
	cmd.Stdin = strings.NewReader("label: dos\nstart=2048, size=8192, type=83\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk %s: %v\n%s", file, err, out)
	}
}

// TestWriteOnlyRanges writes an image onto a loop device full of random
// bytes and checks that exactly the (block-aligned) ranges, the head and
// the zeroed tail changed, and that the kernel counted about that many
// bytes written, not the device's size.
func TestWriteOnlyRanges(t *testing.T) {
	needLoop(t)
	tests := []struct {
		name          string
		device, image int64
		ranges        []Range
		partitions    bool // an image with a partition table, on a loop device with -P
		buffered      bool // without O_DIRECT, as on a device that refuses it
	}{
		{"unaligned ranges, partial last block", 64 * MiB, 40*MiB + 1000,
			[]Range{{0, 512}, {MiB + 100, 3 * MiB}, {20 * MiB, 5 * MiB}, {40*MiB + 1000 - 3000, 3000}}, false, false},
		{"device the image's size", 32 * MiB, 32 * MiB, []Range{{4096, 60000}, {31 * MiB, MiB}}, false, false},
		{"partition table re-read", 64 * MiB, 16 * MiB, []Range{{MiB, 4 * MiB}}, true, false},
		{"buffered, unaligned ranges", 64 * MiB, 40*MiB + 1000,
			[]Range{{0, 512}, {MiB + 100, 3 * MiB}, {20 * MiB, 5 * MiB}, {40*MiB + 1000 - 3000, 3000}}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.buffered {
				buffered(t)
			}
			devFile, original := randomFile(t, "card", tt.device, 1)
			imageFile, image := randomFile(t, "image", tt.image, 2)
			if tt.partitions {
				partitionTable(t, imageFile)
				var err error
				if image, err = os.ReadFile(imageFile); err != nil {
					t.Fatal(err)
				}
			}
			loop := loopDevice(t, devFile, tt.partitions)
			if tt.partitions {
				// A stale partition the kernel knows of, which the new
				// table replaces once the kernel re-reads it.
				addPartitions(t, loop, [][2]int64{{4096, 100}})
			}
			dev := inspect(t, loop)
			src, err := os.Open(imageFile)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()

			var last map[string]Progress = map[string]Progress{}
			before := bytesWritten(t, loop)
			res, err := Write(context.Background(), dev, src, tt.image, tt.ranges, Options{
				Progress: func(p Progress) { last[p.Phase] = p },
			})
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			measured := bytesWritten(t, loop) - before

			// What the card must hold now.
			want := bytes.Clone(original)
			copy(want[:headSize], image)
			body, _ := plan(tt.ranges, tt.image, tt.device)
			for _, r := range body {
				copy(want[r.Off:min(r.Off+r.Len, tt.image)], image[r.Off:])
			}
			z := tail(tt.image, tt.device)
			clear(want[z.Off : z.Off+z.Len])
			got, err := os.ReadFile(devFile)
			if err != nil {
				t.Fatal(err)
			}
			if d := firstDifference(got, want); d != "" {
				t.Fatalf("card after Write: %s", d)
			}

			ranges := total(body)
			wantWritten := headSize + z.Len + ranges + headSize
			if res.Written != wantWritten || res.Verified != z.Len+ranges+headSize {
				t.Errorf("Result = %+v, want Written %d, Verified %d", res, wantWritten, z.Len+ranges+headSize)
			}
			t.Logf("%s: ranges %d bytes (%s), Result.Written %d, kernel counted %d written (%s), device %s; write %v, verify %v",
				loop, ranges, HumanSize(ranges), res.Written, measured, HumanSize(measured), HumanSize(tt.device), res.WriteTime, res.VerifyTime)
			if measured < ranges || measured > res.Written+64*1024 {
				t.Errorf("kernel counted %d bytes written to %s, want between %d (the ranges) and %d (Result.Written + 64 KiB)", measured, loop, ranges, res.Written+64*1024)
			}
			for _, phase := range []string{"write", "verify"} {
				if p := last[phase]; p.Total == 0 || p.Done != p.Total {
					t.Errorf("last %s progress = %+v, want Done == Total > 0", phase, p)
				}
			}
			if tt.partitions {
				// A kernel with an MBR parser now sees the image's
				// partition (8192 sectors); one without (like this
				// test's VM, maybe) sees none; neither keeps the stale one.
				size := readString(filepath.Join("/sys/block", filepath.Base(loop), filepath.Base(loop)+"p1", "size"))
				if size != "" && size != "8192" {
					t.Errorf("after Write the kernel sees a partition 1 of %s sectors, want the image's 8192 or none: the partition table was not re-read", size)
				}
				t.Logf("partition 1 after Write: %q sectors", size)
			}
		})
	}
}

// TestWriteVerifyMismatch corrupts one byte between writing and reading
// back: Write must fail with ErrVerify naming where, and leave the card
// without a partition table.
func TestWriteVerifyMismatch(t *testing.T) {
	needLoop(t)
	t.Run("direct", testWriteVerifyMismatch)
	// Buffered, the read-back must not come from the page cache that the
	// writes filled: Write drops it first.
	t.Run("buffered", func(t *testing.T) {
		buffered(t)
		testWriteVerifyMismatch(t)
	})
}

// buffered makes Write use buffered I/O until t ends.
func buffered(t *testing.T) {
	directIO = false
	t.Cleanup(func() { directIO = true })
}

func testWriteVerifyMismatch(t *testing.T) {
	devFile, _ := randomFile(t, "card", 64*MiB, 3)
	imageFile, _ := randomFile(t, "image", 32*MiB, 4)
	loop := loopDevice(t, devFile, false)
	src, err := os.Open(imageFile)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	const flip = 13*MiB + 5 // in the chunk at 12 MiB of the range at 8 MiB
	_, err = Write(context.Background(), inspect(t, loop), src, 32*MiB, []Range{{0, MiB}, {8 * MiB, 8 * MiB}}, Options{
		BeforeVerify: func() error {
			// Through the backing file: the loop device reads it through
			// its page cache, where this lands, and Write reads the loop
			// device with O_DIRECT, or buffered after dropping the loop
			// device's own cache.
			f, err := os.OpenFile(devFile, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			b := make([]byte, 1)
			if _, err := f.ReadAt(b, flip); err != nil {
				return err
			}
			b[0] ^= 0xff
			_, err = f.WriteAt(b, flip)
			return err
		},
	})
	if !errors.Is(err, ErrVerify) {
		t.Fatalf("Write with a corrupted byte = %v, want ErrVerify", err)
	}
	for _, want := range []string{loop, fmt.Sprintf("at offset %d", 12*MiB), fmt.Sprint(4 * MiB)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Write error %q does not say %q", err, want)
		}
	}
	t.Log(err)
	assertNoHead(t, devFile)
}

// assertNoHead fails unless the first 4 KiB of file are zeros.
func assertNoHead(t *testing.T, file string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, headSize)
	if _, err := f.ReadAt(head, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(head, make([]byte, headSize)) {
		t.Errorf("the first 4 KiB of the card are not zeros: it could pass for a good card")
	}
}

// cancelAfter cancels a context after a number of reads.
type cancelAfter struct {
	io.ReaderAt
	reads  int
	cancel context.CancelFunc
}

func (c *cancelAfter) ReadAt(p []byte, off int64) (int, error) {
	if c.reads--; c.reads == 0 {
		c.cancel()
	}
	return c.ReaderAt.ReadAt(p, off)
}

func TestWriteCancel(t *testing.T) {
	needLoop(t)
	devFile, _ := randomFile(t, "card", 128*MiB, 5)
	imageFile, _ := randomFile(t, "image", 96*MiB, 6)
	loop := loopDevice(t, devFile, false)
	src, err := os.Open(imageFile)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := Write(ctx, inspect(t, loop), &cancelAfter{ReaderAt: src, reads: 3, cancel: cancel}, 96*MiB,
		[]Range{{0, 96 * MiB}}, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Write cancelled = %v, want context.Canceled", err)
	}
	if res.Written >= 64*MiB {
		t.Errorf("Write cancelled after 3 chunks wrote %d bytes", res.Written)
	}
	t.Logf("%v (Written %d)", err, res.Written)
	assertNoHead(t, devFile)

	// Cancelled before it starts: nothing is touched.
	before := hashFile(t, devFile)
	if _, err := Write(ctx, inspect(t, loop), src, 96*MiB, []Range{{0, 96 * MiB}}, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a cancelled context = %v, want context.Canceled", err)
	}
	if hashFile(t, devFile) != before {
		t.Errorf("Write with a cancelled context changed %s", loop)
	}
}

func TestInspectAndCheck(t *testing.T) {
	needLoop(t)
	t.Run("too small", func(t *testing.T) {
		devFile, _ := randomFile(t, "card", 32*MiB, 7)
		imageFile, _ := randomFile(t, "image", 64*MiB, 8)
		loop := loopDevice(t, devFile, false)
		dev := inspect(t, loop)
		before := hashFile(t, devFile)
		err := dev.Check(64*MiB, true)
		want := fmt.Sprintf("%s (32.0 MiB) is smaller than the image (64.0 MiB)", loop)
		if err == nil || err.Error() != want {
			t.Errorf("Check = %v, want %q", err, want)
		}
		src, _ := os.Open(imageFile)
		defer src.Close()
		if _, err := Write(context.Background(), dev, src, 64*MiB, []Range{{0, 64 * MiB}}, Options{}); err == nil || err.Error() != want {
			t.Errorf("Write = %v, want %q", err, want)
		}
		if hashFile(t, devFile) != before {
			t.Errorf("%s changed after a refusal", loop)
		}
	})

	t.Run("loop is not removable", func(t *testing.T) {
		devFile, _ := randomFile(t, "card", 8*MiB, 9)
		loop := loopDevice(t, devFile, false)
		dev := inspect(t, loop)
		if dev.Removable || dev.Model != "card" || dev.Size != 8*MiB || dev.LogicalBlock != 512 {
			t.Errorf("Inspect(%s) = %+v, want not removable, Model card, Size 8 MiB, LogicalBlock 512", loop, dev)
		}
		err := dev.Check(MiB, false)
		if err == nil || !strings.Contains(err.Error(), loop+" (card, 8.0 MiB) is not removable media (a fixed disk?): pass --force if you are sure") {
			t.Errorf("Check without force = %v", err)
		}
		if err := dev.Check(MiB, true); err != nil {
			t.Errorf("Check with force = %v, want nil", err)
		}
	})

	t.Run("read-only", func(t *testing.T) {
		devFile, _ := randomFile(t, "card", 8*MiB, 10)
		out := run(t, "losetup", "--find", "--show", "--read-only", devFile)
		t.Cleanup(func() { run(t, "losetup", "--detach", out) })
		dev := inspect(t, out)
		if !dev.ReadOnly {
			t.Fatalf("Inspect(%s).ReadOnly = false for a read-only loop device", out)
		}
		before := hashFile(t, devFile)
		want := out + " (card, 8.0 MiB) is read-only: is the SD card's lock switch set?"
		if err := dev.Check(MiB, true); err == nil || err.Error() != want {
			t.Errorf("Check with force = %v, want %q", err, want)
		}
		if _, err := Write(context.Background(), dev, bytes.NewReader(make([]byte, MiB)), MiB, []Range{{0, MiB}}, Options{}); err == nil || err.Error() != want {
			t.Errorf("Write = %v, want %q", err, want)
		}
		if !strings.Contains(dev.Describe(), "read-only") {
			t.Errorf("Describe() does not say read-only:\n%s", dev.Describe())
		}
		if hashFile(t, devFile) != before {
			t.Errorf("%s changed after a refusal", out)
		}
	})

	t.Run("mounted", func(t *testing.T) {
		devFile := filepath.Join(t.TempDir(), "card")
		if err := os.WriteFile(devFile, make([]byte, 32*MiB), 0o600); err != nil {
			t.Fatal(err)
		}
		run(t, "mkfs.ext4", "-q", "-L", "rootfs", "-E", "lazy_itable_init=0,lazy_journal_init=0", devFile)
		loop := loopDevice(t, devFile, false)
		dir := t.TempDir()
		run(t, "mount", "-o", "ro,noload", loop, dir)
		t.Cleanup(func() { run(t, "umount", dir) })
		dev := inspect(t, loop)
		if len(dev.Mounts) != 1 || dev.Mounts[0] != loop+" on "+dir {
			t.Errorf("Inspect(%s).Mounts = %q, want [%q]", loop, dev.Mounts, loop+" on "+dir)
		}
		before := hashFile(t, loop)
		err := dev.Check(MiB, true)
		if want := fmt.Sprintf("%s: %s is mounted on %s: unmount it first", loop, loop, dir); err == nil || err.Error() != want {
			t.Errorf("Check with force = %v, want %q", err, want)
		}
		src := bytes.NewReader(make([]byte, MiB))
		if _, err := Write(context.Background(), dev, src, MiB, []Range{{0, MiB}}, Options{}); err == nil || !strings.Contains(err.Error(), "unmount it first") {
			t.Errorf("Write to a mounted device = %v, want a refusal", err)
		}
		// Mounted after Inspect: the exclusive open refuses.
		late := *dev
		late.Mounts = nil
		if _, err := Write(context.Background(), &late, src, MiB, []Range{{0, MiB}}, Options{}); err == nil || !strings.Contains(err.Error(), "device busy") {
			t.Errorf("Write to a device mounted after Inspect = %v, want device busy", err)
		}
		if hashFile(t, loop) != before {
			t.Errorf("%s changed after a refusal", loop)
		}
	})

	t.Run("active swap", func(t *testing.T) {
		devFile := filepath.Join(t.TempDir(), "card")
		if err := os.WriteFile(devFile, make([]byte, 16*MiB), 0o600); err != nil {
			t.Fatal(err)
		}
		loop := loopDevice(t, devFile, false)
		run(t, "mkswap", "-q", loop)
		run(t, "swapon", loop)
		t.Cleanup(func() { run(t, "swapoff", loop) })
		dev := inspect(t, loop)
		if dev.System == "" || len(dev.Mounts) != 1 || dev.Mounts[0] != loop+" on [SWAP]" {
			t.Errorf("Inspect(%s) = System %q, Mounts %q, want a System reason and [%q]", loop, dev.System, dev.Mounts, loop+" on [SWAP]")
		}
		if err := dev.Check(MiB, true); err == nil || !strings.Contains(err.Error(), "swap") {
			t.Errorf("Check(%s) = %v, want a refusal naming the swap", loop, err)
		}
	})

	t.Run("running system", func(t *testing.T) {
		disk := rootDisk(t)
		dev := inspect(t, disk)
		if dev.System == "" {
			t.Fatalf("Inspect(%s).System is empty, but it holds /", disk)
		}
		if err := dev.Check(1, true); err == nil || !strings.Contains(err.Error(), "running system") {
			t.Errorf("Check(%s) with force = %v, want a refusal naming the running system", disk, err)
		}
		t.Log(dev.Describe())
	})

	t.Run("partitions", func(t *testing.T) {
		devFile := filepath.Join(t.TempDir(), "card")
		if err := os.WriteFile(devFile, make([]byte, 32*MiB), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sfdisk", "-q", devFile)
		cmd.Stdin = strings.NewReader("label: dos\nstart=2048, size=16384, type=c\nstart=18432, type=83\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sfdisk: %v\n%s", err, out)
		}
		loop := loopDevice(t, devFile, true)
		addPartitions(t, loop, [][2]int64{{2048, 16384}, {18432, 65536 - 18432}})
		p1, p2 := loop+"p1", loop+"p2"
		run(t, "mkfs.vfat", "-n", "BOOTFS", p1)
		run(t, "mkfs.ext4", "-q", "-L", "rootfs", p2)

		_, err := Inspect(p1)
		if want := fmt.Sprintf("%s is a partition of %s: give the whole disk", p1, loop); err == nil || err.Error() != want {
			t.Errorf("Inspect(%s) = %v, want %q", p1, err, want)
		}
		dev := inspect(t, loop)
		want := []Partition{
			{Path: p1, Size: 8 * MiB, Label: "BOOTFS", FSType: "vfat"},
			{Path: p2, Size: 32*MiB - 18432*512, Label: "rootfs", FSType: "ext4"},
		}
		if fmt.Sprint(dev.Partitions) != fmt.Sprint(want) {
			t.Errorf("Inspect(%s).Partitions = %+v, want %+v", loop, dev.Partitions, want)
		}
		desc := dev.Describe()
		for _, s := range []string{loop + ": card, 32.0 MiB", p1 + "  8.0 MiB  vfat  \"BOOTFS\"", p2 + "  23.0 MiB  ext4  \"rootfs\""} {
			if !strings.Contains(desc, s) {
				t.Errorf("Describe() = \n%s\nwant a line with %q", desc, s)
			}
		}
		found := false
		list, err := List()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range list {
			found = found || d.Path == loop
		}
		if !found {
			t.Errorf("List() does not list %s", loop)
		}
	})

	t.Run("not a disk", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "x")
		os.WriteFile(file, nil, 0o600)
		for path, want := range map[string]string{
			file:             file + ": not a block device",
			"/dev/null":      "/dev/null: not a block device",
			file + "missing": file + "missing: not found",
		} {
			if _, err := Inspect(path); err == nil || err.Error() != want {
				t.Errorf("Inspect(%s) = %v, want %q", path, err, want)
			}
		}
	})
}

// rootDisk finds the whole disk holding / from /proc/self/mountinfo.
func rootDisk(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 || fields[4] != "/" {
			continue
		}
		dir, err := filepath.EvalSymlinks("/sys/dev/block/" + fields[2])
		if err != nil {
			t.Skipf("/ is not on a block device here (%s): no disk holds the running system", fields[2])
		}
		if _, err := os.Stat(filepath.Join(dir, "partition")); err == nil {
			dir = filepath.Dir(dir)
		}
		return "/dev/" + filepath.Base(dir)
	}
	t.Fatal("no / in /proc/self/mountinfo")
	return ""
}

// addPartitions makes the kernel see partitions of loop (start and size
// in sectors), numbered from 1: the ones it found in the partition table
// if it has a parser for it, else added with addpart (BLKPG), since some
// kernels (this test's VM) are built without any partition table parser.
func addPartitions(t *testing.T, loop string, parts [][2]int64) {
	t.Helper()
	for i, p := range parts {
		node := fmt.Sprintf("%sp%d", loop, i+1)
		if waitForNode(node, 200*time.Millisecond) {
			continue
		}
		run(t, "addpart", loop, strconv.Itoa(i+1), strconv.FormatInt(p[0], 10), strconv.FormatInt(p[1], 10))
		if !waitForNode(node, 2*time.Second) {
			t.Fatalf("%s did not appear after addpart", node)
		}
	}
}

func waitForNode(path string, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return true
		}
	}
	return false
}
