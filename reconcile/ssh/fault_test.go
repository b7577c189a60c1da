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

// TestConnectionCut cuts the connection (kills the host's sshd) in the
// middle of an apply that uploads big files, at several moments: the
// apply fails with a clear error, no file is ever half-written and no
// temporary file is left, and a new apply converges.
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
	for _, delay := range []time.Duration{20 * time.Millisecond, 150 * time.Millisecond, 400 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			h, client := sshTestHost(t, "pi")
			ctx := context.Background()
			sys, err := NewSystem(ctx, client, "ssh pi@sut", SystemOptions{User: "pi"})
			if err != nil {
				t.Fatal(err)
			}
			time.AfterFunc(delay, func() { killSSHD(t, h) })
			sum, err := reconcile.Run(ctx, sys, steps, reconcile.Options{Apply: true}, nil)
			sys.Close()
			if err == nil && sum.Failed == 0 {
				t.Logf("the apply finished before the cut at %v", delay)
			} else {
				t.Logf("cut at %v: %d steps failed; run error %v", delay, sum.Failed, err)
			}
			waitHostIdle(t, h)
			tl, _ := os.ReadFile(h.Path("/tmp/trap.log"))
			t.Logf("trap log: %q", tl)
			checkWhole(t, h, want)

			sys, err = NewSystem(ctx, dialTestHost(t, h, "pi"), "ssh pi@sut", SystemOptions{User: "pi"})
			if err != nil {
				t.Fatal(err)
			}
			if sum, err := reconcile.Run(ctx, sys, steps, reconcile.Options{Apply: true}, nil); err != nil || sum.Failed > 0 {
				t.Fatalf("apply after the cut: %+v, %v", sum, err)
			}
			if sum, err := reconcile.Run(ctx, sys, steps, reconcile.Options{}, nil); err != nil || sum.Pending > 0 {
				t.Fatalf("plan after the second apply: %+v, %v", sum, err)
			}
			sys.Close()
			waitHostIdle(t, h)
			checkWhole(t, h, want)
		})
	}
}

// TestCutError: what a run says when the host goes away.
func TestCutError(t *testing.T) {
	testhost.Skip(t)
	h, client := sshTestHost(t, "pi")
	ctx := context.Background()
	sys, err := NewSystem(ctx, client, "ssh pi@sut", SystemOptions{User: "pi"})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	if _, err := sys.Lstat("/etc"); err != nil {
		t.Fatal(err)
	}
	killSSHD(t, h)
	_, err = sys.ReadFile("/etc/passwd")
	if err == nil || !strings.Contains(err.Error(), "ssh pi@sut") || !strings.Contains(err.Error(), "connection lost") {
		t.Errorf("after the cut, ReadFile error = %v; want one naming the host and saying the connection was lost", err)
	}
}

// killSSHD kills every sshd process running in h's root.
func killSSHD(t *testing.T, h *testhost.Host) {
	for _, pid := range hostPIDs(h) {
		comm, _ := os.ReadFile(filepath.Join("/proc", pid, "comm"))
		if strings.HasPrefix(string(comm), "sshd") {
			if p, err := os.FindProcess(atoi(pid)); err == nil {
				p.Kill()
			}
		}
	}
}

// waitHostIdle waits until no process runs in h's root any more (the
// remote shell has seen the cut and cleaned up).
func waitHostIdle(t *testing.T, h *testhost.Host) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if len(hostPIDs(h)) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, pid := range hostPIDs(h) {
		comm, _ := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
		t.Logf("%s %q", pid, comm)
	}
	t.Fatalf("processes still running in the host 5 s after the cut: %v", hostPIDs(h))
}

func hostPIDs(h *testhost.Host) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if atoi(e.Name()) <= 0 {
			continue
		}
		if root, err := os.Readlink(filepath.Join("/proc", e.Name(), "root")); err == nil && root == h.Root {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// checkWhole: each file is absent or whole, and no temporary file is left.
func checkWhole(t *testing.T, h *testhost.Host, want map[string][]byte) {
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
	left, _ := filepath.Glob(h.Path("/srv/.pibake-*"))
	tmp, _ := filepath.Glob(h.Path("/tmp/.pibake.*"))
	if len(left)+len(tmp) > 0 {
		t.Errorf("temporary files left on the host: %v %v", left, tmp)
	}
}
