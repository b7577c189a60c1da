//go:build linux

// Package imagetest gives image tests Raspberry Pi OS-shaped SD-card images
// built with the real tools, and judges that check an edited image with the
// real tools too, the way net/http/httptest gives HTTP tests a real server.
//
// # Images
//
// [Build] returns a private, writable copy of an image laid out as pi-gen
// lays out Raspberry Pi OS: an MBR (sfdisk) with the disk identifier at byte
// 440; partition 1, FAT32 (type c) labelled bootfs, at sector 16384 (8 MiB),
// 512 MiB, made with pi-gen's `mkfs.vfat -F 32 -s 4` and filled with mcopy;
// partition 2, ext4 (type 83) labelled rootfs, right after it, 1 GiB,
// made with `mkfs.ext4 -b 4096 -d` from testdata/rootfs (see
// ops/opstest.CopyRoot). The file is sparse: a few MB on disk.
//
// What the fixture adds to testdata/rootfs is listed by [RootExtras] and
// [BootFiles]: about 300 files in /etc and 400 in /usr/bin (so that both
// are htree-indexed, as on a real root, after `e2fsck -fyD`), symlinks fast
// and slow, a hard link, set-id bits and non-root owners; on the FAT,
// config.txt and cmdline.txt from testdata, an overlays/ directory and
// firmware-like blobs. /etc/fstab and cmdline.txt name the image's own disk
// identifier (PARTUUID=<id>-01, -02), and /boot/firmware is an empty mount
// point.
//
// Images are built once per [Spec] and kept in $PIBAKE_TEST_CACHE (default
// the user cache directory's pibake-test); each test gets its own sparse
// copy, which takes tens of milliseconds. [Make] builds one outside a test,
// for demos and benchmarks.
//
// # Profiles
//
// The ext4 root comes in four [Profile]s, chosen to cover the on-disk
// variants an editor must handle. All use 4 KiB blocks (mke2fs would pick
// 1 KiB for a filesystem this small, which no Pi image has):
//
//   - pigen: exactly pi-gen's `mkfs.ext4 -O ^64bit,^huge_file` on Debian's
//     e2fsprogs 1.47, which is what Raspberry Pi OS ships: metadata_csum,
//     32-byte group descriptors, no metadata_csum_seed, no orphan_file
//     (Debian's /etc/mke2fs.conf leaves both out).
//   - e2fs147: upstream e2fsprogs 1.47 defaults, which add orphan_file and
//     metadata_csum_seed to Debian's: 64bit, huge_file, metadata_csum. What
//     a root made on another distribution looks like.
//   - bit64: 64bit and metadata_csum without the seed or orphan_file
//     (64-byte group descriptors, the checksum seeded from the UUID).
//   - nocsum: no metadata_csum, so uninit_bg: group descriptors carry a
//     crc16 and nothing else is checksummed. Older images look like this.
//
// Every build checks with dumpe2fs that the features really are what the
// profile promises, so a host whose mke2fs differs fails loudly instead of
// testing the wrong thing.
//
// # Judges
//
// [E2fsck] (e2fsck -fn on the partition, through the unix I/O manager's
// ?offset=) and [FsckVfat] (fsck.vfat -n on a sparse extract of the FAT
// partition) fail the test with the tool's output. [Stat], [Lookup],
// [ReadFiles], [ListDirs] and [RootTree] read the ext4 root with debugfs,
// batching many requests into one run; [BootFile], [BootDir] and
// [ExtractBoot] read the FAT with mtools. [LoopMountRoot],
// [LoopMountBoot] and [LoopMount] mount partitions read-only through loop
// devices, the kernel's word, and [Tree] snapshots a directory to compare
// with; RootTree is the same snapshot taken with debugfs alone.
//
// # Root
//
// Building needs root: the staged tree must be owned by uid 0, 1000 and
// gid 42 before mkfs.ext4 -d copies it (the package's tests run as root in
// CI, as all image tests do). Loop mounts need root too. The readers and
// judges do not. Tests that need root and do not have it are skipped with
// the reason. The kernel must know ext4 for LoopMountRoot and vfat for
// LoopMountBoot; LoopMountBoot skips when the kernel has no vfat, and
// [ExtractBoot] (mtools) is the FAT reference then.
//
// The package runs on Linux only, and needs e2fsprogs 1.47 or later,
// dosfstools, mtools, fdisk (sfdisk), util-linux (losetup) and xz-utils
// (`make deps` installs them).
package imagetest
