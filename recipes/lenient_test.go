package recipes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/ops"
)

func TestSecretNames(t *testing.T) {
	r, err := compileSource(t, secretRecipe, map[string]string{"blob": "\xff\x00"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"WIFI_PSK"}, {"API_TOKEN"}, {"API_TOKEN"}, nil, {"API_TOKEN", "ROBOT_HASH"}}
	for i, w := range want {
		got := r.SecretNames(i)
		if len(got) == 0 {
			got = nil
		}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("SecretNames(%d) (-want +got):\n%s", i, diff)
		}
	}
	if got := r.SecretNames(len(r.Steps)); got != nil {
		t.Errorf("SecretNames(out of range) = %v, want nil", got)
	}
}

// First boot has only the secrets the bake kept: the steps needing
// others are left unresolved, for the run to skip, and the rest resolve.
func TestResolveLenient(t *testing.T) {
	r, err := compileSource(t, secretRecipe, map[string]string{"blob": "\xff\x00"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	steps, unresolved, redact := r.ResolveLenient(Secrets{"API_TOKEN": "t0k", "ROBOT_HASH": ""})
	wantUnresolved := []Unresolved{
		{StepID: r.Steps[0].ID, Secrets: []string{"WIFI_PSK"}},
		{StepID: r.Steps[4].ID, Secrets: []string{"ROBOT_HASH"}}, // empty counts as missing, as in Resolve
	}
	if diff := cmp.Diff(wantUnresolved, unresolved); diff != "" {
		t.Errorf("unresolved (-want +got):\n%s", diff)
	}
	if len(steps) != len(r.Steps) {
		t.Fatalf("got %d steps, want %d", len(steps), len(r.Steps))
	}
	for i, s := range steps {
		if s.ID != r.Steps[i].ID || s.Pos != r.Steps[i].Pos {
			t.Errorf("step %d: ID, Pos = %s, %s, want %s, %s", i, s.ID, s.Pos, r.Steps[i].ID, r.Steps[i].Pos)
		}
	}
	if got := string(steps[1].Op.(*ops.FilePut).Content); got != "token = t0k\nagain = t0k\n" {
		t.Errorf("resolved step 2 content = %q", got)
	}
	// Unresolved steps keep their tokens: never run with a hole where the
	// secret goes.
	if psk := steps[0].Op.(*ops.Wifi).PSK; psk != token("WIFI_PSK") {
		t.Errorf("unresolved step 1 PSK = %q, want the token", psk)
	}
	if got := redact("token t0k and " + token("WIFI_PSK")); got != "token <secret> and <secret>" {
		t.Errorf("redact = %q", got)
	}
	// The recipe itself is unchanged.
	if got := string(r.Steps[1].Op.(*ops.FilePut).Content); !strings.Contains(got, token("API_TOKEN")) {
		t.Errorf("ResolveLenient changed the recipe: %q", got)
	}

	// With every secret, it is Resolve.
	all := Secrets{"API_TOKEN": "t0k", "ROBOT_HASH": "$6$x$y", "WIFI_PSK": "correct horse"}
	lenient, unresolved, _ := r.ResolveLenient(all)
	strict, _, err := r.Resolve(all)
	if err != nil || len(unresolved) != 0 {
		t.Fatalf("Resolve: %v; unresolved %v", err, unresolved)
	}
	if diff := cmp.Diff(strict, lenient); diff != "" {
		t.Errorf("ResolveLenient with all secrets differs from Resolve (-Resolve +lenient):\n%s", diff)
	}
}

func TestDotenvRoundTrip(t *testing.T) {
	s := Secrets{
		"PLAIN":  "correct-horse",
		"SPACES": "  two  words # not a comment ",
		"QUOTES": `it's "quoted"`,
		"SHELL":  `$HOME \n ${x} \`,
		"LINES":  "one\ntwo\r\n\tthree",
		"HASH":   "$6$salt$hash/./x",
	}
	file := filepath.Join(t.TempDir(), "secrets.env")
	if err := os.WriteFile(file, s.Dotenv(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadSecrets(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("LoadSecrets(Dotenv()) (-want +got):\n%s\nfile:\n%s", diff, s.Dotenv())
	}
	parsed, err := ParseSecrets("secrets.env", s.Dotenv())
	if err != nil || !cmp.Equal(s, parsed) {
		t.Errorf("ParseSecrets(Dotenv()) = %v, %v", parsed, err)
	}
	if _, err := ParseSecrets("bad.env", []byte("1X=2\n")); err == nil || !strings.HasPrefix(err.Error(), "bad.env:1:") {
		t.Errorf("ParseSecrets(bad) = %v, want an error at bad.env:1", err)
	}
}

// Whatever a dotenv file holds, writing it out again reads back the same.
func FuzzDotenvRoundTrip(f *testing.F) {
	f.Add("A=1\nB='x y'\nC=\"a\\nb\\$c\"\n")
	f.Fuzz(func(t *testing.T, content string) {
		s, err := ParseSecrets("f.env", []byte(content))
		if err != nil {
			return
		}
		again, err := ParseSecrets("again.env", s.Dotenv())
		if err != nil {
			t.Fatalf("ParseSecrets(Dotenv()) of %q: %v\n%s", content, err, s.Dotenv())
		}
		if !cmp.Equal(s, again) {
			t.Fatalf("round trip of %q: %v, want %v", content, again, s)
		}
	})
}
