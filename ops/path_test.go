package ops_test

import (
	"errors"
	"io/fs"
	"syscall"
	"testing"

	"github.com/pibake/pibake/ops"
)

func TestResolvePath(t *testing.T) {
	tree := map[string]*ops.FileInfo{
		"/etc":          {Mode: fs.ModeDir},
		"/etc/passwd":   {},
		"/lib":          {Mode: fs.ModeSymlink, Target: "usr/lib"},
		"/usr":          {Mode: fs.ModeDir},
		"/usr/lib":      {Mode: fs.ModeDir},
		"/usr/lib/x":    {},
		"/etc/abs":      {Mode: fs.ModeSymlink, Target: "/usr/lib/x"},
		"/etc/up":       {Mode: fs.ModeSymlink, Target: "../../../../etc"},
		"/etc/loop":     {Mode: fs.ModeSymlink, Target: "loop"},
		"/etc/dangling": {Mode: fs.ModeSymlink, Target: "/nowhere/else"},
	}
	lstat := func(p string) (*ops.FileInfo, error) {
		if fi, ok := tree[p]; ok {
			return fi, nil
		}
		return nil, &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
	}
	tests := []struct {
		p      string
		follow bool
		want   string
		err    error
	}{
		{"/", true, "/", nil},
		{"/etc/passwd", true, "/etc/passwd", nil},
		{"/lib/x", false, "/usr/lib/x", nil},
		{"/lib", false, "/lib", nil},
		{"/lib", true, "/usr/lib", nil},
		{"/etc/abs", true, "/usr/lib/x", nil},
		{"/etc/abs", false, "/etc/abs", nil},
		{"/etc/up/passwd", true, "/etc/passwd", nil},
		{"/etc/dangling", true, "/nowhere/else", nil},
		{"/missing/a/b", true, "/missing/a/b", nil},
		{"/etc/loop", true, "", syscall.ELOOP},
		{"/etc/passwd/x", true, "", syscall.ENOTDIR},
	}
	for _, tt := range tests {
		got, err := ops.ResolvePath(tt.p, tt.follow, lstat)
		if got != tt.want || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("ResolvePath(%q, %v) = %q, %v; want %q, %v", tt.p, tt.follow, got, err, tt.want, tt.err)
		}
	}
	if _, err := ops.ResolvePath("relative", true, lstat); err == nil {
		t.Error("ResolvePath of a relative path succeeded")
	}
}
