package ops_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/opstest"
)

var accountFiles = []struct {
	path   string
	fields int
}{{"/etc/passwd", 7}, {"/etc/shadow", 9}, {"/etc/group", 4}, {"/etc/gshadow", 4}}

func hash(s string) *string { return &s }

func TestUser(t *testing.T) {
	today := strconv.FormatInt(opstest.Now.Unix()/86400, 10)
	tests := []struct {
		name  string
		setup setup
		op    ops.User
		// want holds the entries expected after applying, by file; every
		// other line must stay byte for byte.
		want map[string][]string
		// changes are the planned file changes.
		changes []string
		after   map[string]string // path -> attrs
	}{{
		name: "new user when 1000 is taken, with a missing group",
		op: ops.User{
			Name: "bob", Groups: []string{"i2c", "gpio", "robots"}, Shell: "/bin/bash",
			SSHKeys: []string{"ssh-ed25519 AAAAC3Nza bob@laptop", " ssh-rsa AAAAB3Nza bob@old "}, Sudo: true,
		},
		want: map[string][]string{
			"/etc/passwd":  {"bob:x:1001:1001:,,,:/home/bob:/bin/bash"},
			"/etc/shadow":  {"bob:*:" + today + ":0:99999:7:::"},
			"/etc/group":   {"gpio:x:993:pi,bob", "i2c:x:994:pi,bob", "bob:x:1001:", "robots:x:996:bob"},
			"/etc/gshadow": {"gpio:!::pi,bob", "i2c:!::pi,bob", "bob:!::", "robots:!::bob"},
		},
		changes: []string{
			"write /etc/group (0644 0:0, 712 bytes) (creates system group robots (996))",
			"write /etc/gshadow (0640 0:42, 592 bytes)",
			"write /etc/passwd (0644 0:0, 1238 bytes)",
			"write /etc/shadow (0640 0:42, 683 bytes)",
			"mkdir /home/bob (0700 1001:1001)",
			"write /home/bob/.bash_logout (0644 1001:1001, 220 bytes)",
			"write /home/bob/.bashrc (0644 1001:1001, 3526 bytes)",
			"write /home/bob/.profile (0644 1001:1001, 807 bytes)",
			"mkdir /home/bob/.ssh (0700 1001:1001)",
			"write /home/bob/.ssh/authorized_keys (0600 1001:1001, 59 bytes)",
			"write /etc/sudoers.d/010_pibake-bob (0440 0:0, 28 bytes)",
		},
		after: map[string]string{
			"/home/bob": "dir 0700 1001:1001", "/home/bob/.profile": "0644 1001:1001",
			"/home/bob/.ssh": "dir 0700 1001:1001", "/home/bob/.ssh/authorized_keys": "0600 1001:1001",
			"/etc/sudoers.d/010_pibake-bob": "0440 0:0", "/etc/shadow": "0640 0:42", "/etc/gshadow": "0640 0:42",
		},
	}, {
		name: "existing user with other groups, shell and password",
		op:   ops.User{Name: "pi", Groups: []string{"video", "gpio", "docker"}, Shell: "/bin/zsh", PasswordHash: hash("$y$j9T$salt$hash")},
		want: map[string][]string{
			"/etc/passwd": {"pi:x:1000:1000:,,,:/home/pi:/bin/zsh"},
			"/etc/shadow": {"pi:$y$j9T$salt$hash:" + today + ":0:99999:7:::"},
			"/etc/group": {
				"adm:x:4:", "dialout:x:20:", "cdrom:x:24:", "sudo:x:27:", "audio:x:29:", "dip:x:30:",
				"plugdev:x:46:", "games:x:60:", "users:x:100:", "input:x:101:", "render:x:104:", "netdev:x:105:",
				"i2c:x:994:", "spi:x:995:", "docker:x:996:pi",
			},
			"/etc/gshadow": {
				"adm:!::", "dialout:!::", "cdrom:!::", "sudo:!::", "audio:!::", "dip:!::",
				"plugdev:!::", "games:!::", "users:!::", "input:!::", "render:!::", "netdev:!::",
				"i2c:!::", "spi:!::", "docker:!::pi",
			},
		},
		changes: []string{
			"write /etc/group (0644 0:0, 663 bytes) (creates system group docker (996))",
			"write /etc/gshadow (0640 0:42, 547 bytes)",
			"write /etc/passwd (0644 0:0, 1197 bytes)",
			"write /etc/shadow (0640 0:42, 673 bytes)",
		},
	}, {
		name: "existing user in state but for keys and sudo",
		setup: setup{
			mkdir("/home/pi/.ssh", 0o755, 1000, 1000),
			write("/home/pi/.ssh/authorized_keys", "ssh-ed25519 OLD\n", 0o644, 1000, 1000),
			write("/etc/sudoers.d/010_pibake-pi", "pi ALL=(ALL) NOPASSWD: ALL\n", 0o440, 0, 0),
		},
		op: ops.User{
			Name: "pi", Shell: "/bin/bash", SSHKeys: []string{"ssh-ed25519 NEW"},
			Groups: []string{"adm", "dialout", "cdrom", "sudo", "audio", "video", "plugdev", "games", "users", "input", "render", "netdev", "gpio", "i2c", "spi", "dip"},
		},
		changes: []string{
			"set /home/pi/.ssh to 0700 1000:1000",
			"write /home/pi/.ssh/authorized_keys (0600 1000:1000, 16 bytes)",
			"remove /etc/sudoers.d/010_pibake-pi",
		},
		after: map[string]string{"/etc/sudoers.d/010_pibake-pi": "missing", "/etc/sudoers.d/010_pi-nopasswd": "0440 0:0"},
	}, {
		name:  "no keys empties an existing authorized_keys",
		setup: setup{mkdir("/home/pi/.ssh", 0o700, 1000, 1000), write("/home/pi/.ssh/authorized_keys", "ssh-ed25519 OLD\n", 0o600, 1000, 1000)},
		op: ops.User{
			Name:   "pi",
			Groups: []string{"adm", "dialout", "cdrom", "sudo", "audio", "video", "plugdev", "games", "users", "input", "render", "netdev", "gpio", "i2c", "spi", "dip"},
		},
		changes: []string{"write /home/pi/.ssh/authorized_keys (0600 1000:1000, 0 bytes)"},
	}, {
		name: "new user with a given uid, home and hash; its group exists already",
		setup: setup{
			write("/etc/group", readFixture(t, "etc/group")+"robot:x:2000:\n", 0o644, 0, 0),
			write("/etc/gshadow", readFixture(t, "etc/gshadow")+"robot:!::\n", 0o640, 0, 42),
			mkdir("/etc/skel/.config", 0o755, 0, 0),
			write("/etc/skel/.config/app.conf.dpkg-old", "old", 0o644, 0, 0),
		},
		op: ops.User{Name: "robot", UID: 1500, Home: "/opt/robot", Shell: "/usr/sbin/nologin", PasswordHash: hash("!")},
		want: map[string][]string{
			"/etc/passwd":  {"robot:x:1500:2000:,,,:/opt/robot:/usr/sbin/nologin"},
			"/etc/shadow":  {"robot:!:" + today + ":0:99999:7:::"},
			"/etc/group":   {},
			"/etc/gshadow": {},
		},
		after: map[string]string{"/opt/robot": "dir 0700 1500:2000", "/opt/robot/.config": "dir 0755 1500:2000", "/opt/robot/.config/app.conf.dpkg-old": "missing"},
	}, {
		name: "home that exists is left alone",
		setup: setup{
			mkdir("/home/carol", 0o755, 0, 0),
			write("/etc/adduser.conf", "DIR_MODE=0750\n", 0o644, 0, 0),
		},
		op: ops.User{Name: "carol"},
		want: map[string][]string{
			"/etc/passwd": {"carol:x:1001:1001:,,,:/home/carol:/bin/bash"},
			"/etc/shadow": {"carol:*:" + today + ":0:99999:7:::"}, "/etc/group": {"carol:x:1001:"}, "/etc/gshadow": {"carol:!::"},
		},
		after: map[string]string{"/home/carol": "dir 0755 0:0", "/home/carol/.profile": "missing"},
	}, {
		name: "adduser.conf DIR_MODE and a gid taken by another group",
		setup: setup{write("/etc/adduser.conf", "DIR_MODE=\"0750\"\n", 0o644, 0, 0), write("/etc/group", readFixture(t, "etc/group")+"media:x:1001:\n", 0o644, 0, 0),
			write("/etc/gshadow", readFixture(t, "etc/gshadow")+"media:!::\n", 0o640, 0, 42),
		},
		op: ops.User{Name: "dave"},
		want: map[string][]string{
			"/etc/passwd": {"dave:x:1001:1002:,,,:/home/dave:/bin/bash"},
			"/etc/shadow": {"dave:*:" + today + ":0:99999:7:::"}, "/etc/group": {"dave:x:1002:"}, "/etc/gshadow": {"dave:!::"},
		},
		after: map[string]string{"/home/dave": "dir 0750 1001:1002"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, dir := opstest.Root(t)
			tt.setup.apply(t, sys)
			before := map[string]string{}
			for _, f := range accountFiles {
				before[f.path] = readFile(t, sys, f.path)
			}
			op := tt.op
			changes := opstest.Converge(t, opstest.Env(sys), &op)
			if tt.changes != nil {
				if diff := cmp.Diff(tt.changes, opstest.Files(changes)); diff != "" {
					t.Errorf("Plan() changes (-want +got):\n%s", diff)
				}
			}
			for _, c := range changes {
				if (c.Path == "/etc/shadow" || c.Path == "/etc/gshadow") != c.Sensitive {
					t.Errorf("%s: Sensitive = %v", c, c.Sensitive)
				}
			}
			for _, f := range accountFiles {
				after := readFile(t, sys, f.path)
				checkAccountFile(t, f.path, f.fields, after)
				checkEdited(t, f.path, before[f.path], after, tt.want[f.path])
			}
			checkGroupsMatch(t, readFile(t, sys, "/etc/group"), readFile(t, sys, "/etc/gshadow"))
			for p, want := range tt.after {
				if got := attrs(t, sys, p); got != want {
					t.Errorf("after apply, %s is %s, want %s", p, got, want)
				}
			}
			if op.Sudo {
				if got, want := readFile(t, sys, ops.SudoersFile(op.Name)), op.Name+" ALL=(ALL) NOPASSWD: ALL\n"; got != want {
					t.Errorf("sudoers file = %q, want %q", got, want)
				}
			}
			if len(op.SSHKeys) > 0 {
				var want string
				for _, k := range op.SSHKeys {
					want += strings.TrimSpace(k) + "\n"
				}
				if got := readFile(t, sys, "/home/"+op.Name+"/.ssh/authorized_keys"); got != want {
					t.Errorf("authorized_keys = %q, want %q", got, want)
				}
			}
			judgeWithShadowTools(t, dir)
		})
	}
}

