package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFleetParallel: any --parallel gives the same table, and each host's
// report arrives whole, whatever order the hosts finish in.
func TestFleetParallel(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var inv strings.Builder
	for i := 1; i <= 12; i++ {
		root := fmt.Sprintf("root%d", i)
		if i%5 != 0 { // every fifth host's root is missing: unreachable
			if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		fmt.Fprintf(&inv, "host(\"robot%d\", address = \"dir:%s\", data = {\"lines\": %d})\n", i, root, i)
	}
	recipe := `for n in range(host.data["lines"]):
    files.line("/etc/motd", "%s line %d" % (host.name, n))
`
	for name, content := range map[string]string{"inv.star": inv.String(), "r.star": recipe} {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	var tables []string
	for _, parallel := range []string{"1", "3", "10", "64"} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"plan", "r.star", "--inventory", "inv.star", "--parallel", parallel}, nil, &stdout, &stderr)
		if code != 1 {
			t.Fatalf("--parallel %s: exit %d, want 1 (unreachable hosts); stderr:\n%s", parallel, code, stderr.String())
		}
		if want := "12 hosts: 0 in state, 10 with changes pending, 2 unreachable\n"; stderr.String() != want {
			t.Errorf("--parallel %s: stderr = %q, want %q", parallel, stderr.String(), want)
		}
		reports, table, ok := strings.Cut(stdout.String(), "HOST ")
		if !ok {
			t.Fatalf("--parallel %s: no table in:\n%s", parallel, stdout.String())
		}
		tables = append(tables, table)
		checkWholeReports(t, reports)
	}
	for i := 1; i < len(tables); i++ {
		if diff := cmp.Diff(tables[0], tables[i]); diff != "" {
			t.Errorf("table differs between --parallel runs (-first +later):\n%s", diff)
		}
	}
}

// checkWholeReports checks that each "== HOST" block names only its host.
func checkWholeReports(t *testing.T, reports string) {
	t.Helper()
	blocks := strings.Split(reports, "== ")[1:]
	if len(blocks) != 12 {
		t.Fatalf("%d reports, want 12:\n%s", len(blocks), reports)
	}
	for _, b := range blocks {
		host, _, _ := strings.Cut(b, " ")
		for _, line := range strings.Split(b, "\n") {
			if strings.Contains(line, "robot") && !strings.Contains(line, host+" ") && !strings.Contains(line, host+" line") {
				t.Errorf("report of %s holds another host's line %q", host, line)
			}
		}
		if strings.Count(b, "summary:")+strings.Count(b, "error:") != 1 {
			t.Errorf("report of %s is not whole:\n%s", host, b)
		}
	}
}
