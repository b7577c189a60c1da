//go:build linux

package testhost

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestHost checks what other tests rely on: an isolated writable root with
// the offline packages and the wheelhouse.
func TestHost(t *testing.T) {
	h := New(t)
	ctx := context.Background()
	out, err := h.Run(ctx, "sh", "-c", "ls /var/cache/apt/archives/ && cat /etc/pip.conf && ls /srv/wheels && dpkg -s i2c-tools 2>&1 || true")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"i2c-tools_", "python3-smbus_", "find-links = /srv/wheels", "smbus2-0.4.3-py3-none-any.whl", "is not installed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("test root lacks %q; saw:\n%s", want, out)
		}
	}
	h.WriteFile(t, "/etc/pibake-test", []byte("x"), 0o644)
	if _, err := os.Stat(Template(t) + "/etc/pibake-test"); err == nil {
		t.Error("a write in one test host reached the template")
	}
}
