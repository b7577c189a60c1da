//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pibake/pibake/image/imagetest"
)

// testAgent builds a static pibake for linux/goarch, as make build does for
// the agents it embeds, and returns its path.
func testAgent(t testing.TB, goarch string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pibake-"+goarch)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOARM=6")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the %s agent: %v\n%s", goarch, err, b)
	}
	return out
}

// TestBakeRobot bakes the example robot recipe into images of every ext4
// profile, from .img and from .img.xz: the base is untouched, both
// filesystems of the output are clean, every effect reads back with the
// real tools, the first-boot hand-off is in place, and a plan against the
// output is in state.
func TestBakeRobot(t *testing.T) {
	t.Setenv("WIFI_PSK", "correct-horse-battery-staple")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	agent := testAgent(t, "arm64")
	recipe := "../../recipes/examples/robot.star"
	for _, profile := range imagetest.Profiles() {
		for _, xz := range []bool{false, true} {
			name := string(profile) + "/img"
			if xz {
				name += ".xz"
			}
			t.Run(name, func(t *testing.T) {
				spec := imagetest.Spec{Profile: profile, Small: true}
				var base string
				if xz {
					base = imagetest.BuildXZ(t, spec)
				} else {
					base = imagetest.Build(t, spec).Path
				}
				before := imagetest.SHA256(t, base)
				out := filepath.Join(t.TempDir(), "robot.img")
				code, log := pibake(t, "bake", recipe, "--from", base, "--out", out, "--host-name", "robot7", "--agent", agent)
				if code != 0 {
					t.Fatalf("bake: exit %d\n%s", code, log)
				}
				if imagetest.SHA256(t, base) != before {
					t.Errorf("the bake changed its base image %s", base)
				}
				img, err := imagetest.Layout(spec)
				if err != nil {
					t.Fatal(err)
				}
				img.Path = out
				checkRobotImage(t, img)
				checkHandoff(t, img, agent)
				planInState(t, "plan after bake", recipe, "--target", "image:"+out, "--host-name", "robot7")
			})
		}
	}
}

// checkHandoff judges the first-boot hand-off of the robot recipe: the
// agent, the recipe and an enabled unit, and no secrets (its deferred steps,
// apt and pip, use none).
func checkHandoff(t *testing.T, img *imagetest.Image, agent string) {
	t.Helper()
	const unit = "/etc/systemd/system/pibake-firstboot.service"
	files := imagetest.ReadFiles(t, img, unit, "/etc/pibake/recipe.json")
	if !strings.Contains(string(files[unit]), "After=network-online.target") {
		t.Errorf("%s is not ordered after network-online.target:\n%s", unit, files[unit])
	}
	var recipe struct {
		Version int               `json:"pibake_recipe"`
		Steps   []json.RawMessage `json:"steps"`
	}
	if err := json.Unmarshal(files["/etc/pibake/recipe.json"], &recipe); err != nil || recipe.Version != 1 || len(recipe.Steps) == 0 {
		t.Errorf("/etc/pibake/recipe.json is not a compiled recipe (%v):\n%s", err, files["/etc/pibake/recipe.json"])
	}
	if bytes.Contains(files["/etc/pibake/recipe.json"], []byte("correct-horse")) {
		t.Errorf("/etc/pibake/recipe.json holds the Wi-Fi secret")
	}
	found := imagetest.Lookup(t, img, "/etc/pibake/secrets.env", "/etc/systemd/system/multi-user.target.wants/pibake-firstboot.service")
	if found["/etc/pibake/secrets.env"] != nil {
		t.Errorf("the image keeps secrets, but no deferred step of the robot recipe uses one")
	}
	if link := found["/etc/systemd/system/multi-user.target.wants/pibake-firstboot.service"]; link == nil || link.Target != unit {
		t.Errorf("pibake-firstboot.service is not enabled: %+v", link)
	}
}

// TestBakeKilled kills a bake while it writes: no output, under any name,
// is left in the output's directory.
func TestBakeKilled(t *testing.T) {
	base := imagetest.BuildXZ(t, imagetest.Spec{})
	bin := filepath.Join(t.TempDir(), "pibake")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building pibake: %v\n%s", err, b)
	}
	recipe := filepath.Join(t.TempDir(), "r.star")
	if err := os.WriteFile(recipe, []byte("server.hostname(\"killed\")\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(bin, "bake", recipe, "--from", base, "--out", filepath.Join(dir, "out.img"), "--json", "--no-cache")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Kill it once the copy is under way, not yet done.
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var ev struct {
					Type, Phase string
					Done, Total int64
				}
				if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Type == "progress" && ev.Done > 0 && ev.Done < ev.Total {
					break
				}
			}
			cmd.Process.Signal(sig)
			go io.Copy(io.Discard, stdout)
			err = cmd.Wait()
			if err == nil {
				t.Fatalf("the bake finished before it was killed; stderr:\n%s", stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				t.Errorf("a %s bake left %s behind (stderr: %s)", sig, e.Name(), stderr.String())
			}
		})
	}
}

