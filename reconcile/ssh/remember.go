package ssh

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// rememberedRequests is the file form of requests.
type rememberedRequests struct {
	Version int                 `json:"version"`
	Lstat   []string            `json:"lstat,omitempty"`
	Stat    []string            `json:"stat,omitempty"`
	List    []string            `json:"list,omitempty"`
	Read    []string            `json:"read,omitempty"`
	Peek    []string            `json:"peek,omitempty"`
	Globs   []string            `json:"globs,omitempty"`
	Queries map[string][]string `json:"queries,omitempty"`
}

const rememberVersion = 1

// loadRequests reads a Remember file; nil when there is none usable.
func loadRequests(name string) *requests {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil
	}
	var f rememberedRequests
	if json.Unmarshal(b, &f) != nil || f.Version != rememberVersion {
		return nil
	}
	r := newRequests()
	for _, pair := range []struct {
		m    map[string]bool
		list []string
	}{{r.lstat, f.Lstat}, {r.stat, f.Stat}, {r.list, f.List}, {r.read, f.Read}, {r.peek, f.Peek}, {r.globs, f.Globs}} {
		for _, p := range pair.list {
			pair.m[p] = true
		}
	}
	for k, argv := range f.Queries {
		if len(argv) > 0 && queryKey(argv) == k {
			r.queries[k] = argv
		}
	}
	return &r
}

// saveRequests writes a Remember file atomically.
func saveRequests(name string, r *requests) error {
	f := rememberedRequests{
		Version: rememberVersion,
		Lstat:   sorted(r.lstat), Stat: sorted(r.stat), List: sorted(r.list),
		Read: sorted(r.read), Peek: sorted(r.peek), Globs: sorted(r.globs), Queries: r.queries,
	}
	b, err := json.Marshal(&f)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".facts-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	pruneRemembered(filepath.Dir(name), time.Now().Add(-rememberFor))
	return nil
}

// rememberFor is how long a Remember file unused is kept.
const rememberFor = 90 * 24 * time.Hour

// pruneRemembered removes the Remember files in dir not written since
// before (hosts and recipes gone), so the cache does not grow for ever.
func pruneRemembered(dir string, before time.Time) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && filepath.Ext(e.Name()) == ".json" && fi.ModTime().Before(before) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
