package ops_test

import (
	"context"
	"os"
	"path"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/opstest"
)

// A setup prepares the root before an op is planned, through the target
// itself so that owners are kept the way the target keeps them.
type setup []*ops.Change

func (s setup) apply(t *testing.T, sys ops.System) {
	t.Helper()
	for _, c := range s {
		if err := sys.Apply(context.Background(), c); err != nil {
			t.Fatalf("setup: %s: %v", c, err)
		}
	}
}

func write(p, content string, mode ops.Mode, uid, gid int) *ops.Change {
	return &ops.Change{Kind: ops.Write, Path: p, Content: []byte(content), Mode: mode, UID: uid, GID: gid}
}

func mkdir(p string, mode ops.Mode, uid, gid int) *ops.Change {
	return &ops.Change{Kind: ops.Mkdir, Path: p, Mode: mode, UID: uid, GID: gid}
}

func symlink(p, target string) *ops.Change {
	return &ops.Change{Kind: ops.Symlink, Path: p, Target: target}
}

// readFile reads a target file from the root directory.
func readFile(t *testing.T, sys ops.System, p string) string {
	t.Helper()
	b, err := sys.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// attrs describes p as "0644 0:0", or "link TARGET 0:0", or "missing".
func attrs(t *testing.T, sys ops.System, p string) string {
	t.Helper()
	fi, err := sys.Lstat(p)
	if os.IsNotExist(err) {
		return "missing"
	}
	if err != nil {
		t.Fatal(err)
	}
	owner := strconv.Itoa(fi.UID) + ":" + strconv.Itoa(fi.GID)
	switch {
	case fi.IsSymlink():
		return "link " + fi.Target + " " + owner
	case fi.IsDir():
		return "dir " + ops.ModeOf(fi.Mode).String() + " " + owner
	}
	return ops.ModeOf(fi.Mode).String() + " " + owner
}

func TestFilePutDirectoryLinkAbsent(t *testing.T) {
	tests := []struct {
		name  string
		setup setup
		op    ops.Op
		want  []string // planned file changes
		after map[string]string
	}{{
		name:  "new file with missing parents",
		op:    &ops.FilePut{Path: "/opt/robot/etc/robot.conf", Content: ops.Data("speed=1\n"), Mode: 0o640, Owner: "pi", Group: "gpio"},
		want:  []string{"mkdir /opt (0755 0:0)", "mkdir /opt/robot (0755 0:0)", "mkdir /opt/robot/etc (0755 0:0)", "write /opt/robot/etc/robot.conf (0640 1000:993, 8 bytes)"},
		after: map[string]string{"/opt/robot/etc/robot.conf": "0640 1000:993", "/opt": "dir 0755 0:0"},
	}, {
		name:  "same content, other mode and owner",
		setup: setup{write("/etc/robot.conf", "speed=1\n", 0o600, 1000, 1000)},
		op:    &ops.FilePut{Path: "/etc/robot.conf", Content: ops.Data("speed=1\n"), Mode: 0o644},
		want:  []string{"set /etc/robot.conf to 0644 0:0"},
		after: map[string]string{"/etc/robot.conf": "0644 0:0"},
	}, {
		name:  "in state",
		setup: setup{write("/etc/robot.conf", "speed=1\n", 0o644, 0, 0)},
		op:    &ops.FilePut{Path: "/etc/robot.conf", Content: ops.Data("speed=1\n"), Mode: 0o644, Owner: "root", Group: "0"},
	}, {
		name:  "a symbolic link is replaced, not followed",
		setup: setup{write("/etc/real.conf", "old\n", 0o644, 0, 0), symlink("/etc/robot.conf", "real.conf")},
		op:    &ops.FilePut{Path: "/etc/robot.conf", Content: ops.Data("new\n"), Mode: 0o644},
		want:  []string{"write /etc/robot.conf (0644 0:0, 4 bytes)"},
		after: map[string]string{"/etc/robot.conf": "0644 0:0", "/etc/real.conf": "0644 0:0"},
	}, {
		name:  "directory",
		op:    &ops.FileDirectory{Path: "/srv/robot/logs", Mode: 0o2775, Owner: "pi", Group: "pi"},
		want:  []string{"mkdir /srv (0755 0:0)", "mkdir /srv/robot (0755 0:0)", "mkdir /srv/robot/logs (2775 1000:1000)"},
		after: map[string]string{"/srv/robot/logs": "dir 2775 1000:1000"},
	}, {
		name:  "directory with other mode",
		op:    &ops.FileDirectory{Path: "/home/pi", Mode: 0o750, Owner: "pi", Group: "pi"},
		want:  []string{"set /home/pi to 0750 1000:1000"},
		after: map[string]string{"/home/pi": "dir 0750 1000:1000"},
	}, {
		name:  "link",
		op:    &ops.FileLink{Path: "/usr/local/bin/robot", Target: "/opt/robot/bin/robot"},
		want:  []string{"mkdir /usr/local (0755 0:0)", "mkdir /usr/local/bin (0755 0:0)", "link /usr/local/bin/robot -> /opt/robot/bin/robot"},
		after: map[string]string{"/usr/local/bin/robot": "link /opt/robot/bin/robot 0:0"},
	}, {
		name:  "link with other target",
		op:    &ops.FileLink{Path: "/etc/localtime", Target: "/usr/share/zoneinfo/Europe/London"},
		want:  []string{"link /etc/localtime -> /usr/share/zoneinfo/Europe/London"},
		after: map[string]string{"/etc/localtime": "link /usr/share/zoneinfo/Europe/London 0:0"},
	}, {
		name:  "absent tree",
		op:    &ops.FileAbsent{Path: "/home/pi"},
		want:  []string{"remove /home/pi"},
		after: map[string]string{"/home/pi": "missing", "/home": "dir 0755 0:0"},
	}, {
		name: "absent already",
		op:   &ops.FileAbsent{Path: "/etc/nothing"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, _ := opstest.Root(t)
			tt.setup.apply(t, sys)
			env := opstest.Env(sys)
			got := opstest.Files(opstest.Converge(t, env, tt.op))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Plan() changes (-want +got):\n%s", diff)
			}
			for p, want := range tt.after {
				if got := attrs(t, sys, p); got != want {
					t.Errorf("after apply, %s is %s, want %s", p, got, want)
				}
			}
		})
	}
}

func TestFileOpErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup setup
		op    ops.Op
		want  string // in the error
	}{
		{"relative path", nil, &ops.FilePut{Path: "etc/x", Mode: 0o644}, `path: want an absolute path, got "etc/x"`},
		{"unclean path", nil, &ops.FileDirectory{Path: "/etc/../x", Mode: 0o755}, `path: want a clean path such as "/x", got "/etc/../x"`},
		{"unknown owner", nil, &ops.FilePut{Path: "/etc/x", Mode: 0o644, Owner: "robot"}, `/etc/x: user "robot" does not exist`},
		{"unknown group", nil, &ops.FileDirectory{Path: "/srv", Mode: 0o755, Group: "robots"}, `group "robots" does not exist`},
		{"file over a directory", nil, &ops.FilePut{Path: "/etc/skel", Mode: 0o644}, "/etc/skel is a directory"},
		{"link over a file", nil, &ops.FileLink{Path: "/etc/hostname", Target: "/x"}, "/etc/hostname exists and is not a symbolic link"},
		{"empty link target", nil, &ops.FileLink{Path: "/etc/x"}, "target: must not be empty"},
		{"remove root", nil, &ops.FileAbsent{Path: "/"}, "path: refusing to remove /"},
		{"line: bad regexp", nil, &ops.FileLine{Path: "/etc/hosts", Line: "x", Match: "([a-z]", Present: true}, "match: error parsing regexp: missing closing )"},
		{"line: newline", nil, &ops.FileLine{Path: "/etc/hosts", Line: "a\nb", Present: true}, `line: must be one line, got "a\nb"`},
		{"line: a directory", nil, &ops.FileLine{Path: "/etc/skel", Line: "x", Present: true}, "/etc/skel is not a regular file"},
		{"sync: entry escapes", nil, &ops.FileSync{Src: "site", Dest: "/srv/site", Files: []ops.SyncEntry{{Path: "../etc/passwd", Mode: 0o644}}}, `files: entry "../etc/passwd": want a clean relative path`},
		{"sync: absolute entry", nil, &ops.FileSync{Src: "site", Dest: "/srv/site", Files: []ops.SyncEntry{{Path: "/x", Mode: 0o644}}}, "want a clean relative path"},
		{"sync: orphan entry", nil, &ops.FileSync{Src: "site", Dest: "/srv/site", Files: []ops.SyncEntry{{Path: "a/b", Mode: 0o644}}}, `files: entry "a/b": its parent is not a directory`},
		{"sync: twice", nil, &ops.FileSync{Src: "site", Dest: "/srv/site", Files: []ops.SyncEntry{{Path: "a", Mode: 0o644}, {Path: "a", Mode: 0o644}}}, "listed twice"},
		{"sync: dest is a file", nil, &ops.FileSync{Src: "site", Dest: "/etc/hostname"}, "/etc/hostname exists and is not a directory"},
		{"sync: unknown owner", nil, &ops.FileSync{Src: "site", Dest: "/srv/site", Owner: "robot"}, `/srv/site: user "robot" does not exist`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, _ := opstest.Root(t)
			tt.setup.apply(t, sys)
			changes, err := ops.Plan(context.Background(), opstest.Env(sys), tt.op)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Plan() = %v, %v; want error containing %q", opstest.Files(changes), err, tt.want)
			}
		})
	}
}