// TestBakeKeepsSecrets: only the secrets of steps first boot runs go into
// the image (0600, root), the bake names them, and no value is printed.
func TestBakeKeepsSecrets(t *testing.T) {
	const recipe = `
files.put(path = "/etc/api-key", content = secret("API_KEY"), mode = "0600")
shell.run(command = "register-robot --token " + secret("TOKEN"), creates = "/etc/registered")
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "r.star"), []byte(recipe), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("API_KEY", "api-key-value-1")
	t.Setenv("TOKEN", "token-value-2")
	spec := imagetest.Spec{Small: true}
	base := imagetest.Build(t, spec)
	out := filepath.Join(dir, "out.img")
	code, log := pibake(t, "bake", filepath.Join(dir, "r.star"), "--from", base.Path, "--out", out, "--agent", testAgent(t, "arm64"), "--json")
	if code != 0 {
		t.Fatalf("bake: exit %d\n%s", code, log)
	}
	for _, value := range []string{"api-key-value-1", "token-value-2"} {
		if strings.Contains(log, value) {
			t.Errorf("the bake printed a secret value %q:\n%s", value, log)
		}
	}
	if !strings.Contains(log, `"kept_secrets":["TOKEN"]`) || !strings.Contains(log, "secrets TOKEN are kept in /etc/pibake/secrets.env") {
		t.Errorf("the bake does not say it keeps TOKEN (and only it) in the image:\n%s", log)
	}
	img, err := imagetest.Layout(spec)
	if err != nil {
		t.Fatal(err)
	}
	img.Path = out
	files := imagetest.ReadFiles(t, img, "/etc/pibake/secrets.env", "/etc/pibake/recipe.json", "/etc/api-key")
	if got := string(files["/etc/pibake/secrets.env"]); !strings.Contains(got, "TOKEN=") || !strings.Contains(got, "token-value-2") || strings.Contains(got, "API_KEY") {
		t.Errorf("/etc/pibake/secrets.env = %q, want TOKEN alone", got)
	}
	if strings.Contains(string(files["/etc/pibake/recipe.json"]), "value-") {
		t.Errorf("/etc/pibake/recipe.json holds a secret value")
	}
	if got := string(files["/etc/api-key"]); got != "api-key-value-1" {
		t.Errorf("/etc/api-key = %q", got)
	}
	st := imagetest.Stat(t, img, "/etc/pibake/secrets.env")
	if st[0].Mode != 0o100600 || st[0].UID != 0 || st[0].GID != 0 {
		t.Errorf("/etc/pibake/secrets.env is %o %d:%d, want 0600 root", st[0].Mode, st[0].UID, st[0].GID)
	}
	imagetest.E2fsck(t, img)
}

// TestBakeOverBaked bakes on top of a baked image: the hand-off it holds
// carries the new recipe, even one that needs no first boot.
func TestBakeOverBaked(t *testing.T) {
	dir := t.TempDir()
	for name, recipe := range map[string]string{
		"first.star":  `apt.packages(["i2c-tools"])` + "\n",
		"second.star": `server.hostname("second")` + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(recipe), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec := imagetest.Spec{Small: true}
	base := imagetest.Build(t, spec)
	agent := testAgent(t, "arm64")
	first, second := filepath.Join(dir, "first.img"), filepath.Join(dir, "second.img")
	if code, log := pibake(t, "bake", filepath.Join(dir, "first.star"), "--from", base.Path, "--out", first, "--agent", agent); code != 0 {
		t.Fatalf("first bake: exit %d\n%s", code, log)
	}
	code, log := pibake(t, "bake", filepath.Join(dir, "second.star"), "--from", first, "--out", second, "--agent", agent)
	if code != 0 {
		t.Fatalf("second bake: exit %d\n%s", code, log)
	}
	if !strings.Contains(log, "its hand-off now carries this recipe") {
		t.Errorf("the second bake does not say it replaced the hand-off:\n%s", log)
	}
	img, err := imagetest.Layout(spec)
	if err != nil {
		t.Fatal(err)
	}
	img.Path = second
	recipe := string(imagetest.ReadFile(t, img, "/etc/pibake/recipe.json"))
	if !strings.Contains(recipe, "server.hostname") || strings.Contains(recipe, "apt.packages") {
		t.Errorf("the baked-over image's recipe.json is not the second recipe:\n%s", recipe)
	}
	imagetest.E2fsck(t, img)
}
