package recipes

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/ops"
)

func TestLoadInventory(t *testing.T) {
	inv, err := LoadInventory("testdata/inventory/fleet.star")
	if err != nil {
		t.Fatal(err)
	}
	lab := map[string]any{"wifi_ssid": "robot-lab", "pins": []any{int64(12), int64(13)}, "ratio": 0.5, "debug": nil, "nested": map[string]any{"on": true}}
	withAll := func(m map[string]any, more map[string]any) map[string]any {
		out := map[string]any{"timezone": "UTC", "country": "GB"}
		for k, v := range m {
			out[k] = v
		}
		for k, v := range more {
			out[k] = v
		}
		return out
	}
	const file = "testdata/inventory/fleet.star"
	want := []*InventoryHost{
		{Name: "robot1", Address: "robot1", Groups: []string{"lab"}, Data: withAll(lab, map[string]any{"index": int64(1)}), Pos: file + ":9:5"},
		{Name: "robot2", Address: "robot2", Groups: []string{"lab"}, Data: withAll(lab, map[string]any{"index": int64(2)}), Pos: file + ":9:5"},
		// lab is declared before field, so field's data wins; the
		// host's own wins over both.
		{Name: "robot3", Address: "dir:/srv/robot3", Groups: []string{"lab", "field"},
			Data: withAll(lab, map[string]any{"wifi_ssid": "own", "timezone": "Europe/Paris"}), Pos: file + ":11:1"},
		{Name: "base.station", Address: "ssh://pi@10.0.0.1:2222", Groups: []string{}, Data: withAll(nil, nil), Pos: file + ":12:1"},
	}
	if diff := cmp.Diff(want, inv.Hosts); diff != "" {
		t.Errorf("LoadInventory hosts (-want +got):\n%s", diff)
	}
	var groups []string
	for _, g := range inv.Groups {
		groups = append(groups, g.Name+"="+strings.Join(g.Hosts, ","))
	}
	wantGroups := []string{"all=robot1,robot2,robot3,base.station", "lab=robot1,robot2,robot3", "field=robot3"}
	if diff := cmp.Diff(wantGroups, groups); diff != "" {
		t.Errorf("LoadInventory groups (-want +got):\n%s", diff)
	}
}

func TestInventoryErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"duplicate host", "host(\"a\")\nhost(\"a\")", `inventory.star:2:1: host "a": already declared at inventory.star:1:1`},
		{"duplicate group", "group(\"g\")\ngroup(\"g\")", `inventory.star:2:1: group "g": already declared at inventory.star:1:1`},
		{"unknown group", "group(\"lab\")\nhost(\"a\", groups = [\"lba\"])", `inventory.star:2:1: host "a": unknown group "lba" (did you mean "lab"?)`},
		{"unknown host", "host(\"robot1\")\ngroup(\"g\", hosts = [\"robot2\"])", `inventory.star:2:1: group "g": unknown host "robot2" (did you mean "robot1"?)`},
		{"bad host name", `host("a b")`, `inventory.star:1:1: host "a b": a name is letters, digits, '-', '_' and '.', not ' '`},
		{"bad group name", `group("x,y")`, `inventory.star:1:1: group "x,y": a name is letters, digits, '-', '_' and '.', not ','`},
		{"empty name", `host("")`, `inventory.star:1:1: host: name: must not be empty`},
		{"empty address", `host("a", address = "")`, `inventory.star:1:1: host: address: must not be empty (leave it out to reach the host by its name)`},
		{"data not a dict", `host("a", data = [1])`, `inventory.star:1:1: host: data: want a dict, got list`},
		{"data with a set", `host("a", data = {"k": [1, set()]})`, `inventory.star:1:1: host: data["k"][1]: want dict, list, str, int, float, bool or None, got set`},
		{"data with an int key", `group("g", data = {1: 2})`, `inventory.star:1:1: group: data: key 1: want a string, got int`},
		{"data with a huge int", `host("a", data = {"n": 1 << 60})`, `inventory.star:1:1: host: data["n"]: integer 1152921504606846976 is too large`},
		{"host and group share a name", "host(\"x\")\ngroup(\"x\")", `inventory.star:2:1: group "x": a host has that name (inventory.star:1:1); a limit could not tell them apart`},
		{"hosts in all", `group("all", hosts = ["a"])`, `inventory.star:1:1: group "all": every host is in it; give it data, not hosts`},
		{"unknown argument", `host("a", adress = "x")`, `inventory.star:1:1: host: unknown argument "adress" (did you mean "address"?)`},
		{"syntax", `host("a"`, `inventory.star:1:9: got end of file, want ')'`},
		{"recipe builtins are not here", `firmware.i2c()`, `inventory.star:1:1: undefined: firmware`},
		{"fail", "def f():\n    fail(\"no\")\nf()", `inventory.star:2:5: fail: no`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "inventory.star"), []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Chdir(dir)
			_, err := LoadInventory("inventory.star")
			if err == nil || err.Error() != tt.want {
				t.Fatalf("LoadInventory(%q) = %v, want %s", tt.src, err, tt.want)
			}
			if !errors.As(err, new(*Error)) {
				t.Errorf("LoadInventory(%q) = %T, want *Error", tt.src, err)
			}
		})
	}
	if _, err := LoadInventory("testdata/nothere.star"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadInventory(missing) = %v, want a not-exist error", err)
	}
}

