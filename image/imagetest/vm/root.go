//go:build linux

package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pibake/pibake/image/imagetest"
	"github.com/pibake/pibake/ops/opstest"
	"github.com/pibake/pibake/reconcile/testhost"
)

// rootVersion names the cached root; bump it when buildRoot changes. The
// images made from a root live inside its directory, so they go with it.
const rootVersion = "vm-bookworm-amd64-v2"

// DiskID is the MBR disk identifier of the images this package builds;
// the root's /etc/fstab names its partitions (PARTUUID=7e57b007-01, -02).
// Boot reads the identifier from the image, so a bake that changes it (as
// Raspberry Pi OS does on first boot) still boots if it fixes fstab too.
const DiskID = 0x7e57b007

// rootPackages are what the machine needs beyond minbase: a kernel for
// -kernel/-initrd, systemd as PID 1 with udev and dbus, and what tests log
// in with and use (dmsetup makes device-mapper holders for the flash
// tests; bookworm's libdevmapper already depends on it, so naming it
// changed no root and rootVersion stayed).
var rootPackages = []string{
	"linux-image-amd64", "systemd-sysv", "udev", "dbus", "openssh-server",
	"sudo", "iproute2", "kmod", "dmsetup",
}

// OfflinePackages are the packages whose .debs (with their dependencies'
// that the root lacks) are in the image's /var/cache/apt/archives, not
// installed, so that `apt-get install --no-download` works in the machine,
// which has no network.
var OfflinePackages = []string{"i2c-tools"}

// A Root is the cached Debian root the images are made of, with what
// booting it needs.
type Root struct {
	// Dir is the root tree.
	Dir string
	// Kernel and Initrd are copies of the root's /vmlinuz and /initrd.img,
	// for qemu's -kernel and -initrd.
	Kernel, Initrd string
	// KeyFile is an ed25519 private key (KeyFile+".pub" the public one)
	// that may log in as root.
	KeyFile string
	// images is where images made from this root are cached.
	images string
}

// Skip skips t unless this process can build and boot a machine: it must
// be root (debootstrap, chroot, and owners in mkfs.ext4 -d) and have
// qemu-system-x86_64 (`make deps` installs qemu-system-x86).
func Skip(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the machine's root is built with debootstrap and chroot, and its owners kept by mkfs.ext4 -d")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("needs qemu-system-x86_64 (Debian package qemu-system-x86; make deps installs it)")
	}
}

// EnsureRoot returns the cached root, building it first if needed (about
// two minutes, with deb.debian.org reachable). Concurrent callers, in this
// process or others, wait for one build.
func EnsureRoot(ctx context.Context, logf func(string, ...any)) (*Root, error) {
	unlock, err := lockCache(rootVersion)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return ensureRootLocked(ctx, logf)
}

// lockCache takes the cache's lock named name, waiting for it.
func lockCache(name string) (unlock func(), err error) {
	cache, err := testhost.CacheDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(cache, name+".lock"), os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		return nil, fmt.Errorf("locking %s: %w", lock.Name(), err)
	}
	return func() { lock.Close() }, nil
}