func readFixture(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(opstest.Testdata() + "/rootfs/" + p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkAccountFile checks that every line of an account database is an
// entry with the right number of fields, a unique name and a numeric id.
func checkAccountFile(t *testing.T, p string, fields int, content string) {
	t.Helper()
	if !strings.HasSuffix(content, "\n") {
		t.Errorf("%s does not end with a newline", p)
	}
	names := map[string]bool{}
	for i, l := range strings.Split(strings.TrimSuffix(content, "\n"), "\n") {
		f := strings.Split(l, ":")
		if len(f) != fields {
			t.Errorf("%s:%d: %q has %d fields, want %d", p, i+1, l, len(f), fields)
			continue
		}
		if names[f[0]] {
			t.Errorf("%s:%d: %s listed twice", p, i+1, f[0])
		}
		names[f[0]] = true
		if p == "/etc/passwd" || p == "/etc/group" {
			if _, err := strconv.Atoi(f[2]); err != nil {
				t.Errorf("%s:%d: bad id %q", p, i+1, f[2])
			}
		}
		if p == "/etc/group" || p == "/etc/gshadow" {
			for _, m := range strings.Split(f[3], ",") {
				if m == "" && f[3] != "" {
					t.Errorf("%s:%d: empty member in %q", p, i+1, f[3])
				}
			}
		}
	}
}

// checkEdited checks that after is before with the entries in want
// replaced or added, and every other line byte for byte as it was.
func checkEdited(t *testing.T, p, before, after string, want []string) {
	t.Helper()
	name := func(l string) string { n, _, _ := strings.Cut(l, ":"); return n }
	wanted := map[string]string{}
	for _, w := range want {
		wanted[name(w)] = w
	}
	var expected []string
	for _, l := range strings.Split(strings.TrimSuffix(before, "\n"), "\n") {
		if w, ok := wanted[name(l)]; ok {
			l = w
			delete(wanted, name(l))
		}
		expected = append(expected, l)
	}
	for _, w := range want { // new entries, appended in order
		if _, ok := wanted[name(w)]; ok {
			expected = append(expected, w)
		}
	}
	got := strings.Split(strings.TrimSuffix(after, "\n"), "\n")
	// New entries may come in any order; edited lines must stay in place.
	n := len(strings.Split(strings.TrimSuffix(before, "\n"), "\n"))
	if len(got) >= n && len(expected) >= n {
		slices.Sort(got[n:])
		slices.Sort(expected[n:])
	}
	if diff := cmp.Diff(expected, got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", p, diff)
	}
}

// checkGroupsMatch checks that /etc/group and /etc/gshadow list the same
// groups with the same members.
func checkGroupsMatch(t *testing.T, group, gshadow string) {
	t.Helper()
	members := func(content string) map[string]string {
		m := map[string]string{}
		for _, l := range strings.Split(strings.TrimSuffix(content, "\n"), "\n") {
			f := strings.Split(l, ":")
			m[f[0]] = f[len(f)-1]
		}
		return m
	}
	if diff := cmp.Diff(members(group), members(gshadow)); diff != "" {
		t.Errorf("/etc/group and /etc/gshadow members differ (-group +gshadow):\n%s", diff)
	}
}

// judgeWithShadowTools runs the real pwck and grpck (read-only) over the
// root. pwck also reports shells and homes missing from a fixture that has
// no programs; those are not about the files pibake writes.
func judgeWithShadowTools(t *testing.T, root string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Log("pwck/grpck -R need root (they chroot); not judged")
		return
	}
	for _, tool := range []string{"pwck", "grpck"} {
		bin, err := exec.LookPath(tool)
		if err != nil {
			for _, dir := range []string{"/usr/sbin", "/sbin"} {
				if _, err := os.Stat(dir + "/" + tool); err == nil {
					bin = dir + "/" + tool
				}
			}
		}
		if bin == "" {
			t.Logf("%s is not installed (Debian package passwd); not judged", tool)
			continue
		}
		out, err := exec.Command(bin, "-r", "-R", root).CombinedOutput()
		var complaints []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l == "" || strings.HasSuffix(l, ": no changes") ||
				(tool == "pwck" && strings.HasSuffix(l, "' does not exist") &&
					(strings.Contains(l, "': program '") || strings.Contains(l, "': directory '"))) {
				continue
			}
			complaints = append(complaints, l)
		}
		if len(complaints) > 0 {
			t.Errorf("%s -r -R %s: %v:\n%s", tool, root, err, strings.Join(complaints, "\n"))
		}
		if tool == "grpck" && err != nil {
			t.Errorf("grpck -r -R %s: %v\n%s", root, err, out)
		}
	}
}

