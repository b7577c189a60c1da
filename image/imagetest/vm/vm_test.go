//go:build linux

package vm

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMachine boots the image and checks what first-boot tests rely on:
// the Raspberry Pi OS layout as the booted system sees it, systemd up with
// the network online, and the offline .debs.
func TestMachine(t *testing.T) {
	Skip(t)
	if testing.Short() {
		t.Skip("boots a QEMU machine (half a minute with TCG); -short skips it")
	}
	start := time.Now()
	img := Build(t, ImageOptions{})
	t.Logf("image ready in %s", time.Since(start).Round(time.Millisecond))
	var st syscall.Stat_t
	if err := syscall.Stat(img.Path, &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s: %d MiB, %d MiB on disk", img.Name(), img.Size()>>20, st.Blocks*512>>20)

	m := Boot(t, img.Path)
	if out, err := m.SSH("systemd-analyze"); err == nil {
		t.Logf("first boot: %s", lastLines(out, 1))
	}
	expect := func(cmd string, want ...string) string {
		t.Helper()
		out, err := m.SSH(cmd)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", cmd, w, out)
			}
		}
		return out
	}

	expect("findmnt -n -o SOURCE,FSTYPE,PARTUUID /boot/firmware", "/dev/vda1", "vfat", img.Boot.PartUUID)
	expect("findmnt -n -o SOURCE,FSTYPE,PARTUUID /", "/dev/vda2", "ext4", img.Root.PartUUID)
	expect("cat /boot/firmware/config.txt", "#dtparam=i2c_arm=on", "[all]")
	expect("cat /boot/firmware/cmdline.txt", "root=PARTUUID="+img.Root.PartUUID)
	expect("hostname; id pi", "raspberrypi", "uid=1000(pi)")

	// --wait exits non-zero for degraded; the state is on stdout either way.
	state, _ := m.SSH("systemctl is-system-running --wait")
	switch strings.TrimSpace(state) {
	case "running":
	case "degraded":
		failed, _ := m.SSH("systemctl --failed --no-legend; journalctl -b -p err --no-pager | tail -40")
		t.Logf("the machine is degraded:\n%s", failed)
	default:
		t.Errorf("systemctl is-system-running --wait = %q, want running (or degraded)", state)
	}
	// Nothing in the image wants network-online.target, as on Raspberry
	// Pi OS; a first-boot service that does gets a real wait.
	expect("systemctl is-enabled systemd-networkd systemd-networkd-wait-online", "enabled\nenabled")
	expect("systemctl start network-online.target && systemctl is-active systemd-networkd systemd-networkd-wait-online network-online.target",
		"active\nactive\nactive")
	expect("ip -4 -o addr show dev eth0", "inet 10.0.2.15/")

	// The offline .debs are in apt's cache (with their recommends); the
	// first-boot tests in cmd/pibake install them, boot a second time and
	// read the first boot's journal, so this test boots once.
	expect("ls /var/cache/apt/archives", "i2c-tools_", "libi2c0_", "perl_", "read-edid_")
	expect("apt-get install --no-download --simulate i2c-tools", "Inst i2c-tools")
	stop := time.Now()
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	t.Logf("shut down in %s", time.Since(stop).Round(100*time.Millisecond))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestUnmountUnder checks the clean-up of a killed root build, which must
// not leave RemoveAll loose in a mounted /proc.
func TestUnmountUnder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	dir := t.TempDir()
	outer, inner := filepath.Join(dir, "root", "proc"), filepath.Join(dir, "root", "proc", "sys")
	if err := os.MkdirAll(outer, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", outer, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", inner, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	if err := unmountUnder(dir); err != nil {
		t.Fatal(err)
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mountinfo), " "+dir+"/") {
		t.Errorf("unmountUnder(%s) left mounts:\n%s", dir, mountinfo)
	}
	if err := unmountUnder(dir); err != nil {
		t.Errorf("unmountUnder with nothing mounted: %v", err)
	}
}
