// Package ext4 reads and edits ext2/ext3/ext4 filesystems in place, in
// pure Go: no root, no loop mounts, no kernel. It is written for baking
// Raspberry Pi OS images offline, so it is exact where e2fsck looks:
// checksums, free counts, link counts and directory indexes are kept right,
// and every change leaves a filesystem that e2fsck -fn passes and Linux
// mounts, reads and goes on writing.
//
// # Reading
//
// Regular files (extent trees of any depth, old ext2/ext3 block maps,
// holes and unwritten extents reading as zeros), directories (linear and
// htree-indexed, half-MD4/TEA/legacy hashes, signed or unsigned),
// symlinks (fast and slow; resolved inside the filesystem, absolute
// targets from its root), devices, fifos and sockets (metadata only).
// FS offers Stat/Lstat/ReadFile/ReadDir/Readlink taking absolute or
// fs.FS-style paths, Open for streaming reads, IOFS for a strict fs.FS,
// Statfs, and UsedRanges (the bytes a copy must carry).
//
// # Writing
//
// WriteFile (create or replace, streamed, any size), Mkdir, MkdirAll,
// Symlink, Remove, Rename, Chmod, Chown, Lchown, Chtimes. Each call is one
// transaction: metadata is changed in memory, then written together
// (blocks, group descriptors, superblock) only if the whole call
// succeeded; on error nothing is written but, at most, file data into
// blocks that stay free. With a reader that tells its size (Len, or an
// *os.File) a file that cannot fit is refused before any write; a stream
// is drained to say how much space was missing.
//
// Kept right: metadata_csum (crc32c; superblock, descriptors, bitmaps,
// inodes, extent blocks, directory leaf tails, htree dx tails),
// metadata_csum_seed, gdt_csum/uninit_bg (crc16), 32- and 64-byte group
// descriptors, flex_bg, BLOCK_UNINIT/INODE_UNINIT/ITABLE_ZEROED and
// bg_itable_unused, exact free block/inode and directory counts,
// i_blocks with or without huge_file, dir_nlink, extra_isize (new inodes
// get s_want_extra_isize, a random generation, nanosecond times and a
// creation time), large_file, sparse_super(2), 1 KiB to 64 KiB blocks.
//
// Allocation keeps files contiguous when it can: the first free run long
// enough for the whole file (when its size is known) from the parent
// directory's group onwards, else the longest run, repeatedly. New inodes
// go to the parent's group, initialised groups first.
//
// Directories: an htree directory stays an htree. Inserting puts the entry
// in the leaf its hash selects; a full leaf is split in two by hash (with
// the collision bit when equal hashes straddle the split) and indexed; a
// full index node is split, a full root gains a level (up to two levels,
// three with large_dir). Removal unlinks the entry from its leaf; leaves
// are not merged, as in the kernel. A linear directory that outgrows its
// one block is indexed the way the kernel does it; bigger linear
// directories stay linear (e2fsck -D re-indexing is not done).
//
// Left alone: the journal (never replayed or written; a journal needing
// recovery is refused), orphan_file, reserved inodes, the resize inode and
// the backup superblocks and descriptors (only free counts differ, which
// e2fsck does not compare). Extended attributes are kept on files that
// are not replaced; a replaced file (WriteFile) gets none, and removing a
// file drops its reference to a shared attribute block.
//
// # Refusals
//
// Open checks the superblock and every group descriptor checksum, and
// refuses before touching anything:
//   - a journal needing replay, orphans waiting, recorded errors or an
//     unclean unmount (ErrNeedsRecovery: run e2fsck or mount once);
//   - features it does not implement (ErrUnsupported, naming them):
//     compression, journal_dev, meta_bg, dirdata, inline_data, encrypt,
//     casefold, bigalloc and unknown incompatible ones;
//   - for writing also: mmp, ea_inode, quota, project, verity,
//     shared_blocks, snapshot, replica, read-only, unknown ro_compat
//     bits, and filesystems without the extent feature (ext2/ext3 are
//     read-only here).
//
// Corrupt metadata found on the way is an error wrapping ErrCorrupt that
// says what and where, never a panic (the parsers are fuzzed). Path errors
// are *fs.PathError wrapping fs.ErrNotExist, fs.ErrExist,
// syscall.ENOTDIR, EISDIR, ENOTEMPTY, EINVAL, ELOOP, ENAMETOOLONG or one
// of this package's sentinels.
//
// Not offered: hard links, device nodes, extended attribute editing,
// resizing, writing the journal. Writes are not crash-safe in the
// journal's sense: a crash during a call can leave the filesystem for
// e2fsck to repair (the intended use is an image file, not a live disk).
package ext4