func TestInventorySelect(t *testing.T) {
	inv, err := LoadInventory("testdata/inventory/fleet.star")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		limit []string
		want  string
	}{
		{nil, "robot1 robot2 robot3 base.station"},
		{[]string{""}, "robot1 robot2 robot3 base.station"},
		{[]string{"all"}, "robot1 robot2 robot3 base.station"},
		{[]string{"robot2"}, "robot2"},
		{[]string{"field"}, "robot3"},
		{[]string{"base.station", "lab"}, "robot1 robot2 robot3 base.station"},
		{[]string{"robot3,robot1"}, "robot1 robot3"},
		{[]string{"field, robot3", "robot2"}, "robot2 robot3"},
		{[]string{"lab", "nope"}, `error: testdata/inventory/fleet.star: no host or group "nope" (hosts: robot1, robot2, robot3, base.station; groups: all, lab, field)`},
		{[]string{"robot4"}, `error: testdata/inventory/fleet.star: no host or group "robot4" (did you mean "robot1"?) (hosts: robot1, robot2, robot3, base.station; groups: all, lab, field)`},
	}
	for _, tt := range tests {
		hosts, err := inv.Select(tt.limit)
		var names []string
		for _, h := range hosts {
			names = append(names, h.Name)
		}
		got := strings.Join(names, " ")
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != tt.want {
			t.Errorf("Select(%q) = %s, want %s", tt.limit, got, tt.want)
		}
	}
}

// TestInventoryHostData: what a recipe sees as host.data is the merged
// data of its host.
func TestInventoryHostData(t *testing.T) {
	inv, err := LoadInventory("testdata/inventory/fleet.star")
	if err != nil {
		t.Fatal(err)
	}
	src := `files.put("/etc/seen", content = "%s %s %s %r %r %s" % (
    host.name, host.data["wifi_ssid"], host.data["timezone"], host.data["pins"], host.data["nested"]["on"], host.data.get("index"),
))`
	want := map[string]string{
		"robot1": "robot1 robot-lab UTC [12, 13] True 1",
		"robot3": "robot3 own Europe/Paris [12, 13] True None",
	}
	for _, h := range inv.Hosts {
		if want[h.Name] == "" {
			continue
		}
		r, err := compileSource(t, src, nil, Options{HostName: h.Name, HostData: h.Data})
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		if got := string(r.Steps[0].Op.(*ops.FilePut).Content); got != want[h.Name] {
			t.Errorf("%s: host seen as %q, want %q", h.Name, got, want[h.Name])
		}
	}
}

// TestExampleFleet: the example inventory serves the example robot, each
// host compiled with its own name, network and time zone.
func TestExampleFleet(t *testing.T) {
	inv, err := LoadInventory("examples/fleet.star")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range inv.Hosts {
		r, err := Load("examples/robot.star", Options{HostName: h.Name, HostData: h.Data})
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		line := h.Name + " " + h.Address
		for _, s := range r.Steps {
			switch op := s.Op.(type) {
			case *ops.Hostname:
				line += " hostname=" + op.Name
			case *ops.Timezone:
				line += " timezone=" + op.Name
			case *ops.Wifi:
				line += " ssid=" + op.SSID
			}
		}
		got = append(got, line)
	}
	want := []string{
		"robot1 pi@robot1.local hostname=robot1 timezone=Europe/London ssid=robot-lab",
		"robot2 pi@robot2.local hostname=robot2 timezone=Europe/London ssid=robot-lab",
		"robot3 pi@robot3.local hostname=robot3 timezone=Europe/London ssid=robot-lab",
		"robot4 pi@10.0.7.4 hostname=robot4 timezone=Europe/Paris ssid=robot-field",
		"spare dir:./rootfs hostname=spare timezone=Europe/London ssid=robot-lab",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("example fleet (-want +got):\n%s", diff)
	}
}