func TestFileLine(t *testing.T) {
	tests := []struct {
		name    string
		content string // "" with missing: no file
		missing bool
		op      ops.FileLine
		want    string // content after
		wantNo  bool   // no change planned
	}{
		{name: "append", content: "a\nb\n", op: ops.FileLine{Line: "c", Present: true}, want: "a\nb\nc\n"},
		{name: "append to a file without a final newline", content: "a\nb", op: ops.FileLine{Line: "c", Present: true}, want: "a\nb\nc\n"},
		{name: "append to an empty file", content: "", op: ops.FileLine{Line: "c", Present: true}, want: "c\n"},
		{name: "present already", content: "a\nc\nb", op: ops.FileLine{Line: "c", Present: true}, wantNo: true},
		{name: "present twice stays twice", content: "c\na\nc\n", op: ops.FileLine{Line: "c", Present: true}, wantNo: true},
		{name: "absent removes every copy", content: "c\na\nc\nb\n", op: ops.FileLine{Line: "c"}, want: "a\nb\n"},
		{name: "absent, not a substring", content: "cc\nc \n", op: ops.FileLine{Line: "c"}, wantNo: true},
		{name: "absent last line without newline", content: "a\nc", op: ops.FileLine{Line: "c"}, want: "a\n"},
		{name: "missing file, present", missing: true, op: ops.FileLine{Line: "c", Present: true}, want: "c\n"},
		{name: "missing file, absent", missing: true, op: ops.FileLine{Line: "c"}, wantNo: true},
		{
			name: "match replaces the first, removes the others", content: "#PermitRootLogin yes\nX\nPermitRootLogin prohibit-password\n",
			op:   ops.FileLine{Line: "PermitRootLogin no", Match: `^#?PermitRootLogin\b`, Present: true},
			want: "PermitRootLogin no\nX\n",
		},
		{
			name: "match present twice, identical", content: "dtparam=i2c_arm=on\ndtparam=i2c_arm=on\n",
			op:   ops.FileLine{Line: "dtparam=i2c_arm=on", Match: `^dtparam=i2c_arm=`, Present: true},
			want: "dtparam=i2c_arm=on\n",
		},
		{
			name: "match in state", content: "a\nuart=1\nb",
			op: ops.FileLine{Line: "uart=1", Match: `^uart=`, Present: true}, wantNo: true,
		},
		{
			name: "match nothing appends", content: "a\n",
			op: ops.FileLine{Line: "uart=1", Match: `^uart=`, Present: true}, want: "a\nuart=1\n",
		},
		{
			name: "match keeps a missing final newline", content: "a\nuart=0",
			op: ops.FileLine{Line: "uart=1", Match: `^uart=`, Present: true}, want: "a\nuart=1",
		},
		{
			// The expression no longer matches once replaced: the line
			// itself counts as a match, so a second plan is empty.
			name: "line that match does not match converges", content: "old=1\n",
			op: ops.FileLine{Line: "new=1", Match: `^old=`, Present: true}, want: "new=1\n",
		},
		{
			name: "match absent removes all matches", content: "a\nuart=0\nb\nuart=1\n",
			op: ops.FileLine{Line: "ignored", Match: `^uart=`}, want: "a\nb\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, _ := opstest.Root(t)
			const p = "/etc/robot.conf"
			if !tt.missing {
				setup{write(p, tt.content, 0o600, 1000, 1000)}.apply(t, sys)
			}
			op := tt.op
			op.Path = p
			changes := opstest.Converge(t, opstest.Env(sys), &op)
			if tt.wantNo {
				if len(changes) != 0 {
					t.Errorf("Plan() = %v, want no changes", opstest.Files(changes))
				}
				return
			}
			if got := readFile(t, sys, p); got != tt.want {
				t.Errorf("after apply, content = %q, want %q", got, tt.want)
			}
			wantAttrs := "0600 1000:1000" // kept
			if tt.missing {
				wantAttrs = "0644 0:0"
			}
			if got := attrs(t, sys, p); got != wantAttrs {
				t.Errorf("after apply, %s is %s, want %s", p, got, wantAttrs)
			}
		})
	}
}

