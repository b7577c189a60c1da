package bake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/image/xzio"
)

// keepBases is how many decompressed bases a cache keeps: the ones baked
// from most recently.
const keepBases = 2

// copyBase copies the base image into dst. A compressed base is
// decompressed once into the cache directory (when there is one) and
// copied sparsely from there on later bakes: re-baking while working on a
// recipe costs a copy, not a decompression.
func copyBase(ctx context.Context, dst *os.File, opts Options) (int64, error) {
	cached, made, err := cachedBase(ctx, opts)
	if err != nil {
		return 0, err
	}
	if cached == "" {
		return image.CopyBase(ctx, dst, opts.From, progressOf(opts, PhaseCopy))
	}
	progress := progressOf(opts, PhaseCopy)
	if made {
		progress = nil // shown while decompressing
	}
	return image.CopyBase(ctx, dst, cached, progress)
}

// OpenBase opens the base image opts.From for reading, decompressed: an
// .img as it is; an .img.xz through opts.Cache (decompressed there on
// first use, as Bake does), or, with no cache, into an anonymous file in
// opts.Scratch that vanishes with it. opts.Progress (PhaseCopy) and
// opts.Logf are told as for Bake. release closes the file; call it once
// done, even if something else closed the file first.
func OpenBase(ctx context.Context, opts Options) (base *os.File, release func(), err error) {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	cached, _, err := cachedBase(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	if cached != "" {
		f, err := os.Open(cached)
		if err != nil {
			return nil, nil, err
		}
		return f, func() { f.Close() }, nil
	}
	if _, compressed, err := baseKey(opts.From); err != nil || !compressed {
		f, err := os.Open(opts.From)
		if err != nil {
			return nil, nil, err // names the file
		}
		return f, func() { f.Close() }, nil
	}
	dir := opts.Scratch
	if dir == "" {
		dir = os.TempDir()
	}
	tmp, err := create(filepath.Join(dir, "pibake-base.img"))
	if err != nil {
		return nil, nil, err
	}
	if _, err := image.CopyBase(ctx, tmp.f, opts.From, progressOf(opts, PhaseCopy)); err != nil {
		tmp.discard()
		return nil, nil, err
	}
	return tmp.f, tmp.discard, nil
}

// cachedBase returns the name of the compressed base's decompressed copy
// in the cache, decompressing it there first if it is missing (made). It
// returns "" when the base is not compressed, there is no cache, or the
// cache cannot be written (said by opts.Logf).
func cachedBase(ctx context.Context, opts Options) (name string, made bool, err error) {
	if opts.Cache == "" {
		return "", false, nil
	}
	key, compressed, err := baseKey(opts.From)
	if err != nil || !compressed {
		return "", false, nil
	}
	cached := filepath.Join(opts.Cache, key+".img")
	if _, err := os.Stat(cached); err == nil {
		opts.Logf("using %s's decompressed copy in %s", opts.From, opts.Cache)
		now := time.Now()
		os.Chtimes(cached, now, now) // most recently used
		return cached, false, nil
	}
	if err := os.MkdirAll(opts.Cache, 0o755); err != nil {
		opts.Logf("not caching the decompressed base: %v", err)
		return "", false, nil
	}
	tmp, err := os.CreateTemp(opts.Cache, ".base-*.img")
	if err != nil {
		opts.Logf("not caching the decompressed base: %v", err)
		return "", false, nil
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := image.CopyBase(ctx, tmp, opts.From, progressOf(opts, PhaseCopy)); err != nil {
		return "", false, err
	}
	if err := tmp.Close(); err != nil {
		return "", false, err
	}
	if err := os.Rename(tmp.Name(), cached); err != nil {
		return "", false, err
	}
	evict(opts.Cache, cached)
	opts.Logf("kept a decompressed copy of %s in %s for the next bake (--no-cache: don't)", opts.From, opts.Cache)
	return cached, true, nil
}

// baseKey names a compressed base by its path, size, modification time
// and last MiB (where an .xz keeps its index, and so every block's size):
// a base replaced or rewritten gets a new key.
func baseKey(path string) (key string, compressed bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	magic := make([]byte, len(xzio.Magic))
	if _, err := f.ReadAt(magic, 0); err != nil || string(magic) != xzio.Magic {
		return "", false, err
	}
	info, err := f.Stat()
	if err != nil {
		return "", false, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00", abs, info.Size(), info.ModTime().UnixNano())
	tail := min(info.Size(), 1<<20)
	if _, err := io.Copy(h, io.NewSectionReader(f, info.Size()-tail, tail)); err != nil {
		return "", false, err
	}
	name := strings.TrimSuffix(filepath.Base(path), ".xz")
	name = strings.TrimSuffix(name, ".img")
	return name + "-" + hex.EncodeToString(h.Sum(nil))[:16], true, nil
}

// evict removes all but the keepBases most recently used bases in dir.
func evict(dir, keep string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "*.img"))
	type base struct {
		path string
		used int64
	}
	var bases []base
	for _, m := range matches {
		if info, err := os.Stat(m); err == nil {
			bases = append(bases, base{m, info.ModTime().UnixNano()})
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i].used > bases[j].used })
	n := 0
	for _, b := range bases {
		if b.path == keep || n < keepBases-1 {
			if b.path != keep {
				n++
			}
			continue
		}
		os.Remove(b.path)
	}
}
