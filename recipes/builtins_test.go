package recipes

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/ops"
)

// compileSource compiles src as recipe.star in a fresh directory that also
// holds files (name → content), from that directory, so that positions
// read "recipe.star:LINE:COL".
func compileSource(t *testing.T, src string, files map[string]string, opts Options) (*Recipe, error) {
	t.Helper()
	dir := t.TempDir()
	files = mapWith(files, "recipe.star", src)
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	return Load("recipe.star", opts)
}

func mapWith(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestBuiltins(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		files map[string]string
		want  ops.Op
	}{
		{
			name: "files.put defaults",
			src:  `files.put("/etc/motd", content="hello\n")`,
			want: &ops.FilePut{Path: "/etc/motd", Content: ops.Data("hello\n"), Mode: 0o644, Owner: "root", Group: "root"},
		},
		{
			name: "files.put all",
			src:  `files.put("/home/pi/run.sh", content="#!/bin/sh\n", mode="0750", owner="pi", group="gpio")`,
			want: &ops.FilePut{Path: "/home/pi/run.sh", Content: ops.Data("#!/bin/sh\n"), Mode: 0o750, Owner: "pi", Group: "gpio"},
		},
		{
			name:  "files.put src and int mode",
			src:   `files.put(path="/etc/robot.conf", src="conf/robot.conf", mode=0o600)`,
			files: map[string]string{"conf/robot.conf": "speed=3\n"},
			want:  &ops.FilePut{Path: "/etc/robot.conf", Content: ops.Data("speed=3\n"), Mode: 0o600, Owner: "root", Group: "root"},
		},
		{
			name:  "files.put src holding a secret marker by chance",
			src:   `files.put("/opt/font.bin", src="font.bin")`,
			files: map[string]string{"font.bin": "\x00\xee\x80\x80\xff"},
			want:  &ops.FilePut{Path: "/opt/font.bin", Content: ops.Data("\x00\xee\x80\x80\xff"), Mode: 0o644, Owner: "root", Group: "root"},
		},
		{
			name: "files.put empty content",
			src:  `files.put("/etc/empty", content="")`,
			want: &ops.FilePut{Path: "/etc/empty", Content: ops.Data{}, Mode: 0o644, Owner: "root", Group: "root"},
		},
		{
			name: "files.directory defaults",
			src:  `files.directory("/opt/robot")`,
			want: &ops.FileDirectory{Path: "/opt/robot", Mode: 0o755, Owner: "root", Group: "root"},
		},
		{
			name: "files.directory all",
			src:  `files.directory("/srv/drop", mode="1777", owner="pi", group="pi")`,
			want: &ops.FileDirectory{Path: "/srv/drop", Mode: 0o1777, Owner: "pi", Group: "pi"},
		},
		{
			name: "files.link",
			src:  `files.link("/etc/localtime", "/usr/share/zoneinfo/UTC")`,
			want: &ops.FileLink{Path: "/etc/localtime", Target: "/usr/share/zoneinfo/UTC"},
		},
		{
			name: "files.absent",
			src:  `files.absent("/etc/motd")`,
			want: &ops.FileAbsent{Path: "/etc/motd"},
		},
		{
			name: "files.line defaults",
			src:  `files.line("/etc/modules", "i2c-dev")`,
			want: &ops.FileLine{Path: "/etc/modules", Line: "i2c-dev", Present: true},
		},
		{
			name: "files.line all",
			src:  `files.line("/etc/ssh/sshd_config", "PermitRootLogin no", match="^#?PermitRootLogin", present=False)`,
			want: &ops.FileLine{Path: "/etc/ssh/sshd_config", Line: "PermitRootLogin no", Match: "^#?PermitRootLogin"},
		},
		{
			name:  "files.sync defaults",
			src:   `files.sync("www", "/var/www")`,
			files: map[string]string{"www/index.html": "<h1>robot</h1>"},
			want: &ops.FileSync{Src: "www", Dest: "/var/www", Owner: "root", Group: "root", Files: []ops.SyncEntry{
				{Path: "index.html", Mode: 0o644, Content: ops.Data("<h1>robot</h1>")},
			}},
		},
		{
			name:  "files.sync all",
			src:   `files.sync("www", "/var/www", owner="www-data", group="www-data", delete=True, exclude=["*.bak"])`,
			files: map[string]string{"www/index.html": "hi", "www/old.bak": "x"},
			want: &ops.FileSync{Src: "www", Dest: "/var/www", Owner: "www-data", Group: "www-data", Delete: true, Files: []ops.SyncEntry{
				{Path: "index.html", Mode: 0o644, Content: ops.Data("hi")},
			}},
		},
		{
			name: "server.hostname",
			src:  `server.hostname("robot-1")`,
			want: &ops.Hostname{Name: "robot-1"},
		},
		{
			name: "server.user defaults",
			src:  `server.user("robot")`,
			want: &ops.User{Name: "robot", Groups: []string{}, Shell: "/bin/bash", SSHKeys: []string{}},
		},
		{
			name: "server.user all",
			src: `server.user("robot", uid=1001, groups=["gpio", "i2c"], shell="/bin/zsh", home="/srv/robot",
    password_hash="$6$salt$hash", ssh_keys=["ssh-ed25519 AAAA robot@laptop"], sudo=True)`,
			want: &ops.User{
				Name: "robot", UID: 1001, Groups: []string{"gpio", "i2c"}, Shell: "/bin/zsh", Home: "/srv/robot",
				PasswordHash: ptr("$6$salt$hash"), SSHKeys: []string{"ssh-ed25519 AAAA robot@laptop"}, Sudo: true,
			},
		},
		{
			// A secret's value is unknown: a hash holds no ':', a
			// token does.
			name: "server.user secret hash",
			src:  `server.user("robot", password_hash=secret("HASH"))`,
			want: &ops.User{Name: "robot", Groups: []string{}, Shell: "/bin/bash", PasswordHash: ptr(token("HASH")), SSHKeys: []string{}},
		},
		{
			name: "server.timezone",
			src:  `server.timezone("Europe/London")`,
			want: &ops.Timezone{Name: "Europe/London"},
		},
		{
			name: "server.locale",
			src:  `server.locale("en_GB.UTF-8")`,
			want: &ops.Locale{Name: "en_GB.UTF-8"},
		},
		{
			name: "apt.packages one name",
			src:  `apt.packages("git")`,
			want: &ops.AptPackages{Names: []string{"git"}, Present: true},
		},
		{
			name: "apt.packages all",
			src:  `apt.packages(["python3-venv", "i2c-tools"], present=False, update=True)`,
			want: &ops.AptPackages{Names: []string{"python3-venv", "i2c-tools"}, Update: true},
		},
		{
			name: "pip.venv defaults",
			src:  `pip.venv("/opt/robot/venv")`,
			want: &ops.PipVenv{Path: "/opt/robot/venv", Packages: []string{}, Owner: "root"},
		},
		{
			name: "pip.venv all",
			src:  `pip.venv("/opt/robot/venv", packages=["gpiozero", "smbus2==0.5"], requirements="/opt/robot/req.txt", owner="robot")`,
			want: &ops.PipVenv{Path: "/opt/robot/venv", Packages: []string{"gpiozero", "smbus2==0.5"}, Requirements: "/opt/robot/req.txt", Owner: "robot"},
		},
		{
			name: "git.repo defaults",
			src:  `git.repo("https://example.com/robot.git", "/opt/robot/src")`,
			want: &ops.GitRepo{URL: "https://example.com/robot.git", Dest: "/opt/robot/src"},
		},
		{
			name: "git.repo all",
			src:  `git.repo("https://example.com/robot.git", "/opt/robot/src", rev="v1.2", owner="robot")`,
			want: &ops.GitRepo{URL: "https://example.com/robot.git", Dest: "/opt/robot/src", Rev: "v1.2", Owner: "robot"},
		},
		{
			name: "systemd.service defaults",
			src:  `systemd.service("ssh")`,
			want: &ops.SystemdService{Name: "ssh", Enabled: ptr(true)},
		},
		{
			name: "systemd.service all",
			src: `conf = files.put("/etc/robot.conf", content="")
venv = pip.venv("/opt/venv")
systemd.service("robot", unit=file("robot.service"), enabled=False, running=True, restart_on=[conf, venv, conf])`,
			files: map[string]string{"robot.service": "[Unit]\nDescription=robot\n"},
			want:  &ops.SystemdService{Name: "robot", Unit: ptr("[Unit]\nDescription=robot\n"), Enabled: ptr(false), Running: ptr(true), RestartOn: []string{"1", "2"}},
		},
		{
			name: "systemd.service None leaves state alone",
			src:  `systemd.service("robot", enabled=None, running=None, restart_on=files.absent("/x"))`,
			want: &ops.SystemdService{Name: "robot", RestartOn: []string{"1"}},
		},
		{
			name: "network.wifi",
			src:  `network.wifi("robots", "correct horse", "gb")`,
			want: &ops.Wifi{SSID: "robots", PSK: "correct horse", Country: "GB"},
		},
		{
			name: "network.wifi secret psk",
			src:  `network.wifi("robots", secret("PSK"), "GB")`,
			want: &ops.Wifi{SSID: "robots", PSK: token("PSK"), Country: "GB"},
		},
		{
			name: "network.wifi hidden",
			src:  `network.wifi(ssid="lab", psk="0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", country="DE", hidden=True)`,
			want: &ops.Wifi{SSID: "lab", PSK: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Country: "DE", Hidden: true},
		},
		{
			name: "firmware.i2c defaults",
			src:  `firmware.i2c()`,
			want: &ops.FirmwareI2C{Enabled: true},
		},
		{
			name: "firmware.i2c all",
			src:  `firmware.i2c(enabled=True, baudrate=400000)`,
			want: &ops.FirmwareI2C{Enabled: true, Baudrate: 400000},
		},
		{
			name: "firmware.spi",
			src:  `firmware.spi(False)`,
			want: &ops.FirmwareSPI{},
		},
		{
			name: "firmware.serial defaults",
			src:  `firmware.serial()`,
			want: &ops.FirmwareSerial{Enabled: true},
		},
		{
			name: "firmware.serial console",
			src:  `firmware.serial(console=False)`,
			want: &ops.FirmwareSerial{Enabled: true, Console: ptr(false)},
		},
		{
			name: "firmware.onewire",
			src:  `firmware.onewire(gpio=17)`,
			want: &ops.FirmwareOneWire{Enabled: true, GPIO: 17},
		},
		{
			name: "firmware.camera",
			src:  `firmware.camera(sensor="imx219")`,
			want: &ops.FirmwareCamera{Enabled: true, Sensor: "imx219"},
		},
		{
			name: "firmware.overlay defaults",
			src:  `firmware.overlay("disable-bt")`,
			want: &ops.FirmwareOverlay{Name: "disable-bt", Section: "all"},
		},
		{
			name: "firmware.overlay dict params",
			src:  `firmware.overlay("gpio-fan", params={"gpiopin": 14, "temp": "60000", "bare": True, "none": None, "off": False}, section="pi4")`,
			want: &ops.FirmwareOverlay{Name: "gpio-fan", Params: []string{"gpiopin=14", "temp=60000", "bare", "none", "off=off"}, Section: "pi4"},
		},
		{
			name: "firmware.overlay list params",
			src:  `firmware.overlay("i2c-rtc", ["ds3231", "wakeup-source"])`,
			want: &ops.FirmwareOverlay{Name: "i2c-rtc", Params: []string{"ds3231", "wakeup-source"}, Section: "all"},
		},
		{
			name: "firmware.overlay key",
			src:  `firmware.overlay("i2c-gpio", {"bus": 3, "i2c_gpio_sda": 4}, key=["bus"])`,
			want: &ops.FirmwareOverlay{Name: "i2c-gpio", Params: []string{"bus=3", "i2c_gpio_sda=4"}, Section: "all", Key: []string{"bus"}},
		},
		{
			// An empty key is the overlay's usual one, as in JSON.
			name: "firmware.overlay empty key",
			src:  `firmware.overlay("i2c-gpio", key=[])`,
			want: &ops.FirmwareOverlay{Name: "i2c-gpio", Section: "all"},
		},
		{
			name: "firmware.config string",
			src:  `firmware.config("gpu_mem", "128", section="pi3")`,
			want: &ops.FirmwareConfig{Name: "gpu_mem", Value: "128", Section: "pi3"},
		},
		{
			name: "firmware.config bool and int",
			src:  `firmware.config("arm_boost", True)` + "\n" + `firmware.config("over_voltage", -2)`,
			want: &ops.FirmwareConfig{Name: "arm_boost", Value: "1", Section: "all"},
		},
		{
			name: "firmware.config false",
			src:  `firmware.config("dtoverlay_auto", False)`,
			want: &ops.FirmwareConfig{Name: "dtoverlay_auto", Value: "0", Section: "all"},
		},
		{
			name: "firmware.cmdline",
			src:  `firmware.cmdline(add=["quiet", "cgroup_enable=memory"], remove=["splash"])`,
			want: &ops.FirmwareCmdline{Add: []string{"quiet", "cgroup_enable=memory"}, Remove: []string{"splash"}},
		},
		{
			name: "ssh.server defaults",
			src:  `ssh.server()`,
			want: &ops.SSHServer{Enabled: true},
		},
		{
			name: "ssh.server all",
			src:  `ssh.server(enabled=True, password_auth=False)`,
			want: &ops.SSHServer{Enabled: true, PasswordAuth: ptr(false)},
		},
		{
			name: "shell.run defaults",
			src:  `shell.run("raspi-config nonint do_vnc 0")`,
			want: &ops.ShellRun{Command: "raspi-config nonint do_vnc 0"},
		},
		{
			name: "shell.run all",
			src:  `shell.run("make install", creates="/usr/local/bin/robot", unless="robot --version", user="robot")`,
			want: &ops.ShellRun{Command: "make install", Creates: "/usr/local/bin/robot", Unless: "robot --version", User: "robot"},
		},
	}
	tested := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := compileSource(t, tt.src, tt.files, Options{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			kind := tt.want.Kind()
			tested[kind] = true
			i := slices.IndexFunc(r.Steps, func(s *ops.Step) bool { return s.Op.Kind() == kind })
			if i < 0 {
				t.Fatalf("no %s step in %v", kind, r.Steps)
			}
			if diff := cmp.Diff(tt.want, r.Steps[i].Op); diff != "" {
				t.Errorf("%s compiled to an unexpected op (-want +got):\n%s", tt.src, diff)
			}
		})
	}
	for _, kind := range ops.Kinds() {
		if !tested[kind] {
			t.Errorf("no test case for op kind %s", kind)
		}
	}
}

