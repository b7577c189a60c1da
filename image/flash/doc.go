// Package flash writes a disk image onto a card (an SD card, a USB stick,
// a loop device) safely: it refuses the wrong disk, writes only the byte
// ranges it is given (the blocks the image's filesystems use), and reads
// everything back before it makes the card bootable.
//
// Inspect and List describe block devices; Device.Check refuses a device
// that is mounted or in use, holds the running system, is smaller than the
// image, or is not removable media (unless forced); Device.Describe is what
// a confirmation prompt shows. Write does the writing, in an order chosen
// so that a card interrupted at any point is visibly not a valid card:
//
//  1. open the device exclusively, unbuffered (Linux: O_EXCL|O_DIRECT;
//     macOS: the raw /dev/rdiskN with F_NOCACHE; Windows: the
//     \\.\PhysicalDriveN handle with FILE_FLAG_NO_BUFFERING and
//     FILE_FLAG_WRITE_THROUGH, after locking and dismounting its volumes);
//  2. zero the first 4 KiB (the partition table), and when the device is
//     bigger than the image also its last 1 MiB, so that an old backup
//     GPT header there is not taken for a partition table; sync;
//  3. write the ranges outside the first 4 KiB, in 4 MiB chunks, hashing
//     what was written (SHA-256 per chunk); cancelling the context stops
//     between chunks;
//  4. sync, drop cached pages and read everything written back, comparing
//     hashes: a mismatch is ErrVerify and the first 4 KiB stays zero;
//  5. only then write the image's first 4 KiB, sync, verify it, and ask the
//     kernel to re-read the partition table.
//
// Ranges are aligned outward to 4096 bytes, within the image: the image's
// bytes are always the right bytes to write. When the image size is not a
// multiple of 4096, the last block is padded with what the device already
// holds there, so nothing beyond the image changes.
//
// Write refuses what Check always refuses; on Linux the exclusive open
// also refuses a device mounted after it was inspected ("device busy").
// On Windows, which mounts every volume it can read, a card's volumes are
// not counted as mounted: Write locks and dismounts them, and fails when a
// program has files open on one.
//
// Limits: Linux is the supported, tested platform (the tests run as root on
// loop devices: only the ranges change, a corrupted read-back is caught,
// refusals leave the device byte-identical, a cancel leaves the first 4 KiB
// zero, an active swap and the disk holding / are refused; the buffered
// path taken when O_DIRECT is refused writes the same bytes and catches a
// corrupted read-back too). cmd/pibake's TestFlashVM runs pibake flash in
// a booted Debian machine onto virtio disks: a device-mapper holder and
// the running system's disk are refused, and the kernel sees the new
// partitions at once. A read-only device (an SD card's lock switch) is
// refused. Mounts in other mount namespaces are not seen by Inspect, but
// the exclusive open still refuses them. The macOS (diskutil, /dev/rdiskN) and Windows
// (\\.\PhysicalDriveN) code is compiled, not run, and is written from the
// documented APIs. Filesystem labels and types of partitions are probed
// cheaply (ext2/3/4, FAT, swap signatures) and may be empty. Write does not
// discard (TRIM) the blocks outside the ranges: they keep old data, which
// the image's filesystems do not use.
package flash
