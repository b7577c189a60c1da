package image_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/pibake/pibake/image"
)

// TestOverlay writes through an Overlay and checks every read against a
// plain copy written the same way, and that the base is never written.
func TestOverlay(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{3}))
	const size = 3*4096 + 1000 // a partial last block
	base := make([]byte, size)
	for i := range base {
		base[i] = byte(rng.Uint32())
	}
	orig := bytes.Clone(base)
	model := bytes.Clone(base)
	o := image.NewOverlay(bytes.NewReader(base), size)

	writes := []struct {
		name string
		off  int64
		len  int
	}{
		{"start of a block", 0, 3},
		{"across two blocks", 4090, 12},
		{"a whole block", 8192, 4096},
		{"inside a written block", 8200, 100},
		{"the last bytes", size - 5, 5},
		{"across every block", 100, size - 200},
		{"nothing", 500, 0},
	}
	for _, w := range writes {
		p := make([]byte, w.len)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		n, err := o.WriteAt(p, w.off)
		if n != len(p) || err != nil {
			t.Fatalf("%s: WriteAt(%d bytes, %d) = %d, %v", w.name, len(p), w.off, n, err)
		}
		copy(model[w.off:], p)
		for _, r := range []struct{ off, len int64 }{{0, size}, {w.off, int64(w.len)}, {4095, 2}, {size - 1, 1}, {1, size - 2}} {
			got := make([]byte, r.len)
			if n, err := o.ReadAt(got, r.off); n != len(got) || err != nil && !(err == io.EOF && r.off+r.len == size) {
				t.Fatalf("after %s: ReadAt(%d, %d) = %d, %v", w.name, r.len, r.off, n, err)
			}
			if !bytes.Equal(got, model[r.off:r.off+r.len]) {
				t.Fatalf("after %s: ReadAt(%d, %d) differs from the bytes written", w.name, r.len, r.off)
			}
		}
	}
	if !bytes.Equal(base, orig) {
		t.Error("the base was written")
	}
	if got, want := o.Held(), int64(4*4096); got != want {
		t.Errorf("Held() = %d, want %d (every block)", got, want)
	}

	// Reads past the end; writes outside the image fail whole.
	buf := make([]byte, 10)
	if n, err := o.ReadAt(buf, size-4); n != 4 || err != io.EOF || !bytes.Equal(buf[:4], model[size-4:]) {
		t.Errorf("ReadAt across the end = %d, %v", n, err)
	}
	if n, err := o.ReadAt(buf, size); n != 0 || err != io.EOF {
		t.Errorf("ReadAt at the end = %d, %v, want 0, EOF", n, err)
	}
	for _, off := range []int64{size - 4, size, -1} {
		if n, err := o.WriteAt(buf, off); n != 0 || err == nil {
			t.Errorf("WriteAt(10 bytes, %d) of a %d-byte image = %d, %v, want an error", off, size, n, err)
		}
	}
	o.Freeze()
	if _, err := o.WriteAt(buf, 0); !errors.Is(err, image.ErrFrozen) {
		t.Errorf("WriteAt after Freeze = %v, want ErrFrozen", err)
	}
	got := make([]byte, size)
	if _, err := o.ReadAt(got, 0); err != nil || !bytes.Equal(got, model) {
		t.Errorf("ReadAt after Freeze = %v, or the bytes differ", err)
	}
}

// A short base reads as zeros up to the overlay's size, and a write there
// keeps them.
func TestOverlayShortBase(t *testing.T) {
	o := image.NewOverlay(bytes.NewReader([]byte("base")), 8192)
	if _, err := o.WriteAt([]byte("X"), 4100); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 8192)
	if _, err := o.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 8192)
	copy(want, "base")
	want[4100] = 'X'
	if !bytes.Equal(got, want) {
		t.Errorf("ReadAt = %q..., want the base, zeros and the write", got[:8])
	}
}
