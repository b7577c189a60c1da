// Package xzio decodes and encodes .xz files (the format of
// https://tukaani.org/xz/xz-file-format.txt) in parallel, block by block,
// with ulikunitz/xz's LZMA2 codec doing the compression itself.
//
// Decode reads a file through an io.ReaderAt: it finds every block from
// the indexes at the ends of the streams, decodes blocks on several
// goroutines and hands the output to a callback in order, with offsets,
// so that a caller can skip runs of zeros. xz -T0 (and xz-utils 5.4 and
// later by default when compressing in threads) cuts files into blocks of
// three times the dictionary, 24 MiB for -6, which is what makes a
// parallel decode possible; a file of one block decodes on one core.
// Every block's check (CRC32, CRC64 or SHA-256), every header's CRC32 and
// the index are verified. A block that compressed 256 times or better is
// first tried as all zeros: when its CRC64 or SHA-256 check is that of
// zeros, its LZMA2 data is not decoded (ulikunitz/xz decodes runs of
// zeros slowly, and free space is most of a disk image). Several streams and stream padding (cat a.xz
// b.xz) are fine. A file with no stream footer at its end was cut short
// (a truncated download): Decode says so at once, without decoding it.
//
// Encode writes one stream of independent 24 MiB blocks compressed in
// parallel, as xz -T0 does, with both sizes in every block header, CRC64
// checks and an index, so any xz reader can read it and Decode can read
// it in parallel.
//
// Limits: LZMA2 is the only filter (xz --x86, --arm64, --delta and the
// other BCJ filters are refused by name); the check types the format
// reserves but does not define are refused; blocks over 256 MiB are
// decoded one at a time as a stream, while the workers go on with the
// blocks after them, and without the zero shortcut. Decoding is ulikunitz/xz's speed per core, about
// half of xz-utils' (see the benchmarks in package image).
package xzio