// TestEveryKindHasBuiltin fails when an op kind is registered in ops but
// recipes cannot make it, or a builtin makes an op of another kind.
func TestEveryKindHasBuiltin(t *testing.T) {
	builtins := map[string]*builtinSpec{}
	for _, spec := range catalogue {
		if builtins[spec.kind] != nil {
			t.Errorf("two builtins for %s", spec.kind)
		}
		builtins[spec.kind] = spec
	}
	for _, kind := range ops.Kinds() {
		if builtins[kind] == nil {
			t.Errorf("op kind %s has no builtin in recipes", kind)
		}
	}
	for kind := range builtins {
		if _, ok := ops.New(kind); !ok {
			t.Errorf("builtin %s makes an op kind that ops does not register", kind)
		}
		if !strings.Contains(kind, ".") {
			t.Errorf("builtin %s is not in a module", kind)
		}
	}
}

func TestStepIDsAndPositions(t *testing.T) {
	src := `a = files.directory("/opt/robot")
print(a)
if True:
    apt.packages("git")
[files.absent("/tmp/" + n) for n in ["a", "b"]]
`
	var printed []string
	r, err := compileSource(t, src, nil, Options{Print: func(s string) { printed = append(printed, s) }})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range r.Steps {
		got = append(got, s.ID+" "+s.Pos+" "+s.Op.Kind())
	}
	want := []string{
		"1 recipe.star:1:5 files.directory",
		"2 recipe.star:4:5 apt.packages",
		"3 recipe.star:5:2 files.absent",
		"4 recipe.star:5:2 files.absent",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"recipe.star:2:1: <files.directory #1>"}, printed); diff != "" {
		t.Errorf("printed (-want +got):\n%s", diff)
	}
}