func ensureRootLocked(ctx context.Context, logf func(string, ...any)) (*Root, error) {
	cache, err := testhost.CacheDir()
	if err != nil {
		return nil, err
	}
	final := filepath.Join(cache, rootVersion)
	r := rootAt(final)
	// The directory appears by rename only when complete.
	if _, err := os.Stat(final); err == nil {
		return r, nil
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("building the machine's root needs root (debootstrap, chroot)")
	}
	logf("building the machine's Debian root in %s (once; about two minutes)", final)
	start := time.Now()
	tmp := final + ".tmp"
	// A build that was killed may have left /proc (ours or debootstrap's)
	// mounted in it.
	if err := unmountUnder(tmp); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	if err := buildRoot(ctx, tmp); err != nil {
		return nil, fmt.Errorf("building the machine's Debian root in %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, err
	}
	logf("built the machine's Debian root in %s", time.Since(start).Round(time.Second))
	return r, nil
}

func rootAt(dir string) *Root {
	return &Root{
		Dir:     filepath.Join(dir, "root"),
		Kernel:  filepath.Join(dir, "vmlinuz"),
		Initrd:  filepath.Join(dir, "initrd.img"),
		KeyFile: filepath.Join(dir, "id_ed25519"),
		images:  filepath.Join(dir, "images"),
	}
}

// buildRoot makes the root and its kernel, initrd and key in dir.
func buildRoot(ctx context.Context, dir string) error {
	for _, tool := range []string{"debootstrap", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed (make deps installs it)", tool)
		}
	}
	r := rootAt(dir)
	if err := os.MkdirAll(r.images, 0o755); err != nil {
		return err
	}
	if err := run(ctx, "debootstrap", "--variant=minbase", "--include="+strings.Join(rootPackages, ","),
		"bookworm", r.Dir, "http://deb.debian.org/debian"); err != nil {
		return err
	}
	if err := run(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pibake-vm-harness", "-f", r.KeyFile); err != nil {
		return err
	}
	if err := layOutLikePiOS(ctx, r); err != nil {
		return err
	}
	if err := withProc(r.Dir, func() error {
		chroot := func(argv ...string) error { return run(ctx, append([]string{"chroot", r.Dir}, argv...)...) }
		// debootstrap leaves every .deb it used in apt's cache; the
		// image should hold only the offline ones.
		if err := chroot("apt-get", "clean"); err != nil {
			return err
		}
		if err := chroot("apt-get", "update", "-q"); err != nil {
			return err
		}
		if err := chroot(append([]string{"apt-get", "install", "--download-only", "-y", "-q"}, OfflinePackages...)...); err != nil {
			return err
		}
		if err := chroot("systemctl", "enable", "systemd-networkd", "systemd-networkd-wait-online"); err != nil {
			return err
		}
		if err := chroot("useradd", "--create-home", "--uid", "1000", "--user-group", "--shell", "/bin/bash",
			"--groups", "adm,dialout,cdrom,sudo,audio,video,plugdev,users,input", "pi"); err != nil {
			return err
		}
		if err := pruneModules(ctx, r.Dir); err != nil {
			return err
		}
		if err := chroot("update-initramfs", "-u", "-k", "all"); err != nil {
			return err
		}
		// Checked here, not at boot: without these the kernel cannot
		// find the root by PARTUUID on a virtio disk.
		out, err := exec.CommandContext(ctx, "chroot", r.Dir, "lsinitramfs", "/initrd.img").CombinedOutput()
		if err != nil {
			return fmt.Errorf("lsinitramfs /initrd.img: %w\n%s", err, out)
		}
		for _, mod := range []string{"/virtio_blk.ko", "/virtio_pci.ko", "/ext4.ko"} {
			if !bytes.Contains(out, []byte(mod)) {
				return fmt.Errorf("the initramfs /initrd.img has no %s: the machine could not mount its root", strings.TrimPrefix(mod, "/"))
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := trim(r.Dir); err != nil {
		return err
	}
	for _, f := range []struct{ src, dst string }{{"vmlinuz", r.Kernel}, {"initrd.img", r.Initrd}} {
		if err := run(ctx, "cp", "-L", filepath.Join(r.Dir, f.src), f.dst); err != nil {
			return err
		}
	}
	return nil
}

// layOutLikePiOS gives the root what Raspberry Pi OS has and a test
// relies on: the hostname, fstab by PARTUUID with /boot/firmware, DHCP on
// the wired interface by systemd-networkd (so network-online.target means
// something), an empty machine-id (so that the first boot is systemd's
// first boot) and the harness's key for root. And what a test machine
// wants: dpkg told to leave out documentation, apt no translations, and an
// initramfs with only the modules that find the root.
func layOutLikePiOS(ctx context.Context, r *Root) error {
	pub, err := os.ReadFile(r.KeyFile + ".pub")
	if err != nil {
		return err
	}
	files := []struct {
		path string
		mode os.FileMode
		data string
	}{
		{"/etc/hostname", 0o644, "raspberrypi\n"},
		{"/etc/hosts", 0o644, "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n\n127.0.1.1\traspberrypi\n"},
		{"/etc/fstab", 0o644, fmt.Sprintf("proc            /proc           proc    defaults          0       0\n"+
			"PARTUUID=%08x-01  /boot/firmware  vfat    defaults          0       2\n"+
			"PARTUUID=%08x-02  /               ext4    defaults,noatime  0       1\n", DiskID, DiskID)},
		// Without it pam_env complains at every SSH login; C.UTF-8 needs
		// no locales package.
		{"/etc/default/locale", 0o644, "LANG=C.UTF-8\n"},
		{"/etc/systemd/network/10-eth.network", 0o644, "[Match]\nName=e*\n\n[Network]\nDHCP=ipv4\n"},
		// QEMU's user network answers DNS at 10.0.2.3; the host's
		// resolv.conf, which debootstrap copied, means nothing inside.
		{"/etc/resolv.conf", 0o644, "nameserver 10.0.2.3\n"},
		{"/etc/machine-id", 0o444, ""},
		{"/root/.ssh/authorized_keys", 0o600, string(pub)},
		// The machine has no network to update them from; the lists are
		// for offline installs only.
		{"/etc/apt/apt.conf.d/90-pibake-no-translations", 0o644, "Acquire::Languages \"none\";\n"},
		// A small initramfs: it only has to find the root on a virtio
		// disk, and a big one takes seconds to unpack under TCG.
		{"/etc/initramfs-tools/conf.d/pibake-vm.conf", 0o644, "MODULES=list\n"},
		{"/etc/initramfs-tools/modules", 0o644, "virtio_pci\nvirtio_blk\next4\n"},
		{"/etc/dpkg/dpkg.cfg.d/01-pibake-nodoc", 0o644, "path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\n" +
			"path-exclude=/usr/share/man/*\npath-exclude=/usr/share/info/*\npath-exclude=/usr/share/locale/*\npath-include=/usr/share/locale/locale.alias\n"},
	}
	for _, f := range files {
		p := filepath.Join(r.Dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		os.Remove(p)
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	os.Remove(filepath.Join(r.Dir, "var", "lib", "dbus", "machine-id"))
	return os.MkdirAll(filepath.Join(r.Dir, "boot", "firmware"), 0o755)
}

// trim removes the documentation debootstrap installed before dpkg was
// told to leave it out.
func trim(root string) error {
	for _, glob := range []string{"usr/share/man/*", "usr/share/info/*", "usr/share/locale/*/LC_MESSAGES"} {
		paths, err := filepath.Glob(filepath.Join(root, glob))
		if err != nil {
			return err
		}
		for _, p := range paths {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
		}
	}
	docs, err := filepath.Glob(filepath.Join(root, "usr/share/doc/*/*"))
	if err != nil {
		return err
	}
	for _, p := range docs {
		if filepath.Base(p) != "copyright" {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// unusedModules are the kernel's module directories for hardware that
// QEMU's machine does not have, more than half of the root. dpkg still
// lists them as the kernel package's files. What tests use stays:
// drivers/md (dm-mod), fs/9p and net/9p (BootOptions.Share), virtio.
var unusedModules = []string{
	"drivers/gpu", "drivers/media", "drivers/infiniband", "drivers/net/wireless",
	"drivers/net/ethernet", "drivers/staging", "drivers/iio", "drivers/comedi",
	"drivers/bluetooth", "drivers/isdn", "sound", "net/wireless", "net/mac80211",
	"net/bluetooth",
}

// pruneModules removes unusedModules from every kernel in root and
// rebuilds the module indexes.
func pruneModules(ctx context.Context, root string) error {
	kernels, err := filepath.Glob(filepath.Join(root, "usr/lib/modules/*"))
	if err != nil {
		return err
	}
	if len(kernels) == 0 {
		return errors.New("no kernel modules in /usr/lib/modules")
	}
	for _, k := range kernels {
		for _, d := range unusedModules {
			if err := os.RemoveAll(filepath.Join(k, "kernel", d)); err != nil {
				return err
			}
		}
		if err := run(ctx, "chroot", root, "depmod", "-a", filepath.Base(k)); err != nil {
			return err
		}
	}
	return nil
}

// FirmwareFiles returns what the image's FAT partition holds, as on a
// fresh Raspberry Pi OS: config.txt and cmdline.txt from
// testdata/rootfs/boot/firmware, cmdline.txt naming DiskID.
func FirmwareFiles() (map[string][]byte, error) {
	dir := filepath.Join(opstest.Testdata(), "rootfs", "boot", "firmware")
	files := map[string][]byte{}
	for _, name := range []string{"config.txt", "cmdline.txt"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		files[name] = b
	}
	files["cmdline.txt"] = imagetest.RewritePartUUIDs(files["cmdline.txt"], DiskID)
	return files, nil
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var mounts []string
	for _, line := range strings.Split(string(b), "\n") {
		// Field 5 is the mount point, with spaces and the like octal-escaped.
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		if p := fields[4]; p == dir || strings.HasPrefix(p, dir+"/") {
			mounts = append(mounts, p)
		}
	}
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	for _, p := range mounts {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmounting %s, left by an earlier build: %w", p, err)
		}
	}
	return nil
}

func withProc(root string, f func() error) error {
	proc := filepath.Join(root, "proc")
	if err := syscall.Mount("proc", proc, "proc", 0, ""); err != nil {
		return fmt.Errorf("mounting %s: %w", proc, err)
	}
	defer syscall.Unmount(proc, syscall.MNT_DETACH)
	return f()
}

func run(ctx context.Context, argv ...string) error {
	return testhost.RunTail(ctx, "", []string{"DEBIAN_FRONTEND=noninteractive", "LANG=C.UTF-8"}, argv...)
}
