package recipes

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/ops"
)

const secretRecipe = `
network.wifi("lab", secret("WIFI_PSK"), "GB")
files.put("/etc/robot.toml", content = "token = %s\nagain = {}\n".format(secret("API_TOKEN")) % secret("API_TOKEN"))
files.put("/etc/blob", content = file("blob") + secret("API_TOKEN"))
files.put("/etc/plain", content = "no secrets here")
server.user("robot", password_hash = secret("ROBOT_HASH"), ssh_keys = ["ssh-ed25519 " + secret("API_TOKEN")])
`

func TestResolve(t *testing.T) {
	r, err := compileSource(t, secretRecipe, map[string]string{"blob": "\xff\x00"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"API_TOKEN", "ROBOT_HASH", "WIFI_PSK"}, r.Secrets); diff != "" {
		t.Errorf("Secrets (-want +got):\n%s", diff)
	}
	before, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	secrets := Secrets{"WIFI_PSK": "correct horse", "API_TOKEN": `t0k"en`, "ROBOT_HASH": "$6$x$y", "UNUSED": "zzz"}
	steps, redact, err := r.Resolve(secrets)
	if err != nil {
		t.Fatal(err)
	}
	want := []ops.Op{
		&ops.Wifi{SSID: "lab", PSK: "correct horse", Country: "GB"},
		&ops.FilePut{Path: "/etc/robot.toml", Content: ops.Data("token = t0k\"en\nagain = t0k\"en\n"), Mode: 0o644, Owner: "root", Group: "root"},
		&ops.FilePut{Path: "/etc/blob", Content: ops.Data("\xff\x00t0k\"en"), Mode: 0o644, Owner: "root", Group: "root"},
		&ops.FilePut{Path: "/etc/plain", Content: ops.Data("no secrets here"), Mode: 0o644, Owner: "root", Group: "root"},
		&ops.User{Name: "robot", Groups: []string{}, Shell: "/bin/bash", PasswordHash: ptr("$6$x$y"), SSHKeys: []string{`ssh-ed25519 t0k"en`}},
	}
	var got []ops.Op
	for i, s := range steps {
		got = append(got, s.Op)
		if s.ID != r.Steps[i].ID || s.Pos != r.Steps[i].Pos {
			t.Errorf("step %d: ID, Pos = %s, %s, want %s, %s", i, s.ID, s.Pos, r.Steps[i].ID, r.Steps[i].Pos)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resolved ops (-want +got):\n%s", diff)
	}
	after, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Errorf("Resolve changed the recipe:\n%s\n%s", before, after)
	}

	redactTests := []struct{ in, want string }{
		{"psk=correct horse", "psk=<secret>"},
		{`{"token":"t0k\"en"}`, `{"token":"<secret>"}`},
		{`token = t0k"en`, "token = <secret>"},
		{"hash $6$x$y and zzz", "hash <secret> and zzz"},
		{"unresolved " + token("WIFI_PSK"), "unresolved <secret>"},
		{"nothing to hide", "nothing to hide"},
	}
	for _, tt := range redactTests {
		if got := redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestResolveMissing(t *testing.T) {
	r, err := compileSource(t, secretRecipe, map[string]string{"blob": ""}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = r.Resolve(Secrets{"API_TOKEN": "x", "ROBOT_HASH": ""})
	want := `secret "WIFI_PSK" is not set (export WIFI_PSK=... or put it in --secrets FILE)
secret "ROBOT_HASH" is empty (give it a value in the environment or in --secrets FILE)`
	if err == nil || err.Error() != want {
		t.Fatalf("Resolve without secrets = %v, want\n%s", err, want)
	}
	var missing *MissingSecretError
	if !errors.As(err, &missing) || missing.Name != "WIFI_PSK" {
		t.Errorf("Resolve error = %#v, want a *MissingSecretError for WIFI_PSK", err)
	}
}

func TestResolveNoSecrets(t *testing.T) {
	r, err := compileSource(t, `files.put("/etc/motd", content="hi")`, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	steps, redact, err := r.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || steps[0].Op != r.Steps[0].Op {
		t.Errorf("Resolve(nil) = %v, want the recipe's one step", steps)
	}
	if got := redact("hi there"); got != "hi there" {
		t.Errorf("redact with no secrets = %q", got)
	}
	if len(r.Secrets) != 0 || r.Secrets == nil {
		t.Errorf("Secrets = %#v, want empty", r.Secrets)
	}
}

func TestPrintHidesSecrets(t *testing.T) {
	var printed []string
	_, err := compileSource(t, `print("psk is", secret("WIFI_PSK"))`, nil, Options{Print: func(s string) { printed = append(printed, s) }})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"recipe.star:1:1: psk is <secret:WIFI_PSK>"}
	if diff := cmp.Diff(want, printed); diff != "" {
		t.Errorf("printed (-want +got):\n%s", diff)
	}
}

func TestLoadSecrets(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		environ []string
		want    Secrets
		wantErr string
	}{
		{
			name: "forms",
			file: `# robot secrets

WIFI_PSK=correct horse battery
export API_TOKEN = abc123   # trailing comment
SINGLE='it"s \n # not a comment' # a comment
DOUBLE="line one\nline \"two\" \\ \$HOME"
EMPTY=
HASH=$6$salt$hash#kept
QUOTED_EMPTY=""
CRLF=yes` + "\r\n" + `TAB=a	# comment after a tab
`,
			want: Secrets{
				"WIFI_PSK":     "correct horse battery",
				"API_TOKEN":    "abc123",
				"SINGLE":       `it"s \n # not a comment`,
				"DOUBLE":       "line one\nline \"two\" \\ $HOME",
				"EMPTY":        "",
				"HASH":         "$6$salt$hash#kept",
				"QUOTED_EMPTY": "",
				"CRLF":         "yes",
				"TAB":          "a",
			},
		},
		{
			name:    "environment overrides the file",
			file:    "A=file\nB=file\n",
			environ: []string{"A=env", "C=env=with=equals", "EMPTY=", "=ignored", "junk"},
			want:    Secrets{"A": "env", "B": "file", "C": "env=with=equals"},
		},
		{
			name:    "an empty variable does not hide the file's value",
			file:    "A=file\n",
			environ: []string{"A="},
			want:    Secrets{"A": "file"},
		},
		{
			name: "no file",
			want: Secrets{"PATH": "/bin"},
		},
		{name: "no equals", file: "A=1\nWIFI_PSK\n", wantErr: `secrets.env:2: want NAME=value, got "WIFI_PSK"`},
		{name: "bad name", file: "\n\n1PSK=x\n", wantErr: `secrets.env:3: invalid name "1PSK": want letters, digits and _, not starting with a digit`},
		{name: "name with space", file: "WIFI PSK=x\n", wantErr: `secrets.env:1: invalid name "WIFI PSK": want letters, digits and _, not starting with a digit`},
		{name: "unterminated double", file: `A="abc`, wantErr: `secrets.env:1: A: missing closing "`},
		{name: "unterminated single", file: "A='abc\n", wantErr: `secrets.env:1: A: missing closing '`},
		{name: "text after quote", file: "A='x'y\n", wantErr: `secrets.env:1: A: unexpected "y" after the closing quote`},
		{name: "escaped quote at end", file: `A="abc\"`, wantErr: `secrets.env:1: A: missing closing "`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := ""
			if tt.file != "" {
				file = filepath.Join(t.TempDir(), "secrets.env")
				if err := os.WriteFile(file, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			environ := tt.environ
			if tt.name == "no file" {
				environ = []string{"PATH=/bin"}
			}
			got, err := LoadSecrets(file, environ)
			if tt.wantErr != "" {
				if err == nil || err.Error() != file+":"+strings.TrimPrefix(tt.wantErr, "secrets.env:") {
					t.Fatalf("LoadSecrets = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LoadSecrets (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := LoadSecrets(filepath.Join(t.TempDir(), "nothere.env"), nil); err == nil || !strings.Contains(err.Error(), "nothere.env") {
		t.Errorf("LoadSecrets(missing file) = %v, want an error naming it", err)
	}
}

func FuzzDotenv(f *testing.F) {
	f.Add("A=1\n# c\nexport B = 'x' # y\nC=\"a\\nb\"\n")
	f.Add("A=\"unterminated\n")
	f.Add("=\n\r\n")
	f.Fuzz(func(t *testing.T, content string) {
		got := Secrets{}
		if err := parseDotenv("f.env", []byte(content), got); err != nil {
			if !strings.HasPrefix(err.Error(), "f.env:") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		for name := range got {
			if !namePattern.MatchString(name) {
				t.Errorf("parsed invalid name %q", name)
			}
		}
	})
}
