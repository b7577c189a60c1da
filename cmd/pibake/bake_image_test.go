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
			cmd := exec.Command(bin, "bake", recipe, "--from", base, "--out", filepath.Join(dir, "out.img"), "--json")
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
