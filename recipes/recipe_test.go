package recipes

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/ops"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// robotOptions is the host the testdata/robot recipe is compiled for.
var robotOptions = Options{
	HostName: "robot-7",
	HostData: map[string]any{
		"wifi":     map[string]any{"ssid": "workshop"},
		"ssh_keys": []any{"ssh-ed25519 AAAAC3Nza robot@laptop"},
		"fan_gpio": float64(18),
	},
}

func stepSummaries(steps []*ops.Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.ID+" "+s.Pos+" "+s.Op.Kind())
	}
	return out
}

func TestLoadNested(t *testing.T) {
	r, err := Load("testdata/load/robot.star", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"1 testdata/load/lib/sub/more.star:1:1 files.directory",
		"2 testdata/load/lib/common.star:4:5 apt.packages",
		"3 testdata/load/robot.star:5:1 systemd.service",
		"4 testdata/load/lib/other.star:4:5 files.put",
	}
	if diff := cmp.Diff(want, stepSummaries(r.Steps)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	unit, err := os.ReadFile("testdata/load/lib/robot.service")
	if err != nil {
		t.Fatal(err)
	}
	if got := *r.Steps[2].Op.(*ops.SystemdService).Unit; got != string(unit) {
		t.Errorf("unit = %q, want lib/robot.service, read relative to lib/common.star: %q", got, unit)
	}
	if got := string(r.Steps[3].Op.(*ops.FilePut).Content); got != "loaded once" {
		t.Errorf("content = %q, want %q", got, "loaded once")
	}
	if r.Source != "testdata/load/robot.star" {
		t.Errorf("Source = %q", r.Source)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		path string
		want string
	}{
		{
			path: "testdata/cycle/a.star",
			want: "testdata/cycle/b.star:1:1: load: cycle: testdata/cycle/a.star -> testdata/cycle/b.star -> testdata/cycle/a.star",
		},
		{
			path: "testdata/missing/robot.star",
			want: "testdata/missing/lib/unit.star:2:12: file: cannot read testdata/missing/lib/robot.service: no such file or directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, err := Load(tt.path, Options{})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Load(%s) = %v, want %s", tt.path, err, tt.want)
			}
			var recipeErr *Error
			if !errors.As(err, &recipeErr) {
				t.Errorf("Load(%s) = %T, want *Error", tt.path, err)
			}
		})
	}
	if _, err := Load("testdata/nothere.star", Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing recipe) = %v, want a not-exist error", err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		files map[string]string
		want  string
	}{
		{
			name: "unknown argument",
			src:  `apt.packages(pakages=["git"])`,
			want: `recipe.star:1:1: apt.packages: unknown argument "pakages" (did you mean "names"?)`,
		},
		{
			name: "unknown argument, indented",
			src:  "if True:\n    apt.packages(pakages=[\"git\"])",
			want: `recipe.star:2:5: apt.packages: unknown argument "pakages" (did you mean "names"?)`,
		},
		{
			name: "unknown argument, nothing near",
			src:  `files.link("/a", "/b", colour="red")`,
			want: `recipe.star:1:1: files.link: unknown argument "colour"`,
		},
		{
			name: "module attribute",
			src:  `files.pt("/etc/motd", content="")`,
			want: `recipe.star:1:1: files.pt does not exist (did you mean "put"?)`,
		},
		{
			name: "module attribute alias",
			src:  `x = apt.install("git")`,
			want: `recipe.star:1:5: apt.install does not exist (did you mean "packages"?)`,
		},
		{
			name: "host attribute",
			src:  `server.hostname(host.nmae)`,
			want: `recipe.star:1:17: host.nmae does not exist (did you mean "name"?)`,
		},
		{
			name: "undefined name",
			src:  `fiels.put("/x", content="")`,
			want: `recipe.star:1:1: undefined: fiels (did you mean files?)`,
		},
		{
			name: "syntax error",
			src:  "files.put(\"/x\",\n  content=\"a\"",
			want: `recipe.star:2:14: got end of file, want ')'`,
		},
		{
			name: "missing argument",
			src:  `files.put(content="x")`,
			want: `recipe.star:1:1: files.put: missing argument "path"`,
		},
		{
			name: "missing arguments",
			src:  `network.wifi("lab")`,
			want: `recipe.star:1:1: network.wifi: missing arguments "psk", "country"`,
		},
		{
			name: "too many positional arguments",
			src:  `files.absent("/a", "/b")`,
			want: `recipe.star:1:1: files.absent: got 2 positional arguments, want at most 1`,
		},
		{
			name: "argument given twice",
			src:  `files.absent("/a", path="/b")`,
			want: `recipe.star:1:1: files.absent: got more than one value for argument "path"`,
		},
		{
			name: "mode type",
			src:  `files.put("/etc/motd", content="", mode=[6, 4, 4])`,
			want: `recipe.star:1:1: files.put: mode: want a string like "0644" or an int, got list`,
		},
		{
			name: "mode string",
			src:  `files.put("/etc/motd", content="", mode="rw-r--r--")`,
			want: `recipe.star:1:1: files.put: mode: invalid mode "rw-r--r--": want an octal number such as "0644"`,
		},
		{
			name: "mode in decimal",
			src:  `files.directory("/opt/x", mode=755)`,
			want: `recipe.star:1:1: files.directory: mode: 755 is decimal; write 0o755 or "0755"`,
		},
		{
			name: "required None",
			src:  `files.absent(None)`,
			want: `recipe.star:1:1: files.absent: path: want a string, got None`,
		},
		{
			name: "string type",
			src:  `server.hostname(7)`,
			want: `recipe.star:1:1: server.hostname: name: want a string, got int`,
		},
		{
			name: "list element type",
			src:  `server.user("robot", groups=["gpio", 7])`,
			want: `recipe.star:1:1: server.user: groups[1]: want a string, got int`,
		},
		{
			name: "bool type",
			src:  `apt.packages("git", update="yes")`,
			want: `recipe.star:1:1: apt.packages: update: want True or False, got string`,
		},
		{
			name: "relative path",
			src:  `files.put("etc/motd", content="")`,
			want: `recipe.star:1:1: files.put: path: want an absolute path, got "etc/motd"`,
		},
		{
			name: "content and src",
			src:  `files.put("/etc/motd", content="", src="motd")`,
			want: `recipe.star:1:1: files.put: give content or src, not both`,
		},
		{
			name: "neither content nor src",
			src:  `files.put("/etc/motd")`,
			want: `recipe.star:1:1: files.put: want content= or src=`,
		},
		{
			name: "src missing",
			src:  `files.put("/etc/motd", src="motd")`,
			want: `recipe.star:1:1: files.put: src: cannot read motd: no such file or directory`,
		},
		{
			name: "sync src missing",
			src:  `files.sync("www", "/var/www")`,
			want: `recipe.star:1:1: files.sync: src: cannot read www: no such file or directory`,
		},
		{
			name:  "sync src not a directory",
			src:   `files.sync("www", "/var/www")`,
			files: map[string]string{"www": "file"},
			want:  `recipe.star:1:1: files.sync: src: www is not a directory`,
		},
		{
			name:  "sync bad pattern",
			src:   `files.sync("www", "/var/www", exclude=["[a"])`,
			files: map[string]string{"www/x": ""},
			want:  `recipe.star:1:1: files.sync: exclude: bad pattern "[a"`,
		},
		{
			name: "file missing",
			src:  "\nunit = file(\"robot.service\")",
			want: `recipe.star:2:8: file: cannot read robot.service: no such file or directory`,
		},
		{
			name: "restart_on not a step",
			src:  `systemd.service("robot", restart_on=["/etc/robot.conf"])`,
			want: `recipe.star:1:1: systemd.service: restart_on[0]: want a step (the value that a builtin such as files.put returns), got string`,
		},
		{
			name: "restart_on not a list",
			src:  `systemd.service("robot", restart_on="robot.conf")`,
			want: `recipe.star:1:1: systemd.service: restart_on: want a list of steps (the values that builtins such as files.put return), got string`,
		},
		{
			name: "overlay param value",
			src:  `firmware.overlay("gpio-fan", params={"temp": 6.5})`,
			want: `recipe.star:1:1: firmware.overlay: params["temp"]: want a string, int, bool or None, got float`,
		},
		{
			name: "config section brackets",
			src:  `firmware.config("arm_boost", 1, section="[pi4]")`,
			want: `recipe.star:1:1: firmware.config: section: config.txt section "[pi4]": want a filter without brackets, such as "all", "pi4" or "gpio4=1"`,
		},
		{
			// The secret PSK is not judged, the country is.
			name: "wifi country",
			src:  `network.wifi("lab", secret("PSK"), "UK1")`,
			want: `recipe.star:1:1: network.wifi: country: want an ISO 3166 two-letter code in capitals, such as "GB" or "US", got "UK1"`,
		},
		{
			name: "wifi country upper-cased",
			src:  `network.wifi("lab", secret("PSK"), "uk")`,
			want: `recipe.star:1:1: network.wifi: country: want an ISO 3166 two-letter code in capitals, such as "GB" or "US", got "UK" (the United Kingdom is "GB")`,
		},
		{
			name: "wifi short psk",
			src:  `network.wifi("lab", "short", "GB")`,
			want: `recipe.star:1:1: network.wifi: psk: want a passphrase of 8 to 63 characters or 64 hex digits, got 5 characters`,
		},
		{
			name: "apt names with spaces",
			src:  `apt.packages("git vim")`,
			want: `recipe.star:1:1: apt.packages: names: "git vim" is not a package name (give several names as a list)`,
		},
		{
			name: "absent root",
			src:  `files.absent("/")`,
			want: `recipe.star:1:1: files.absent: path: refusing to remove /`,
		},
		{
			name: "gpio off the header",
			src:  `firmware.onewire(gpio=30)`,
			want: `recipe.star:1:1: firmware.onewire: gpio: 30 is not a GPIO pin on the 40-pin header (2–27)`,
		},
		{
			name: "int too large",
			src:  `firmware.i2c(baudrate=1 << 70)`,
			want: `recipe.star:1:1: firmware.i2c: baudrate: 1180591620717411303424 is too large`,
		},
		{
			name: "zero for unset",
			src:  `server.user("robot", uid=0)`,
			want: `recipe.star:1:1: server.user: uid: 0 would mean the default here; leave uid out (or None) for that`,
		},
		{
			name: "i2c baud rate",
			src:  `firmware.i2c(baudrate=5000000)`,
			want: `recipe.star:1:1: firmware.i2c: baudrate: 5000000 Hz is not an I2C clock the Pi makes: want 1000 to 3400000 (100000 is standard, 400000 fast mode)`,
		},
		{
			name: "unclean path",
			src:  `files.directory("/opt/robot/")`,
			want: `recipe.star:1:1: files.directory: path: want a clean path such as "/opt/robot", got "/opt/robot/"`,
		},
		{
			name: "secret in a checked argument",
			src:  `files.absent(secret("WHERE"))`,
			want: `recipe.star:1:1: files.absent: path: want an absolute path, got "<secret:WHERE>"`,
		},
		{
			name: "overlay key",
			src:  `firmware.overlay("i2c-gpio", {"bus": 3}, key=["bus=3"])`,
			want: `recipe.star:1:1: firmware.overlay: key: "bus=3" is not a parameter name`,
		},
		{
			name: "cmdline token with a space",
			src:  `firmware.cmdline(add=["quiet splash"])`,
			want: `recipe.star:1:1: firmware.cmdline: add: kernel parameter "quiet splash": no spaces or control characters allowed`,
		},
		{
			name: "fail",
			src:  "def check():\n    fail(\"no robot here\")\ncheck()",
			want: `recipe.star:2:5: fail: no robot here`,
		},
		{
			name: "runtime error",
			src:  `x = 1 + "a"`,
			want: `recipe.star:1:7: unknown binary op: int + string`,
		},
		{
			name: "secret bad name",
			src:  `secret("wifi psk")`,
			want: `recipe.star:1:1: secret: want a name of letters, digits and _ such as "WIFI_PSK", got "wifi psk"`,
		},
		{
			name: "secret sliced",
			src:  `files.put("/etc/psk", content=secret("PSK")[:4])`,
			want: `recipe.star:1:1: files.put: content: a secret was cut or changed (secrets can be concatenated and formatted with %s or format, not sliced, inspected or changed)`,
		},
		{
			name: "secret changed",
			src:  `server.user("robot", ssh_keys=["a", secret("KEY").upper()])`,
			want: `recipe.star:1:1: server.user: ssh_keys: a secret was cut or changed (secrets can be concatenated and formatted with %s or format, not sliced, inspected or changed)`,
		},
		{
			name: "secret in a message",
			src:  `fail("bad: " + secret("PSK"))`,
			want: `recipe.star:1:1: fail: bad: <secret:PSK>`,
		},
		{
			name: "load missing",
			src:  "\nload(\"lib/nothere.star\", \"x\")",
			want: `recipe.star:2:1: load: cannot read lib/nothere.star: no such file or directory`,
		},
		{
			name:  "load name missing",
			src:   `load("lib.star", "bse")`,
			files: map[string]string{"lib.star": "base = 1\n"},
			want:  `recipe.star:1:1: load: name bse not found in module lib.star (did you mean base?)`,
		},
		{
			name:  "error in loaded file",
			src:   `load("lib/base.star", "base")` + "\nbase()",
			files: map[string]string{"lib/base.star": "def base():\n    files.put(\"/x\", contnt=\"\")\n"},
			want:  `lib/base.star:2:5: files.put: unknown argument "contnt" (did you mean "content"?)`,
		},
		{
			// ops' Validate, reported where the call is, as the builtins'
			// own errors are.
			name:  "invalid argument in loaded file",
			src:   `load("lib/base.star", "base")` + "\nbase()",
			files: map[string]string{"lib/base.star": "def base():\n    x = 1\n    server.hostname(\"robot_1\")\n"},
			want:  `lib/base.star:3:5: server.hostname: name: "robot_1" is not a host name: label "robot_1": want 1 to 63 letters, digits and '-', not starting or ending with '-' (RFC 1123)`,
		},
		{
			name:  "syntax error in loaded file",
			src:   `load("lib/base.star", "base")`,
			files: map[string]string{"lib/base.star": "def base(:\n"},
			want:  `lib/base.star:1:11: got ':', want ')'`,
		},
		{
			name: "while is not allowed",
			src:  "def f():\n    while True:\n        pass\n",
			want: `recipe.star:2:5: this Starlark dialect does not support while loops`,
		},
		{
			name: "frozen host data",
			src:  `host.data["x"] = 1`,
			want: `recipe.star:1:10: cannot insert into frozen hash table`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileSource(t, tt.src, tt.files, Options{})
			if err == nil {
				t.Fatalf("Load(%q) succeeded, want error %s", tt.src, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Load(%q) error:\n got %s\nwant %s", tt.src, err, tt.want)
			}
		})
	}
}

