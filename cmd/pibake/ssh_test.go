//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pibake/pibake/reconcile/testhost"
)

// These tests run the CLI, as a user would, against throw-away Debian
// hosts reached over their real OpenSSH sshd (see testhost.SSHD): the
// fleet table, host keys, sudo and a connection cut mid-apply.

// pibakeSSH runs the CLI with stdin and returns its exit code and output.
func pibakeSSH(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// privateCache points the user's cache (where pibake remembers what a
// recipe reads on a host) into the test's temporary directory, keeping
// the throw-away hosts' template where it is.
func privateCache(t *testing.T) {
	t.Helper()
	if os.Getenv("PIBAKE_TEST_CACHE") == "" {
		dir, err := testhost.CacheDir()
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("PIBAKE_TEST_CACHE", dir)
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
}

// sshHost is a throw-away host reached over sshd, shaped like a Pi (a
// config.txt in /boot/firmware).
func sshHost(t *testing.T) (*testhost.Host, *testhost.SSHD) {
	t.Helper()
	h := testhost.New(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "rootfs", "boot", "firmware", "config.txt"))
	if err != nil {
		t.Fatal(err)
	}
	h.WriteFile(t, "/boot/firmware/config.txt", b, 0o644)
	return h, h.SSHD(t)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readHostFile reads path in h; "" with ok false when it is absent.
func readHostFile(t *testing.T, h *testhost.Host, path string) (content string, ok bool) {
	t.Helper()
	b, err := os.ReadFile(h.Path(path))
	if os.IsNotExist(err) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

// fleetRecipe is quick but real: a file from the host's group data, the
// host name, a user and I2C in config.txt.
const fleetRecipe = `files.put("/etc/pibake-greeting", content = "%s: %s\n" % (host.name, host.data["greeting"]))
files.put("/etc/pibake-site", content = host.data["site"] + "\n", mode = "0640")
server.hostname(host.name)
server.user("robot", groups = ["dialout"])
firmware.i2c()
`

// TestFleetSSH applies a recipe to twenty hosts over sshd, one of which
// cannot be reached: the others converge, the table says which failed and
// why, and a plan afterwards finds the good ones in state.
func TestFleetSSH(t *testing.T) {
	testhost.Skip(t)
	start := time.Now()
	privateCache(t)
	dir := t.TempDir()
	sshConfig := filepath.Join(dir, "ssh_config")
	inventoryFile := filepath.Join(dir, "inventory.star")
	recipe := filepath.Join(dir, "recipe.star")

	const n = 20
	const broken = "h13"
	hosts := map[string]*testhost.Host{}
	var config, inventory strings.Builder
	inventory.WriteString(`group("lab", data = {"greeting": "hello from the lab", "site": "lab"})
group("field", data = {"greeting": "hello from the field", "site": "field"})
`)
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("h%02d", i)
		h, sshd := sshHost(t)
		hosts[name] = h
		block, err := os.ReadFile(sshd.Config)
		if err != nil {
			t.Fatal(err)
		}
		config.Write(block)
		group := "lab"
		if i%2 == 0 {
			group = "field"
		}
		fmt.Fprintf(&inventory, "host(%q, address = \"pi@%s\", groups = [%q])\n", name, sshd.Alias, group)
		if name == broken {
			// The host is down: its ProxyCommand cannot start sshd.
			if err := os.Rename(h.Path("/usr/sbin/sshd"), h.Path("/usr/sbin/sshd.off")); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeFile(t, sshConfig, config.String())
	writeFile(t, inventoryFile, inventory.String())
	writeFile(t, recipe, fleetRecipe)
	t.Logf("%d hosts ready in %v", n, time.Since(start).Round(time.Millisecond))

	applyStart := time.Now()
	code, stdout, stderr := pibakeSSH(t, "", "apply", recipe, "--inventory", inventoryFile, "--ssh-config", sshConfig, "--parallel", "8")
	t.Logf("apply on %d hosts: %v", n, time.Since(applyStart).Round(time.Millisecond))
	if code != 1 {
		t.Errorf("apply: exit %d, want 1 (one host unreachable)", code)
	}
	table := fleetTable(t, stdout)
	for name := range hosts {
		row := table[name]
		if name == broken {
			if len(row) < 8 || row[1] != hostUnreachable || !strings.Contains(strings.Join(row[7:], " "), "pi@") {
				t.Errorf("table row of %s = %q, want it unreachable with an error naming the host", name, row)
			}
			continue
		}
		if len(row) < 2 || row[1] != hostChanged {
			t.Errorf("table row of %s = %q, want it changed", name, row)
		}
	}
	checkFleetStderr(t, "apply", stderr, fmt.Sprintf("%d hosts: %d in state (%d changed), 1 unreachable", n, n-1, n-1))
	if t.Failed() {
		t.Fatalf("apply output:\n%s", stdout)
	}
	t.Logf("apply:\n%s", stdout[strings.LastIndex(stdout, "HOST "):])

	for name, h := range hosts {
		group := "lab"
		if name[2]%2 == 0 {
			group = "field"
		}
		want := map[string]string{
			"/etc/pibake-greeting": fmt.Sprintf("%s: hello from the %s\n", name, group),
			"/etc/pibake-site":     group + "\n",
			"/etc/hostname":        name + "\n",
		}
		for path, content := range want {
			got, ok := readHostFile(t, h, path)
			switch {
			case name == broken && ok && got == content:
				t.Errorf("%s %s = %q, want it untouched: the host was not reached", name, path, got)
			case name != broken && got != content:
				t.Errorf("%s %s = %q, want %q", name, path, got, content)
			}
		}
		if name == broken {
			continue
		}
		if passwd, _ := readHostFile(t, h, "/etc/passwd"); !strings.Contains(passwd, "\nrobot:") {
			t.Errorf("%s: no user robot in /etc/passwd", name)
		}
		if config, _ := readHostFile(t, h, "/boot/firmware/config.txt"); !strings.Contains(config, "\ndtparam=i2c_arm=on\n") {
			t.Errorf("%s: config.txt does not turn I2C on:\n%s", name, config)
		}
	}

	// A plan finds every good host in state; the broken one still fails.
	code, stdout, stderr = pibakeSSH(t, "", "plan", recipe, "--inventory", inventoryFile, "--ssh-config", sshConfig, "--parallel", "8")
	if code != 1 {
		t.Errorf("plan after apply: exit %d, want 1 (one host unreachable)", code)
	}
	checkFleetStderr(t, "plan after apply", stderr, fmt.Sprintf("%d hosts: %d in state, 1 unreachable", n, n-1))
	table = fleetTable(t, stdout)
	for name := range hosts {
		if name != broken && table[name][1] != hostOK {
			t.Errorf("plan after apply: row of %s = %q, want ok", name, table[name])
		}
	}

	// The same with --json and the broken host left out: every object
	// carries its host, and all are in state.
	var good []string
	for i := 1; i <= n; i++ {
		if name := fmt.Sprintf("h%02d", i); name != broken {
			good = append(good, name)
		}
	}
	code, stdout, stderr = pibakeSSH(t, "", "plan", recipe, "--inventory", inventoryFile, "--ssh-config", sshConfig,
		"--limit", strings.Join(good, ","), "--json")
	if code != 0 {
		t.Errorf("plan --json --limit (good hosts): exit %d, want 0\n%s%s", code, stdout, stderr)
	}
	statuses := map[string]string{}
	var fleetObject map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("plan --json: line %q: %v", line, err)
		}
		switch obj["type"] {
		case "fleet":
			fleetObject = obj
			continue
		case "host":
			statuses[obj["host"].(string)] = obj["status"].(string)
		}
		if host, _ := obj["host"].(string); host == "" || host == broken {
			t.Errorf("plan --json: object %s has host %q, want one of the selected hosts", line, host)
		}
	}
	for _, name := range good {
		if statuses[name] != hostOK {
			t.Errorf("plan --json: %s has status %q, want ok", name, statuses[name])
		}
	}
	if fleetObject == nil || fleetObject["hosts"] != float64(n-1) || fleetObject["ok"] != float64(n-1) {
		t.Errorf("plan --json: fleet object %v, want %d hosts, all ok", fleetObject, n-1)
	}

	elapsed := time.Since(start)
	t.Logf("TestFleetSSH: %v in all", elapsed.Round(time.Millisecond))
	if elapsed > 60*time.Second {
		t.Errorf("the fleet test took %v, want under a minute", elapsed)
	}
}

// fleetTable parses the summary table at the end of a fleet's text
// output: each row's fields by host name.
func fleetTable(t *testing.T, stdout string) map[string][]string {
	t.Helper()
	i := strings.LastIndex(stdout, "HOST ")
	if i < 0 {
		t.Fatalf("no summary table in:\n%s", stdout)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout[i:]), "\n")[1:] {
		fields := strings.Fields(line)
		rows[fields[0]] = fields
	}
	return rows
}

// checkFleetStderr: a fleet's stderr ends with the one line for humans,
// and every line before it (sshd's log, through the ProxyCommand) says
// which host it is from.
func checkFleetStderr(t *testing.T, what, stderr, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if last := lines[len(lines)-1]; last != want {
		t.Errorf("%s: last line of stderr = %q, want %q", what, last, want)
	}
	for _, line := range lines[:len(lines)-1] {
		if len(line) < 5 || line[0] != 'h' || line[3:5] != ": " {
			t.Errorf("%s: stderr line %q does not start with the host's name", what, line)
		}
	}
}

// oneFileRecipe writes a recipe that puts one file, and returns it.
func oneFileRecipe(t *testing.T, path, content string) string {
	t.Helper()
	recipe := filepath.Join(t.TempDir(), "recipe.star")
	writeFile(t, recipe, fmt.Sprintf("files.put(%q, content = %q)\n", path, content))
	return recipe
}

// TestSSHHostKeys: an unknown host key is refused unless
// --accept-new-host-key, which records it; a changed one is always
// refused, naming the known_hosts line; a refused host is not touched.
func TestSSHHostKeys(t *testing.T) {
	testhost.Skip(t)
	privateCache(t)
	h, sshd := sshHost(t)
	const path, content = "/etc/pibake-hostkeys", "reached\n"
	recipe := oneFileRecipe(t, path, content)
	target := []string{recipe, "--target", sshd.Alias, "--ssh-config", sshd.Config}
	untouched := func(what string) {
		t.Helper()
		if got, ok := readHostFile(t, h, path); ok {
			t.Errorf("%s: %s = %q on the host, want it absent: the host key was refused", what, path, got)
		}
	}

	writeFile(t, sshd.KnownHosts, "")
	code, stdout, stderr := pibakeSSH(t, "", append([]string{"plan"}, target...)...)
	if code != 1 || !strings.Contains(stderr, "host key") || !strings.Contains(stderr, "--accept-new-host-key") {
		t.Errorf("plan, host key unknown: exit %d, stderr %q; want 1 and a message about the host key and --accept-new-host-key\n%s", code, stderr, stdout)
	}
	code, stdout, stderr = pibakeSSH(t, "", append([]string{"apply"}, target...)...)
	if code != 1 || !strings.Contains(stderr, "host key") {
		t.Errorf("apply, host key unknown: exit %d, stderr %q; want 1 and a message about the host key\n%s", code, stderr, stdout)
	}
	untouched("apply, host key unknown")
	t.Logf("unknown host key: %s", stderr)

	code, stdout, stderr = pibakeSSH(t, "", append([]string{"apply", "--accept-new-host-key"}, target...)...)
	if code != 0 {
		t.Fatalf("apply --accept-new-host-key: exit %d\n%s%s", code, stdout, stderr)
	}
	if got, _ := readHostFile(t, h, path); got != content {
		t.Errorf("after apply --accept-new-host-key: %s = %q, want %q", path, got, content)
	}
	known, err := os.ReadFile(sshd.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	recorded := false
	for _, line := range strings.Split(strings.TrimSpace(sshd.HostKeysLine(t, sshd.Alias)), "\n") {
		key := strings.Fields(line)[2] // name type key: the key's base64
		recorded = recorded || strings.Contains(string(known), key)
	}
	if !recorded {
		t.Errorf("after apply --accept-new-host-key, %s = %q; want one of the host's keys in it", sshd.KnownHosts, known)
	}
	if code, stdout, stderr := pibakeSSH(t, "", append([]string{"plan"}, target...)...); code != 0 {
		t.Errorf("plan with the recorded key: exit %d, want 0\n%s%s", code, stdout, stderr)
	}

	// A reinstalled host (or a man in the middle): the key has changed.
	sshd.RegenerateHostKeys(t)
	if err := os.Remove(h.Path(path)); err != nil {
		t.Fatal(err)
	}
	for _, flags := range [][]string{nil, {"--accept-new-host-key"}} {
		args := append(append([]string{"apply"}, flags...), target...)
		code, stdout, stderr := pibakeSSH(t, "", args...)
		if code != 1 || !strings.Contains(stderr, "host key") || !strings.Contains(stderr, sshd.KnownHosts+":1") {
			t.Errorf("apply %v, host key changed: exit %d, stderr %q; want 1 and a message about the host key naming %s:1\n%s",
				flags, code, stderr, sshd.KnownHosts, stdout)
		}
		untouched(fmt.Sprintf("apply %v, host key changed", flags))
		t.Logf("changed host key %v: %s", flags, stderr)
	}
}

// TestSSHSudoPassword: a user whose sudo asks for a password needs
// --sudo-password, which reads it from stdin when there is no terminal;
// a wrong one is said to be wrong.
func TestSSHSudoPassword(t *testing.T) {
	testhost.Skip(t)
	privateCache(t)
	h, sshd := sshHost(t)
	sshd.RequireSudoPassword(t, "correct horse")
	const path, content = "/etc/pibake-sudo", "as root\n"
	recipe := oneFileRecipe(t, path, content)
	target := []string{recipe, "--target", "pi@" + sshd.Alias, "--ssh-config", sshd.Config}

	code, stdout, stderr := pibakeSSH(t, "", append([]string{"apply"}, target...)...)
	if code != 1 || !strings.Contains(stderr, "sudo needs a password") || !strings.Contains(stderr, "--sudo-password") {
		t.Errorf("apply without --sudo-password: exit %d, stderr %q; want 1 and a message that sudo needs a password, naming --sudo-password\n%s", code, stderr, stdout)
	}
	t.Logf("without --sudo-password: %s", stderr)

	code, stdout, stderr = pibakeSSH(t, "wrong horse\n", append([]string{"apply", "--sudo-password"}, target...)...)
	if code != 1 || !strings.Contains(stderr, "wrong password") {
		t.Errorf("apply --sudo-password (a wrong one): exit %d, stderr %q; want 1 and \"wrong password\"\n%s", code, stderr, stdout)
	}
	if got, ok := readHostFile(t, h, path); ok {
		t.Errorf("after the failed applies, %s = %q, want it absent", path, got)
	}
	t.Logf("wrong password: %s", stderr)

	code, stdout, stderr = pibakeSSH(t, "correct horse\n", append([]string{"apply", "--sudo-password"}, target...)...)
	if code != 0 {
		t.Fatalf("apply --sudo-password: exit %d\n%s%s", code, stdout, stderr)
	}
	if got, _ := readHostFile(t, h, path); got != content {
		t.Errorf("after apply --sudo-password: %s = %q, want %q", path, got, content)
	}
	if code, stdout, stderr := pibakeSSH(t, "correct horse\n", append([]string{"plan", "--sudo-password"}, target...)...); code != 0 {
		t.Errorf("plan --sudo-password after apply: exit %d, want 0\n%s%s", code, stdout, stderr)
	}
}

// TestSSHConnectionCut cuts the connection while apply uploads big
// files: apply fails naming the host and saying the connection was lost,
// no file is half-written, no temporary file is left next to them, and a
// new apply converges. Two cuts: the link goes (sshd dies, the Pi's shell
// lives on to see its input end), early in the upload; and the power
// goes (every process of the host killed at once, nothing can clean up),
// while a file is being written there.
func TestSSHConnectionCut(t *testing.T) {
	testhost.Skip(t)
	privateCache(t)
	dir := t.TempDir()
	var recipe strings.Builder
	want := map[string][]byte{}
	for i := range 4 {
		raw := make([]byte, 6<<20)
		rand.Read(raw)
		content := []byte(base64.StdEncoding.EncodeToString(raw))
		name := fmt.Sprintf("big%d", i)
		writeFile(t, filepath.Join(dir, name), string(content))
		want["/srv/"+name] = content
		fmt.Fprintf(&recipe, "files.put(%q, src = %q)\n", "/srv/"+name, name)
	}
	recipeFile := filepath.Join(dir, "cut.star")
	writeFile(t, recipeFile, recipe.String())

	for _, tc := range []struct {
		name string
		// cut cuts the connection; it is called 200 ms after apply
		// starts, or (whenWriting) once a file is being written on the
		// host.
		cut         func(*testing.T, *testhost.SSHD)
		whenWriting bool
	}{
		{name: "link", cut: func(t *testing.T, sshd *testhost.SSHD) { sshd.KillSSHD(t) }},
		{name: "power", cut: func(t *testing.T, sshd *testhost.SSHD) { sshd.Cut(t) }, whenWriting: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, sshd := sshHost(t)
			args := []string{recipeFile, "--target", "pi@" + sshd.Alias, "--ssh-config", sshd.Config}
			type result struct {
				code           int
				stdout, stderr string
			}
			done := make(chan result, 1)
			start := time.Now()
			go func() {
				var stdout, stderr bytes.Buffer
				code := run(context.Background(), append([]string{"apply"}, args...), strings.NewReader(""), &stdout, &stderr)
				done <- result{code, stdout.String(), stderr.String()}
			}()
			for deadline := start.Add(200 * time.Millisecond); ; time.Sleep(5 * time.Millisecond) {
				if tc.whenWriting {
					deadline = start.Add(5 * time.Second)
					if tmp, _ := filepath.Glob(h.Path("/srv/.pibake-*")); len(tmp) > 0 {
						break
					}
				}
				if time.Now().After(deadline) {
					break
				}
			}
			tc.cut(t, sshd)
			cutAt := time.Since(start)
			res := <-done
			t.Logf("cut after %v; apply ended %v after it started, exit %d:\n%s%s",
				cutAt.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), res.code, headLines(res.stdout, 6), res.stderr)
			output := res.stdout + res.stderr
			if res.code != 1 || !strings.Contains(output, sshd.Alias) || !strings.Contains(output, "connection lost") {
				t.Errorf("apply cut off: exit %d; want 1 and a message naming %s and saying the connection was lost", res.code, sshd.Alias)
			}
			sshd.WaitIdle(t)
			// The host's shell goes with its connection (sudo kills it),
			// with no chance to remove its temporary files: the next
			// apply must.
			checkWholeFiles(t, h, want, true, true)

			if code, stdout, stderr := pibakeSSH(t, "", append([]string{"apply"}, args...)...); code != 0 {
				t.Fatalf("apply after the cut: exit %d\n%s%s", code, stdout, stderr)
			}
			if code, stdout, stderr := pibakeSSH(t, "", append([]string{"plan"}, args...)...); code != 0 {
				t.Errorf("plan after the second apply: exit %d, want 0\n%s%s", code, stdout, stderr)
			}
			sshd.WaitIdle(t)
			// The next run removed what the cut one left.
			checkWholeFiles(t, h, want, false, false)
			for path := range want {
				if _, ok := readHostFile(t, h, path); !ok {
					t.Errorf("after the second apply, %s is absent", path)
				}
			}
		})
	}
}

// headLines is the first n lines of s.
func headLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = append(lines[:n], "...\n")
	}
	return strings.Join(lines, "")
}

// checkWholeFiles: each file is absent or whole, and no temporary file
// is left next to them (unless siblingsLeft), nor in /tmp (unless tmpLeft).
func checkWholeFiles(t *testing.T, h *testhost.Host, want map[string][]byte, siblingsLeft, tmpLeft bool) {
	t.Helper()
	for path, content := range want {
		got, ok := readHostFile(t, h, path)
		if ok && got != string(content) {
			t.Errorf("%s is half-written: %d of %d bytes", path, len(got), len(content))
		}
	}
	var left, tmp []string
	if !siblingsLeft {
		left, _ = filepath.Glob(h.Path("/srv/.pibake-*"))
	}
	if !tmpLeft {
		tmp, _ = filepath.Glob(h.Path("/tmp/.pibake*"))
	}
	if len(left)+len(tmp) > 0 {
		t.Errorf("temporary files left on the host: %v %v", left, tmp)
	}
}