func TestSyncTree(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "site")
	mustWrite := func(name, content string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(tree, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // beat the umask
			t.Fatal(err)
		}
	}
	mustWrite("bin/run", "#!/bin/sh\n", 0o755)
	mustWrite("index.html", "<p>hi</p>", 0o640)
	mustWrite("a-b", "", 0o644)
	mustWrite("cache/x.tmp", "junk", 0o644)
	mustWrite("notes.swp", "junk", 0o644)
	mustWrite("bin/blob", "\xff\x00\xee\x80\x80", 0o600)
	if err := os.Chmod(filepath.Join(tree, "bin"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("bin/run", filepath.Join(tree, "start")); err != nil {
		t.Fatal(err)
	}
	recipe := filepath.Join(dir, "recipe.star")
	src := `files.sync("site", "/srv/site", exclude=["*.swp", "cache"])`
	if err := os.WriteFile(recipe, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Load(recipe, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := &ops.FileSync{
		Src: filepath.ToSlash(filepath.Join(dir, "site")), Dest: "/srv/site", Owner: "root", Group: "root",
		Files: []ops.SyncEntry{
			{Path: "a-b", Mode: 0o644, Content: ops.Data{}},
			{Path: "bin", Mode: 0o750, Dir: true},
			{Path: "bin/blob", Mode: 0o600, Content: ops.Data("\xff\x00\xee\x80\x80")},
			{Path: "bin/run", Mode: 0o755, Content: ops.Data("#!/bin/sh\n")},
			{Path: "index.html", Mode: 0o640, Content: ops.Data("<p>hi</p>")},
			{Path: "start", Mode: 0o777, Link: "bin/run"},
		},
	}
	if diff := cmp.Diff(want, r.Steps[0].Op); diff != "" {
		t.Errorf("files.sync (-want +got):\n%s", diff)
	}
}

func TestNearest(t *testing.T) {
	tests := []struct {
		name       string
		candidates []string
		aliases    map[string]string
		want       string
	}{
		{"pt", []string{"put", "link", "line"}, nil, ` (did you mean "put"?)`},
		{"pakages", []string{"names", "present", "update"}, map[string]string{"packages": "names"}, ` (did you mean "names"?)`},
		{"password", []string{"name", "password_hash"}, map[string]string{"password": "password_hash"}, ` (did you mean "password_hash"?)`},
		{"ownr", []string{"owner", "group"}, nil, ` (did you mean "owner"?)`},
		{"zzzzzz", []string{"owner", "group"}, nil, ""},
		{"fiels", []string{"file", "files"}, nil, ` (did you mean "files"?)`},
	}
	for _, tt := range tests {
		if got := didYouMean(tt.name, tt.candidates, tt.aliases); got != tt.want {
			t.Errorf("didYouMean(%q, %q) = %q, want %q", tt.name, tt.candidates, got, tt.want)
		}
	}
}