func TestHost(t *testing.T) {
	src := `
files.put("/etc/host", content = "%s %r %s %r %r" % (
    host.name,
    host.data["pins"],
    host.data.get("missing", "default"),
    host.data["nested"]["ok"],
    [host.data["ratio"], host.data["none"]],
))
firmware.onewire(gpio = host.data["gpio"])
`
	opts := Options{HostName: "robot-3", HostData: map[string]any{
		"pins":   []any{float64(4), "x"},
		"nested": map[string]any{"ok": true},
		"ratio":  1.5,
		"none":   nil,
		"gpio":   float64(17),
	}}
	r, err := compileSource(t, src, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := `robot-3 [4, "x"] default True [1.5, None]`
	if got := string(r.Steps[0].Op.(*ops.FilePut).Content); got != want {
		t.Errorf("content = %q, want %q", got, want)
	}
	if got := r.Steps[1].Op.(*ops.FirmwareOneWire).GPIO; got != 17 {
		t.Errorf("gpio = %d, want 17", got)
	}

	r, err = compileSource(t, `server.hostname(host.name or "pi")`+"\nfiles.put(\"/n\", content=str(len(host.data)))", nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Steps[0].Op.(*ops.Hostname).Name; got != "pi" {
		t.Errorf("hostname without a host name = %q, want pi", got)
	}
	if got := string(r.Steps[1].Op.(*ops.FilePut).Content); got != "0" {
		t.Errorf("len(host.data) without data = %s, want 0", got)
	}
}

func TestRobotGolden(t *testing.T) {
	r, err := Load("testdata/robot/robot.star", robotOptions)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(r, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := "testdata/robot/robot.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got; go test -update to accept):\n%s", golden, diff)
	}
	if diff := cmp.Diff([]string{"API_TOKEN", "WIFI_PSK"}, r.Secrets); diff != "" {
		t.Errorf("Secrets (-want +got):\n%s", diff)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	compiled, err := Load("testdata/robot/robot.star", robotOptions)
	if err != nil {
		t.Fatal(err)
	}
	first, err := json.Marshal(compiled)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"pibake_recipe":1`, `{"base64":`, `secret:WIFI_PSK`} {
		if !bytes.Contains(first, []byte(want)) {
			t.Errorf("recipe JSON has no %s", want)
		}
	}
	var decoded Recipe
	if err := json.Unmarshal(first, &decoded); err != nil {
		t.Fatal(err)
	}
	second, err := json.Marshal(&decoded)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("JSON → Recipe → JSON changed it:\n%s\n%s", first, second)
	}
	logo, err := os.ReadFile("testdata/robot/logo.png")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range decoded.Steps {
		if put, ok := s.Op.(*ops.FilePut); ok && put.Path == "/opt/robot/logo.png" && !bytes.Equal(put.Content, logo) {
			t.Errorf("logo.png content after the round trip = %q, want %q", put.Content, logo)
		}
	}

	// Load reads compiled recipes too.
	path := filepath.Join(t.TempDir(), "robot.json")
	if err := os.WriteFile(path, first, 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	third, err := json.Marshal(loaded)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, third) {
		t.Errorf("Load(.json) → JSON changed it:\n%s\n%s", first, third)
	}
	if loaded.Source != "testdata/robot/robot.star" {
		t.Errorf("Source = %q, want the recipe it was compiled from", loaded.Source)
	}
}

func TestUnmarshalErrors(t *testing.T) {
	step := func(id, op, args string) string {
		return `{"id":"` + id + `","op":"` + op + `","args":` + args + `}`
	}
	recipe := func(steps ...string) string {
		return `{"pibake_recipe":1,"source":"r.star","secrets":[],"steps":[` + strings.Join(steps, ",") + `]}`
	}
	absent := `{"path":"/x"}`
	tests := []struct {
		name, json, want string
	}{
		{"not JSON", `[`, "unexpected end of JSON input"},
		{"not an object", `[]`, `not a pibake recipe: want {"pibake_recipe": 1, ...}`},
		{"no version", `{"steps":[]}`, `not a pibake recipe: no "pibake_recipe" version`},
		{"newer version", `{"pibake_recipe":2}`, "recipe format version 2 is not supported (this pibake reads version 1)"},
		{"unknown field", `{"pibake_recipe":1,"stepz":[]}`, `recipe: json: unknown field "stepz"`},
		{"unknown op", recipe(step("1", "files.teleport", absent)), `recipe: step 1: unknown op "files.teleport"`},
		{"unknown argument", recipe(step("1", "files.absent", `{"path":"/x","force":true}`)), `recipe: step 1 (files.absent): json: unknown field "force"`},
		{"null step", recipe("null"), "recipe: step 1 is empty"},
		{"duplicate id", recipe(step("1", "files.absent", absent), step("1", "files.absent", absent)), `recipe: step 2: missing or duplicate id "1"`},
		{"dangling restart_on", recipe(step("1", "systemd.service", `{"name":"x","restart_on":["2"]}`), step("2", "files.absent", absent)), `recipe: step 1 (systemd.service): restart_on "2" is not an earlier step`},
		{"invalid argument", recipe(step("1", "files.absent", absent), step("2", "firmware.onewire", `{"enabled":true,"gpio":30}`)), "recipe: step 2 (firmware.onewire): gpio: 30 is not a GPIO pin on the 40-pin header (2–27)"},
		{"invalid argument with a secret", recipe(step("1", "network.wifi", `{"ssid":"lab","psk":"\ue000secret:PSK\ue001","country":"gb","hidden":false}`)), `recipe: step 1 (network.wifi): country: want an ISO 3166 two-letter code in capitals, such as "GB" or "US", got "gb" (write "GB")`},
		{"unsorted secrets", `{"pibake_recipe":1,"secrets":["B","A"],"steps":[]}`, "recipe: secrets are not sorted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Recipe
			err := json.Unmarshal([]byte(tt.json), &r)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Unmarshal(%s) = %v, want %s", tt.json, err, tt.want)
			}
		})
	}
}

func TestMarshalEmpty(t *testing.T) {
	got, err := json.Marshal(&Recipe{Source: "empty.star"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"pibake_recipe":1,"source":"empty.star","secrets":[],"steps":[]}`
	if string(got) != want {
		t.Errorf("Marshal(empty) = %s, want %s", got, want)
	}
}

// FuzzRecipeJSON checks that whatever UnmarshalJSON accepts marshals to
// JSON that decodes again, and that a second round trip is byte-identical.
func FuzzRecipeJSON(f *testing.F) {
	if golden, err := os.ReadFile("testdata/robot/robot.json"); err == nil {
		f.Add(golden)
	}
	f.Add([]byte(`{"pibake_recipe":1,"source":"r.star","secrets":[],"steps":[{"id":"1","op":"files.put","args":{"path":"/x","content":{"base64":"/w=="},"mode":"0o600","owner":"root","group":"root"}}]}`))
	f.Add([]byte(`{"pibake_recipe":1,"steps":[{"id":"a","op":"systemd.service","args":{"name":"x","enabled":null}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Recipe
		if err := json.Unmarshal(b, &r); err != nil {
			return
		}
		first, err := json.Marshal(&r)
		if err != nil {
			t.Fatalf("Marshal after Unmarshal(%q): %v", b, err)
		}
		var again Recipe
		if err := json.Unmarshal(first, &again); err != nil {
			t.Fatalf("Unmarshal(Marshal(Unmarshal(%q))) = %v", b, err)
		}
		second, err := json.Marshal(&again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Errorf("round trip not stable:\n%s\n%s", first, second)
		}
	})
}
