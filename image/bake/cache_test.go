package bake

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pibake/pibake/image/xzio"
)

func TestEvict(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for i, name := range []string{"old.img", "older.img", "new.img", "kept.img"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		at := now.Add(-time.Duration(i) * time.Hour)
		if name == "kept.img" {
			at = now.Add(-10 * time.Hour) // the one just used, whatever its time
		}
		os.Chtimes(p, at, at)
	}
	evict(dir, filepath.Join(dir, "kept.img"))
	left, _ := filepath.Glob(filepath.Join(dir, "*.img"))
	want := []string{filepath.Join(dir, "kept.img"), filepath.Join(dir, "old.img")}
	if len(left) != 2 || left[0] != want[0] || left[1] != want[1] {
		t.Errorf("after evict: %v, want %v", left, want)
	}
}

func TestBaseKey(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "raspios.img.xz")
	if err := os.WriteFile(p, []byte(xzio.Magic+"pretend"), 0o644); err != nil {
		t.Fatal(err)
	}
	k1, compressed, err := baseKey(p)
	if err != nil || !compressed {
		t.Fatalf("baseKey = %q, %v, %v", k1, compressed, err)
	}
	later := time.Now().Add(time.Minute)
	os.Chtimes(p, later, later)
	if k2, _, _ := baseKey(p); k2 == k1 {
		t.Errorf("a base rewritten in place keeps its key %s", k1)
	}
	raw := filepath.Join(dir, "raw.img")
	os.WriteFile(raw, []byte("not xz"), 0o644)
	if _, compressed, err := baseKey(raw); compressed || err != nil {
		t.Errorf("baseKey(raw) = compressed %v, %v", compressed, err)
	}
}
