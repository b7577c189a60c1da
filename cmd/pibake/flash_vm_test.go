//go:build linux

package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pibake/pibake/image/flash"
	"github.com/pibake/pibake/image/imagetest"
	"github.com/pibake/pibake/image/imagetest/vm"
)

// TestFlashVM runs pibake flash inside a booted Debian machine (QEMU, the
// vm package's) onto two virtio disks full of random bytes: what loop
// devices on a test host cannot show, since its kernel may lack
// device-mapper and the MBR partition parser. It checks that --list sees
// the disks; that a disk held by device-mapper, one whose partition is
// mounted and the running system's disk are refused and not written; and
// that a flashed disk gets its partitions from the kernel at once (flash's
// BLKRRPART, no partprobe), passes e2fsck, mounts and reads back, had
// about what flash says written (the kernel's count), and is, on the host
// afterwards, a copy of the image.
func TestFlashVM(t *testing.T) {
	vm.Skip(t)
	if testing.Short() {
		t.Skip("boots a QEMU machine (a minute or two with TCG); -short skips it")
	}
	start := time.Now()
	step := func(t *testing.T, format string, args ...any) {
		t.Helper()
		t.Logf("%6.1fs %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	share := t.TempDir()
	agent := testAgent(t, "amd64")
	if err := os.Link(agent, filepath.Join(share, "pibake")); err != nil {
		t.Fatal(err)
	}
	img := imagetest.Build(t, imagetest.Spec{Small: true})
	if err := os.Link(img.Path, filepath.Join(share, "card.img")); err != nil {
		t.Fatal(err)
	}
	size := img.Size()
	cards := t.TempDir()
	cardSize := size + 8<<20
	vdb, vdc := filepath.Join(cards, "vdb"), filepath.Join(cards, "vdc")
	randomCard(t, vdb, cardSize)
	vdcSum := randomCard(t, vdc, cardSize)
	machine := vm.Build(t, vm.ImageOptions{})
	step(t, "image %d MiB, pibake and two %d MiB random cards ready", size>>20, cardSize>>20)

	m := vm.BootWith(t, machine.Path, vm.BootOptions{Disks: []string{vdb, vdc}, Share: share})
	step(t, "booted")
	dir, err := m.MountShare("/mnt/host")
	if err != nil {
		t.Fatal(err)
	}
	pibakeIn := dir + "/pibake"
	imageIn := dir + "/card.img"
	// inVM runs a shell command in the machine and returns its output,
	// stdout and stderr together, and its exit code.
	inVM := func(t *testing.T, cmd string) (string, int) {
		t.Helper()
		out, err := m.SSH("( " + cmd + " ) 2>&1; echo exit=$?")
		if err != nil {
			t.Fatal(err)
		}
		out = strings.TrimRight(out, "\n")
		i := strings.LastIndex(out, "exit=")
		code, err := strconv.Atoi(out[i+len("exit="):])
		if err != nil {
			t.Fatalf("%s: no exit code in %q", cmd, out)
		}
		return out[:i], code
	}
	must := func(t *testing.T, cmd string) string {
		t.Helper()
		out, code := inVM(t, cmd)
		if code != 0 {
			t.Fatalf("in the machine: %s: exit %d\n%s", cmd, code, out)
		}
		return out
	}
	// written is what the kernel counted written to the disk, in bytes:
	// the seventh field of /sys/block/DISK/stat counts 512-byte sectors.
	written := func(t *testing.T, disk string) int64 {
		t.Helper()
		fields := strings.Fields(must(t, "cat /sys/block/"+disk+"/stat"))
		n, err := strconv.ParseInt(fields[6], 10, 64)
		if err != nil {
			t.Fatalf("/sys/block/%s/stat: %v", disk, err)
		}
		return n * 512
	}
	// refused flashes img onto dev and wants it refused, with an error
	// naming dev and saying each of want, and nothing written to dev. The
	// running system writes its own disk (vda) all the time: only the
	// other disks' counts say whether flash wrote.
	refused := func(t *testing.T, name, dev string, want ...string) {
		t.Helper()
		disk := strings.TrimPrefix(dev, "/dev/")
		quiet := disk != "vda"
		before := written(t, disk)
		out, code := inVM(t, fmt.Sprintf("%s flash %s --device %s --yes --force", pibakeIn, imageIn, dev))
		if code == 0 {
			t.Errorf("%s: flash onto %s succeeded, want it refused:\n%s", name, dev, out)
		}
		for _, w := range append([]string{dev}, want...) {
			if !strings.Contains(out, w) {
				t.Errorf("%s: flash onto %s: exit %d, the error lacks %q:\n%s", name, dev, code, w, out)
			}
		}
		if n := written(t, disk) - before; quiet && n != 0 {
			t.Errorf("%s: the kernel counted %d bytes written to %s, which was refused", name, n, dev)
		}
		step(t, "%s: refused: %s", name, strings.TrimSpace(out))
	}

	t.Run("list", func(t *testing.T) {
		out := must(t, pibakeIn+" flash --list --json")
		devs := map[string]flash.Device{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var d flash.Device
			if err := json.Unmarshal([]byte(line), &d); err != nil {
				t.Fatalf("flash --list --json: %v in %q", err, line)
			}
			devs[d.Path] = d
		}
		for _, dev := range []string{"/dev/vdb", "/dev/vdc"} {
			d, ok := devs[dev]
			if !ok || d.Size != cardSize || d.System != "" || len(d.Mounts) > 0 || d.ReadOnly || strings.HasPrefix(d.Model, "0x") {
				t.Errorf("flash --list --json: %s is %+v (listed: %v), want %d bytes, unused, writable, no PCI id for a model", dev, d, ok, cardSize)
			}
		}
		// The machine's CD-ROM drive and floppy are no cards.
		for path := range devs {
			if strings.HasPrefix(path, "/dev/sr") || strings.HasPrefix(path, "/dev/fd") {
				t.Errorf("flash --list --json lists %s, which cannot hold an image", path)
			}
		}
		if d := devs["/dev/vda"]; !strings.Contains(d.System, "running system") {
			t.Errorf("flash --list --json: /dev/vda is %+v, want it to hold the running system", d)
		}
		step(t, "listed:\n%s", out)
	})

	refused(t, "the running system", "/dev/vda", "the running system")

	t.Run("device-mapper holder", func(t *testing.T) {
		must(t, `dmsetup create held --table "0 $(blockdev --getsz /dev/vdc) linear /dev/vdc 0"`)
		refused(t, "held by device-mapper", "/dev/vdc", "dm-0", "device-mapper", "dmsetup remove")
		must(t, "dmsetup remove held")
	})

	t.Run("flash", func(t *testing.T) {
		if out, code := inVM(t, "ls /dev/vdb?*"); code == 0 {
			t.Fatalf("/dev/vdb has partitions before the flash: %s", out)
		}
		before := written(t, "vdb")
		flashStart := time.Now()
		out := must(t, fmt.Sprintf("%s flash %s --device /dev/vdb --yes --force --json", pibakeIn, imageIn))
		step(t, "flashed in %s", time.Since(flashStart).Round(100*time.Millisecond))
		var ev flashEvent
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, `"type":"flash"`) {
				if err := json.Unmarshal([]byte(line), &ev); err != nil {
					t.Fatal(err)
				}
			}
		}
		kernel := written(t, "vdb") - before
		t.Logf("image %d bytes, %d in use; flash wrote %d (kernel: %d), %.0f%% of the image; verified %d",
			ev.Size, ev.Used, ev.Written, kernel, 100*float64(kernel)/float64(size), ev.Verified)
		if ev.Written == 0 || kernel > ev.Written+1<<20 || kernel < ev.Used {
			t.Errorf("the kernel counted %d bytes written; flash said %d, with %d in use:\n%s", kernel, ev.Written, ev.Used, out)
		}
		if kernel > size*3/4 {
			t.Errorf("%d bytes written for an image of %d: not only the used blocks", kernel, size)
		}

		// No partprobe: the partitions are there because flash asked the
		// kernel to read the new table; udev makes their nodes.
		if out, code := inVM(t, "udevadm settle && ls /dev/vdb1 /dev/vdb2"); code != 0 {
			t.Fatalf("after the flash, no partition nodes (did BLKRRPART reach the kernel?): %s\n%s",
				out, must(t, "cat /proc/partitions; dmesg | tail -20"))
		}
		if out, code := inVM(t, "e2fsck -fn /dev/vdb2"); code != 0 {
			t.Errorf("e2fsck -fn /dev/vdb2: exit %d\n%s", code, out)
		}
		must(t, "mkdir -p /mnt/root /mnt/boot && mount -o ro /dev/vdb2 /mnt/root && mount -t vfat -o ro /dev/vdb1 /mnt/boot")
		root := imagetest.RootTree(t, img)
		boot := imagetest.Tree(t, imagetest.ExtractBoot(t, img))
		for _, f := range []struct {
			path string
			want imagetest.Entry
		}{{"/mnt/root/etc/fstab", root["/etc/fstab"]}, {"/mnt/boot/config.txt", boot["/config.txt"]}} {
			if f.want.SHA256 == "" {
				t.Fatalf("the image has no %s", f.path)
			}
			if got := strings.Fields(must(t, "sha256sum "+f.path))[0]; got != f.want.SHA256 {
				t.Errorf("%s on the flashed disk: sha256 %s, want %s", f.path, got, f.want.SHA256)
			}
		}
		must(t, "umount /mnt/root")
		step(t, "partitions read back")

		refused(t, "a partition mounted", "/dev/vdb", "/dev/vdb1 is mounted on /mnt/boot", "unmount")
		must(t, "umount /mnt/boot")
	})

	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	step(t, "powered off")
	if got := imagetest.SHA256(t, vdc); got != vdcSum {
		t.Errorf("%s, held by device-mapper and refused, changed", vdc)
	}
	got := *img
	got.Path = vdb
	imagetest.CheckCopy(t, img, &got)
	step(t, "the flashed disk is a copy of the image")
}

// randomCard writes a new file of size random bytes at path and returns
// its SHA-256: a card whose unwritten blocks are visibly not the image's
// zeroes. Its first sector has no MBR signature, so the kernel sees no
// partitions on it before a flash.
func randomCard(t *testing.T, path string, size int64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], rand.Uint64())
	random := rand.NewChaCha8(seed)
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 4<<20)
	first := make([]byte, 512)
	random.Read(first)
	first[510], first[511] = 0, 0
	w.Write(first)
	if _, err := io.CopyN(w, random, size-512); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
