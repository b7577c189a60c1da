package reconcile

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/opstest"
)

func TestContentDiff(t *testing.T) {
	var long strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&long, "line %d\n", i)
	}
	tests := []struct {
		name      string
		old, new  string
		sensitive bool
		want      string // the whole diff, or its last line when wantLines > 0
		wantLines int
	}{
		{name: "same", old: "a\n", new: "a\n", want: ""},
		{name: "new file", new: "a\nb\n", want: "--- a/etc/x\n+++ b/etc/x\n@@ -0,0 +1,2 @@\n+a\n+b\n"},
		{name: "three lines of context", old: "1\n2\n3\n4\n5\n6\n7\n8\n", new: "1\n2\n3\n4\nfive\n6\n7\n8\n",
			want: "--- a/etc/x\n+++ b/etc/x\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"},
		{name: "sensitive", old: "psk=a\n", new: "psk=b\n", sensitive: true, want: "(sensitive content not shown)"},
		{name: "NUL is binary", old: "a\n", new: "a\x00", want: "binary content changed (2 → 2 bytes)"},
		{name: "invalid UTF-8 is binary", old: "\xff\xfe", new: "a\n", want: "binary content changed (2 → 2 bytes)"},
		{name: "large diffs are cut", old: "first\n", new: long.String(), wantLines: maxDiffLines + 1, want: "... (704 more diff lines not shown)"},
		{name: "a new file shows its head", new: long.String(), wantLines: maxNewFileLines + 1, want: "... (988 more diff lines not shown)"},
		{name: "huge content is not diffed", new: strings.Repeat("x\n", maxDiffInput), want: fmt.Sprintf("content changed (0 → %d bytes; too large to show)", 2*maxDiffInput)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := contentDiff("/etc/x", []byte(tt.old), []byte(tt.new), tt.sensitive)
			if tt.wantLines == 0 {
				if got != tt.want {
					t.Errorf("contentDiff = %q, want %q", got, tt.want)
				}
				return
			}
			lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
			if len(lines) != tt.wantLines || lines[len(lines)-1] != tt.want {
				t.Errorf("contentDiff has %d lines ending %q, want %d ending %q", len(lines), lines[len(lines)-1], tt.wantLines, tt.want)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	sys, _ := opstest.Root(t)
	tests := []struct {
		change *ops.Change
		want   string
	}{
		{&ops.Change{Kind: ops.Write, Path: "/etc/hostname", Content: []byte("raspberrypi\n"), Mode: 0o600, UID: 1000, GID: 1000},
			"update /etc/hostname: mode 0644 → 0600, owner 0:0 → 1000:1000 (content unchanged)"},
		{&ops.Change{Kind: ops.Write, Path: "/etc/hostname", Content: []byte("raspberrypi\n"), Mode: 0o644},
			"rewrite /etc/hostname (no difference)"},
		{&ops.Change{Kind: ops.Write, Path: "/etc/hostname", Content: []byte("robot\n"), Mode: 0o600},
			"update /etc/hostname (mode 0644 → 0600)"},
		{&ops.Change{Kind: ops.Write, Path: "/etc/localtime", Content: []byte("TZif"), Mode: 0o644},
			"replace link /etc/localtime with a file (0644 0:0, 4 bytes)"},
		{&ops.Change{Kind: ops.Attrs, Path: "/etc/ssh", Mode: 0o700, UID: 0, GID: 4},
			"set /etc/ssh: mode 0755 → 0700, owner 0:0 → 0:4"},
		{&ops.Change{Kind: ops.Mkdir, Path: "/etc/robot", Mode: 0o750, UID: 1000, GID: 1000},
			"create directory /etc/robot (0750 1000:1000)"},
		{&ops.Change{Kind: ops.Symlink, Path: "/etc/localtime", Target: "/usr/share/zoneinfo/Europe/Berlin"},
			"relink /etc/localtime → /usr/share/zoneinfo/Europe/Berlin (was → /usr/share/zoneinfo/Etc/UTC)"},
		{&ops.Change{Kind: ops.Symlink, Path: "/etc/hostname", Target: "/run/hostname"},
			"replace file /etc/hostname with a link → /run/hostname"},
		{&ops.Change{Kind: ops.Symlink, Path: "/etc/robot", Target: "/opt/robot"}, "link /etc/robot → /opt/robot"},
		{&ops.Change{Kind: ops.Remove, Path: "/etc/ssh"}, "remove directory tree /etc/ssh"},
		{&ops.Change{Kind: ops.Remove, Path: "/lib"}, "remove link /lib"},
		{&ops.Change{Kind: ops.Remove, Path: "/etc/robot"}, "remove /etc/robot (already absent)"},
	}
	for _, tt := range tests {
		if got, _ := describe(sys, tt.change); got != tt.want {
			t.Errorf("describe(%s) = %q, want %q", tt.change, got, tt.want)
		}
	}
}
