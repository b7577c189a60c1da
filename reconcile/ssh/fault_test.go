//go:build linux

package ssh

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pibake/pibake/recipes"
	"github.com/pibake/pibake/reconcile"
	"github.com/pibake/pibake/reconcile/testhost"
)

// TestConnectionCut cuts the connection (kills the host's sshd, or every
// process of the connection) in the middle of an apply that uploads big
// files, at several moments: the apply fails, no file is ever
// half-written, and a new apply converges and leaves no temporary file.
func TestConnectionCut(t *testing.T) {
	testhost.Skip(t)
	dir := t.TempDir()
	const files = 4
	var recipe strings.Builder
	want := map[string][]byte{}
	for i := range files {
		raw := make([]byte, 6<<20)
		rand.Read(raw)
		content := []byte(base64.StdEncoding.EncodeToString(raw))
		name := fmt.Sprintf("big%d", i)
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
		want["/srv/"+name] = content
		fmt.Fprintf(&recipe, "files.put(%q, src = %q)\n", "/srv/"+name, name)
	}
	if err := os.WriteFile(filepath.Join(dir, "cut.star"), []byte(recipe.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := recipes.Load(filepath.Join(dir, "cut.star"), recipes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	steps, _, err := r.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		delay time.Duration
		all   bool // SIGKILL every process of the host's sshd, the remote shell too
	}{
		{20 * time.Millisecond, false},
		{150 * time.Millisecond, false},
		{400 * time.Millisecond, false},
		{150 * time.Millisecond, true},
		{400 * time.Millisecond, true},
	} {
		delay := tc.delay
		name := delay.String() + "/sshd"
		if tc.all {
			name = delay.String() + "/all"
		}
		t.Run(name, func(t *testing.T) {
			h := newTestHost(t)
			ctx := context.Background()
			sys := h.open(t, "pi", SystemOptions{})
			time.AfterFunc(delay, func() {
				if tc.all {
					h.sshd.Cut(t)
				} else {
					h.sshd.KillSSHD(t)
				}
			})
			sum, err := reconcile.Run(ctx, sys, steps, reconcile.Options{Apply: true}, nil)
			sys.Close()
			if err == nil && sum.Failed == 0 {
				t.Logf("the apply finished before the cut at %v", delay)
			} else {
				t.Logf("cut at %v: %d steps failed; run error %v", delay, sum.Failed, err)
			}
			h.sshd.WaitIdle(t)
			// A remote shell that goes with its connection may leave
			// temporary files (never a half-written destination); the
			// next run removes them.
			checkWhole(t, h.Host, want, false)

			sys = h.open(t, "pi", SystemOptions{})
			if sum, err := reconcile.Run(ctx, sys, steps, reconcile.Options{Apply: true}, nil); err != nil || sum.Failed > 0 {
				t.Fatalf("apply after the cut: %+v, %v", sum, err)
			}
			if sum, err := reconcile.Run(ctx, sys, steps, reconcile.Options{}, nil); err != nil || sum.Pending > 0 {
				t.Fatalf("plan after the second apply: %+v, %v", sum, err)
			}
			sys.Close()
			h.sshd.WaitIdle(t)
			checkWhole(t, h.Host, want, true)
		})
	}
}

// TestCutError: what a run says when the host goes away.
func TestCutError(t *testing.T) {
	h := newTestHost(t)
	sys := h.open(t, "pi", SystemOptions{})
	if _, err := sys.Lstat("/etc"); err != nil {
		t.Fatal(err)
	}
	h.sshd.Cut(t)
	_, err := sys.ReadFile("/etc/passwd")
	if err == nil || !strings.Contains(err.Error(), "ssh pi@") || !strings.Contains(err.Error(), "connection lost") {
		t.Errorf("after the cut, ReadFile error = %v; want one naming the host and saying the connection was lost", err)
	}
}

// checkWhole: each file is absent or whole, and (when clean) no temporary
// file is left.
func checkWhole(t *testing.T, h *testhost.Host, want map[string][]byte, clean bool) {
	t.Helper()
	for p, content := range want {
		got, err := os.ReadFile(h.Path(p))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, content) {
			t.Errorf("%s is half-written: %d of %d bytes", p, len(got), len(content))
		}
	}
	if !clean {
		return
	}
	left, _ := filepath.Glob(h.Path("/srv/.pibake-*"))
	tmp, _ := filepath.Glob(h.Path("/tmp/.pibake.*"))
	if len(left)+len(tmp) > 0 {
		t.Errorf("temporary files left on the host: %v %v", left, tmp)
	}
}
