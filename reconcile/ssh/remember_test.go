package ssh

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestRemember: what is saved loads back the same, a broken file is
// ignored, and files unused for long are pruned when another is saved.
func TestRemember(t *testing.T) {
	dir := t.TempDir()
	r := newRequests()
	r.lstat["/etc/hostname"] = true
	r.read["/etc/passwd"] = true
	r.list["/etc/ssh"] = true
	r.queries[queryKey([]string{"locale", "-a"})] = []string{"locale", "-a"}
	old := filepath.Join(dir, "old.json")
	if err := os.WriteFile(old, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-rememberFor - time.Hour)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "facts.json")
	if err := saveRequests(name, &r); err != nil {
		t.Fatal(err)
	}
	got := loadRequests(name)
	if got == nil || !slices.Equal(sorted(got.lstat), sorted(r.lstat)) || !slices.Equal(sorted(got.read), sorted(r.read)) ||
		!slices.Equal(sorted(got.list), sorted(r.list)) || !slices.Equal(got.queryOrder(), r.queryOrder()) {
		t.Errorf("loaded %+v, saved %+v", got, r)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("a Remember file unused for %v was kept", rememberFor)
	}
	if err := os.WriteFile(name, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if loadRequests(name) != nil {
		t.Error("a broken Remember file loaded")
	}
}
