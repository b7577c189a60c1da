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
	progress := progressOf(opts, PhaseCopy)
	if opts.Cache == "" {
		return image.CopyBase(ctx, dst, opts.From, progress)
	}
	key, compressed, err := baseKey(opts.From)
	if err != nil || !compressed {
		return image.CopyBase(ctx, dst, opts.From, progress)
	}
	cached := filepath.Join(opts.Cache, key+".img")
	if _, err := os.Stat(cached); err == nil {
		opts.Logf("using %s's decompressed copy in %s", opts.From, opts.Cache)
		now := time.Now()
		os.Chtimes(cached, now, now) // most recently used
		return image.CopyBase(ctx, dst, cached, progress)
	}
	if err := os.MkdirAll(opts.Cache, 0o755); err != nil {
		opts.Logf("not caching the decompressed base: %v", err)
		return image.CopyBase(ctx, dst, opts.From, progress)
	}
	tmp, err := os.CreateTemp(opts.Cache, ".base-*.img")
	if err != nil {
		opts.Logf("not caching the decompressed base: %v", err)
		return image.CopyBase(ctx, dst, opts.From, progress)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := image.CopyBase(ctx, tmp, opts.From, progress); err != nil {
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), cached); err != nil {
		return 0, err
	}
	evict(opts.Cache, cached)
	opts.Logf("kept a decompressed copy of %s in %s for the next bake (--no-cache: don't)", opts.From, opts.Cache)
	return image.CopyBase(ctx, dst, cached, nil)
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
