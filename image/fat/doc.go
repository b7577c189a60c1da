// Package fat reads and edits a FAT32 filesystem inside a region of a file
// or device, without mounting it: the Raspberry Pi OS boot partition
// (/boot/firmware: config.txt, cmdline.txt, overlays/*.dtbo, kernels).
//
// Every change leaves the filesystem as fsck.vfat -n wants it: all FAT
// copies identical, the FSInfo free-cluster count exact and its next-free
// hint a free cluster (or 0xFFFFFFFF when none is left), empty files with
// first cluster 0, freed files and directories with their whole cluster
// chain freed, a new subdirectory's ".." pointing at cluster 0 when its
// parent is the root, and long names stored as VFAT entries whose checksum
// matches a short 8.3 name that is unique in its directory.
//
// Names are looked up case-insensitively, by long or short name, as the
// Linux vfat driver does. A name that fits 8.3 in one case per part
// ("config.txt", "README.TXT") is stored as a short entry with the
// Windows NT lower-case flags, as mtools and Windows do; any other name gets
// long-name entries and a generated short name ("CONFIG~1.TXT").
//
// FAT has no owners or permission bits. Files and directories are reported
// as owned by root (uid and gid 0) with mode 0755, which is what Raspberry
// Pi OS shows: its fstab mounts the boot partition with "defaults", so the
// vfat driver's fmask and dmask are the mounting process's umask, 0022.
// A file with the read-only attribute is 0555. Asking for any other mode or
// owner (WriteFile, Mkdir, Chmod, Chown) fails with an error naming the path
// and wrapping errors.ErrUnsupported.
//
// Timestamps are written from the clock in Options (time.Now by default)
// and read back as UTC: FAT stores wall-clock time without a zone, and a Pi
// runs with the kernel's time zone at UTC.
//
// Why not go-diskfs's FAT32 writer: measured with fsck.vfat -n on
// mkfs.vfat-made filesystems, go-diskfs v1.9.4 leaves the FSInfo free count
// stale, points a root subdirectory's ".." at cluster 2, gives empty files a
// cluster, leaks the whole chain of a removed file, and can give two files
// the same 8.3 name ("foo.json" and "foo.jsonx" both become FOO.JSO). Its
// writer also rewrites whole directories and the whole FAT on every write.
// Correcting those from outside would need this package's directory and
// FAT code anyway, so this package reads and writes FAT32 itself; go-diskfs
// reads the partition table (package image/mbr).
//
// Limits:
//   - FAT32 only. FAT12 and FAT16 (and exFAT) are refused by Open with
//     ErrNotFAT32: Raspberry Pi OS's boot partition is FAT32.
//   - Files are at most 4 GiB - 1 byte, as FAT32 allows. Directories hold at
//     most 65536 entries (slots), as the FAT specification allows.
//   - No symbolic links, hard links, special files or extended attributes.
//   - Open reads the FAT into memory (about 1 MiB for a 512 MiB boot
//     partition) and refuses a filesystem whose FAT copies differ, whose
//     FAT mirroring is off, or whose geometry is inconsistent (ErrCorrupt).
//   - Each change is written through to the Device before the method
//     returns (there is no Sync or Close; syncing the file is the caller's).
//     A change refused before writing (no space, a bad name, a mode) leaves
//     the filesystem as it was; a device error part-way can leave it
//     inconsistent, so bake into a copy of an image, never the only one.
//   - The dirty flag in the boot sector and the backup boot sector are
//     never touched; the backup FSInfo sector is kept equal to the primary.
//   - An FS is not safe for concurrent use.
package fat
