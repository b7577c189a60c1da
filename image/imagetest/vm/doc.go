//go:build linux

// Package vm boots, in tests, an amd64 machine laid out like Raspberry Pi
// OS under QEMU: real systemd as PID 1, /boot/firmware mounted from the
// FAT32 partition by PARTUUID, DHCP from QEMU's user network and no network
// beyond it, and SSH as root from the host. It is for first-boot tests: bake
// an image, boot it, and judge the machine over SSH.
//
//	img := vm.Build(t, vm.ImageOptions{})   // a private copy: bake it
//	m := vm.Boot(t, img.Path)              // answers SSH; powered off when t ends
//	out, err := m.SSH("systemctl is-system-running --wait")
//	m.Shutdown()                           // and Boot(t, img.Path) again
//
// # The machine
//
// The root is Debian bookworm for amd64 (debootstrap --variant=minbase
// with a kernel, systemd-sysv, udev, dbus, openssh-server, sudo,
// iproute2, kmod and dmsetup), shaped like Raspberry Pi OS where tests can
// see it: hostname raspberrypi; user pi, uid 1000, in sudo; /etc/fstab naming
// PARTUUID=<DiskID>-02 for / (ext4, noatime) and -01 for /boot/firmware
// (vfat); an empty /etc/machine-id, so the first boot is systemd's first
// boot; systemd-networkd with DHCP on e* (eth0) and
// systemd-networkd-wait-online enabled, so network-online.target waits for
// the network when a unit wants it. apt's package lists are in place and
// the .debs of OfflinePackages (with their dependencies and recommends)
// are in /var/cache/apt/archives, not installed, so `apt-get install
// --no-download` works offline. The harness's ed25519 key may log in as
// root (sshd's default prohibit-password); SSH host keys are the same in
// every image. config.txt and cmdline.txt on the FAT are Raspberry Pi OS's
// (testdata/rootfs/boot/firmware) but nothing reads them: there is no Pi
// firmware, and QEMU loads Linux itself.
//
// What it is not: not arm64 (TCG runs amd64 guests fastest on amd64
// hosts), no Raspberry Pi hardware (no GPIO, I2C buses, overlays or
// EEPROM), no documentation, man pages or translations, and kernel
// modules only for hardware QEMU has. The kernel and initramfs are the
// root's, kept beside it and given to QEMU with -kernel and -initrd; a
// kernel installed in the machine is not booted. The initramfs is built
// with MODULES=list (virtio_pci, virtio_blk, ext4) to boot quickly.
//
// Tests of disk tools (flash) attach more raw files as virtio disks
// (BootOptions.Disks: /dev/vdb, /dev/vdc...) and read host files from a
// read-only 9p share (BootOptions.Share, Machine.MountShare). The kernel
// is Debian's, with its MBR partition parser, device-mapper (dm-mod) and
// md, and udev makes the partitions' nodes.
//
// # Cache
//
// The root, its kernel, initramfs and key are built once (about two
// minutes, needing deb.debian.org) into $PIBAKE_TEST_CACHE (default
// ~/.cache/pibake-test, shared with reconcile/testhost) under a versioned
// name, and images made from it (seconds) under its images/ directory,
// named by ImageOptions, the firmware files and the e2fsprogs version.
// Concurrent test processes wait for one build. Each test gets a sparse
// copy (about half a gigabyte of data; a second or less).
//
// # Costs
//
// QEMU runs with TCG, not KVM: nested virtualisation hangs on the CI
// machines. A boot answers SSH in about 20 seconds on an idle 2-core host
// and powers off in about 5; a host busy with other tests has taken 40 to
// 50 (hence Boot's 180-second patience). Everything in the machine is
// about ten times slower than native: apt-get install of a small package
// takes 15 to 40 seconds, most of it apt reading its 50 MB package list.
// Boot machines one at a time: each wants both cores.
//
// Building and booting need root (debootstrap, chroot, owners kept by
// mkfs.ext4 -d) and qemu-system-x86_64 (Debian's qemu-system-x86, with
// its dependencies; `make deps` installs it); Skip says so when they are
// missing. Linux only.
package vm