func TestFileLineFollowsLink(t *testing.T) {
	sys, _ := opstest.Root(t)
	setup{
		mkdir("/etc/robot", 0o755, 0, 0),
		write("/etc/robot/real.conf", "a\n", 0o640, 0, 993),
		symlink("/etc/robot.conf", "robot/real.conf"),
	}.apply(t, sys)
	op := &ops.FileLine{Path: "/etc/robot.conf", Line: "b", Present: true}
	got := opstest.Files(opstest.Converge(t, opstest.Env(sys), op))
	if diff := cmp.Diff([]string{"write /etc/robot/real.conf (0640 0:993, 4 bytes)"}, got); diff != "" {
		t.Errorf("Plan() changes (-want +got):\n%s", diff)
	}
	if got := attrs(t, sys, "/etc/robot.conf"); got != "link robot/real.conf 0:0" {
		t.Errorf("the link is now %s", got)
	}
}

func TestFileSync(t *testing.T) {
	site := []ops.SyncEntry{
		{Path: "index.html", Mode: 0o644, Content: ops.Data("<h1>robot</h1>\n")},
		{Path: "static", Dir: true, Mode: 0o755},
		{Path: "static/app.js", Mode: 0o644, Content: ops.Data("run()\n")},
		{Path: "static/img", Dir: true, Mode: 0o750},
		{Path: "static/img/logo.svg", Mode: 0o644, Content: ops.Data("<svg/>")},
		{Path: "bin", Dir: true, Mode: 0o755},
		{Path: "bin/serve", Mode: 0o755, Content: ops.Data("#!/bin/sh\n")},
		{Path: "current", Link: "static"},
	}
	tests := []struct {
		name   string
		setup  setup
		delete bool
		want   []string
		after  map[string]string
	}{{
		name: "fresh",
		want: []string{
			"mkdir /srv (0755 0:0)",
			"mkdir /srv/site (0755 1000:1000)",
			"mkdir /srv/site/bin (0755 1000:1000)",
			"write /srv/site/bin/serve (0755 1000:1000, 10 bytes)",
			"link /srv/site/current -> static",
			"write /srv/site/index.html (0644 1000:1000, 15 bytes)",
			"mkdir /srv/site/static (0755 1000:1000)",
			"write /srv/site/static/app.js (0644 1000:1000, 6 bytes)",
			"mkdir /srv/site/static/img (0750 1000:1000)",
			"write /srv/site/static/img/logo.svg (0644 1000:1000, 6 bytes)",
		},
		after: map[string]string{"/srv/site/current": "link static 1000:1000", "/srv/site/static/img": "dir 0750 1000:1000"},
	}, {
		name: "over a tree with other modes, types and extras; no delete",
		setup: setup{
			mkdir("/srv", 0o755, 0, 0), mkdir("/srv/site", 0o700, 0, 0),
			write("/srv/site/index.html", "<h1>robot</h1>\n", 0o600, 1000, 1000), // other mode
			write("/srv/site/bin", "not a dir", 0o644, 1000, 1000),               // file where a dir goes
			mkdir("/srv/site/current", 0o755, 1000, 1000),                        // dir where a link goes
			mkdir("/srv/site/static", 0o755, 1000, 1000),
			write("/srv/site/static/app.js", "run()\n", 0o644, 1000, 1000), // in state
			mkdir("/srv/site/static/old", 0o755, 1000, 1000),               // extra subtree
			write("/srv/site/static/old/x", "x", 0o644, 1000, 1000),
			write("/srv/site/notes.txt", "x", 0o644, 1000, 1000), // extra file
		},
		want: []string{
			"set /srv/site to 0755 1000:1000",
			"remove /srv/site/bin",
			"mkdir /srv/site/bin (0755 1000:1000)",
			"write /srv/site/bin/serve (0755 1000:1000, 10 bytes)",
			"remove /srv/site/current",
			"link /srv/site/current -> static",
			"set /srv/site/index.html to 0644 1000:1000",
			"mkdir /srv/site/static/img (0750 1000:1000)",
			"write /srv/site/static/img/logo.svg (0644 1000:1000, 6 bytes)",
		},
		after: map[string]string{"/srv/site/static/old/x": "0644 1000:1000", "/srv/site/notes.txt": "0644 1000:1000"},
	}, {
		name:   "delete removes extras, whole subtrees",
		delete: true,
		setup: setup{
			mkdir("/srv", 0o755, 0, 0), mkdir("/srv/site", 0o755, 1000, 1000),
			mkdir("/srv/site/static", 0o755, 1000, 1000),
			mkdir("/srv/site/static/old", 0o755, 1000, 1000),
			mkdir("/srv/site/static/old/deeper", 0o755, 1000, 1000),
			write("/srv/site/static/old/deeper/x", "x", 0o644, 1000, 1000),
			write("/srv/site/notes.txt", "x", 0o644, 1000, 1000),
			symlink("/srv/site/stale", "nowhere"),
		},
		want: []string{
			"remove /srv/site/notes.txt",
			"remove /srv/site/stale",
			"mkdir /srv/site/bin (0755 1000:1000)",
			"write /srv/site/bin/serve (0755 1000:1000, 10 bytes)",
			"link /srv/site/current -> static",
			"write /srv/site/index.html (0644 1000:1000, 15 bytes)",
			"remove /srv/site/static/old",
			"write /srv/site/static/app.js (0644 1000:1000, 6 bytes)",
			"mkdir /srv/site/static/img (0750 1000:1000)",
			"write /srv/site/static/img/logo.svg (0644 1000:1000, 6 bytes)",
		},
		after: map[string]string{"/srv/site/static/old": "missing", "/srv/site/notes.txt": "missing", "/srv/site/stale": "missing"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, _ := opstest.Root(t)
			tt.setup.apply(t, sys)
			op := &ops.FileSync{Src: "site", Dest: "/srv/site", Owner: "pi", Group: "pi", Delete: tt.delete, Files: site}
			changes := opstest.Converge(t, opstest.Env(sys), op)
			if diff := cmp.Diff(tt.want, opstest.Files(changes)); diff != "" {
				t.Errorf("Plan() changes (-want +got):\n%s", diff)
			}
			checkParentsFirst(t, changes)
			for p, want := range tt.after {
				if got := attrs(t, sys, p); got != want {
					t.Errorf("after apply, %s is %s, want %s", p, got, want)
				}
			}
			for _, e := range site {
				p := path.Join(op.Dest, e.Path)
				if e.Content != nil && readFile(t, sys, p) != string(e.Content) {
					t.Errorf("after apply, %s = %q, want %q", p, readFile(t, sys, p), e.Content)
				}
			}
		})
	}
}

// checkParentsFirst fails when a change comes after a change below it.
func checkParentsFirst(t *testing.T, changes []*ops.Change) {
	t.Helper()
	for i, c := range changes {
		for _, later := range changes[i+1:] {
			if later.Path != "" && strings.HasPrefix(c.Path, later.Path+"/") {
				t.Errorf("%s comes before %s", c, later)
			}
		}
	}
}