func TestUserErrors(t *testing.T) {
	tests := []struct {
		op   ops.User
		want string
	}{
		{ops.User{Name: "Bob"}, `name: "Bob" is not a user name`},
		{ops.User{Name: "1bob"}, "is not a user name"},
		{ops.User{Name: strings.Repeat("a", 33)}, "is not a user name"},
		{ops.User{Name: "bob", Groups: []string{"Robots"}}, `groups: "Robots" is not a group name`},
		{ops.User{Name: "bob", Groups: []string{"gpio", "gpio"}}, "groups: gpio is listed twice"},
		{ops.User{Name: "bob", Shell: "bash"}, `shell: want an absolute path, got "bash"`},
		{ops.User{Name: "bob", Home: "/home/bob/"}, `home: want an absolute, clean path other than /, got "/home/bob/"`},
		{ops.User{Name: "bob", PasswordHash: hash("")}, "password_hash: want a crypt(3) hash"},
		{ops.User{Name: "bob", PasswordHash: hash("a:b")}, "password_hash: want a crypt(3) hash"},
		{ops.User{Name: "bob", SSHKeys: []string{"ssh-ed25519 A\nssh-rsa B"}}, "ssh_keys[0]: want one key on one line"},
		{ops.User{Name: "bob", UID: 1000}, "user bob: uid 1000 is taken by pi"},
		{ops.User{Name: "pi", UID: 1001}, "user pi exists with uid 1000, not 1001; pibake does not renumber users"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			sys, _ := opstest.Root(t)
			changes, err := ops.Plan(context.Background(), opstest.Env(sys), &tt.op)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Plan(%+v) = %v, %v; want error containing %q", tt.op, opstest.Files(changes), err, tt.want)
			}
		})
	}
}

// TestUserThenFiles is a user made and then used as an owner: the second
// op resolves the new name through the target's /etc/passwd.
func TestUserThenFiles(t *testing.T) {
	sys, _ := opstest.Root(t)
	env := opstest.Env(sys)
	opstest.Converge(t, env, &ops.User{Name: "robot", Groups: []string{"robots"}})
	changes := opstest.Converge(t, env, &ops.FileDirectory{Path: "/srv/robot", Mode: 0o750, Owner: "robot", Group: "robots"})
	if diff := cmp.Diff([]string{"mkdir /srv (0755 0:0)", "mkdir /srv/robot (0750 1001:996)"}, opstest.Files(changes)); diff != "" {
		t.Errorf("Plan() changes (-want +got):\n%s", diff)
	}
}
