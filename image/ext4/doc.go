// Package ext4 reads and edits ext2/ext3/ext4 filesystems in place, in
// pure Go: no root, no loop mounts, no kernel. It is written for baking
// Raspberry Pi OS images offline, so it is exact where e2fsck looks:
// checksums, free counts, link counts and directory indexes are kept right,
// and every change leaves a filesystem that e2fsck -fn passes.
//
// # Reading
//
// Regular files (extent-mapped or old block-mapped, holes and unwritten
// extents reading as zeros), directories (linear and htree-indexed),
// symlinks (fast and slow, resolved inside the filesystem, absolute
// targets from its root), devices, fifos and sockets (metadata only). FS
// offers Stat/Lstat/ReadFile/ReadDir/Readlink and an fs.FS view (Open,
// IOFS for a strict one).
//
// # Refusals
//
// Open checks the superblock and every group descriptor checksum, and
// refuses before touching anything:
//   - a journal needing replay, orphans waiting, recorded errors or an
//     unclean unmount (ErrNeedsRecovery: run e2fsck or mount once);
//   - incompatible features it does not implement (ErrUnsupported, naming
//     them): compression, journal_dev, meta_bg, dirdata, inline_data,
//     encrypt, casefold, bigalloc and unknown ones;
//   - for writing also: mmp, ea_inode, quota, project, verity,
//     shared_blocks, snapshot, replica, read-only, unknown ro_compat bits,
//     and filesystems without the extent feature (ext2/ext3 are read-only
//     here).
//
// Corrupt metadata found on the way is an error wrapping ErrCorrupt that
// says what and where, never a panic.
package ext4
