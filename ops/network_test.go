package ops_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/opstest"
)

func TestWifi(t *testing.T) {
	sys, dir := opstest.Root(t)
	env := opstest.Env(sys)
	op := &ops.Wifi{SSID: "Robot Lab", PSK: "correct horse", Country: "GB"}
	changes := converge(t, env, op)

	const keyfile = "/etc/NetworkManager/system-connections/Robot_Lab-"
	var conn *ops.Change
	for _, c := range changes {
		if strings.HasPrefix(c.Path, keyfile) {
			conn = c
		}
	}
	if conn == nil {
		t.Fatalf("changes = %v, want a keyfile %s*.nmconnection", changes, keyfile)
	}
	if !strings.HasSuffix(conn.Path, ".nmconnection") || conn.Mode != 0o600 || conn.UID != 0 || conn.GID != 0 || !conn.Sensitive {
		t.Errorf("keyfile change = %s (sensitive %v), want a sensitive 0600 0:0 .nmconnection", conn, conn.Sensitive)
	}
	content := readTarget(t, dir, conn.Path)
	uuid := regexp.MustCompile(`uuid=([0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})\n`).FindStringSubmatch(content)
	if uuid == nil {
		t.Fatalf("keyfile has no version 5 uuid:\n%s", content)
	}
	want := "[connection]\nid=Robot Lab\nuuid=" + uuid[1] + "\ntype=wifi\nautoconnect=true\n\n" +
		"[wifi]\nmode=infrastructure\nssid=Robot Lab\n\n" +
		"[wifi-security]\nkey-mgmt=wpa-psk\npsk=correct horse\n\n" +
		"[ipv4]\nmethod=auto\n\n[ipv6]\naddr-gen-mode=default\nmethod=auto\n"
	if content != want {
		t.Errorf("keyfile =\n%s\nwant\n%s", content, want)
	}
	if got := readTarget(t, dir, cmdlineTxt); !strings.HasSuffix(got, " cfg80211.ieee80211_regdom=GB\n") {
		t.Errorf("cmdline.txt = %q, want the regulatory domain added", got)
	}
	for _, name := range []string{"platform-3f300000.mmcnr:wlan", "platform-fe300000.mmcnr:wlan"} {
		if got := readTarget(t, dir, "/var/lib/systemd/rfkill/"+name); got != "0\n" {
			t.Errorf("rfkill %s = %q, want 0", name, got)
		}
	}
	if got, want := argvs(t, changes), []string{"nmcli connection reload", "rfkill unblock wifi"}; !slices.Equal(got, want) {
		t.Errorf("execs = %q, want %q", got, want)
	}

	// Another country replaces the first; the radio is already unblocked.
	op.Country = "DE"
	changes = converge(t, env, op)
	if got := opstest.Files(changes); len(got) != 1 || !strings.Contains(got[0], "cmdline.txt") {
		t.Errorf("changes = %q, want cmdline.txt only", got)
	}
	if got := readTarget(t, dir, cmdlineTxt); strings.Count(got, "regdom") != 1 || !strings.Contains(got, "regdom=DE") {
		t.Errorf("cmdline.txt = %q", got)
	}
}

func TestWifiKeyfile(t *testing.T) {
	for _, tt := range []struct {
		name      string
		op        *ops.Wifi
		file      string // base name, or a prefix ending in "-" before a hash
		want      []string
		wantNotIn []string
	}{
		{"hidden", &ops.Wifi{SSID: "lab", PSK: "12345678", Country: "US", Hidden: true}, "lab.nmconnection",
			[]string{"\nssid=lab\nhidden=true\n"}, nil},
		{"open", &ops.Wifi{SSID: "guest", Country: "US"}, "guest.nmconnection",
			[]string{"ssid=guest\n"}, []string{"wifi-security", "psk"}},
		{"hex key", &ops.Wifi{SSID: "lab", PSK: strings.Repeat("ab", 32), Country: "US"}, "lab.nmconnection",
			[]string{"psk=" + strings.Repeat("ab", 32) + "\n"}, nil},
		{"escapes", &ops.Wifi{SSID: ` a\b `, PSK: ` pass\word `, Country: "US"}, "_a_b_-",
			[]string{`ssid=\sa\\b\s` + "\n", `psk=\spass\\word\s` + "\n", `id=\sa\\b\s` + "\n"}, nil},
		{"semicolon as bytes", &ops.Wifi{SSID: "a;b", PSK: "12345678", Country: "US"}, "a_b-",
			[]string{"ssid=97;59;98;\n", "id=a;b\n"}, nil},
		{"non-ASCII as bytes", &ops.Wifi{SSID: "Café", PSK: "12345678", Country: "US"}, "Caf__-",
			[]string{"ssid=67;97;102;195;169;\n", "id=Café\n"}, nil},
		{"dot first", &ops.Wifi{SSID: ".hidden", PSK: "12345678", Country: "US"}, "_hidden-", nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sys, dir := opstest.Root(t)
			env := opstest.Env(sys)
			converge(t, env, tt.op)
			entries, err := os.ReadDir(filepath.Join(dir, "etc", "NetworkManager", "system-connections"))
			if err != nil || len(entries) != 1 {
				t.Fatalf("system-connections = %v, %v; want one file", entries, err)
			}
			name := entries[0].Name()
			if name != tt.file && !(strings.HasSuffix(tt.file, "-") && regexp.MustCompile(`^`+regexp.QuoteMeta(tt.file)+`[0-9a-f]{8}\.nmconnection$`).MatchString(name)) {
				t.Errorf("keyfile = %s, want %s", name, tt.file)
			}
			content := readTarget(t, dir, "/etc/NetworkManager/system-connections/"+name)
			for _, w := range tt.want {
				if !strings.Contains(content, w) {
					t.Errorf("keyfile lacks %q:\n%s", w, content)
				}
			}
			for _, w := range tt.wantNotIn {
				if strings.Contains(content, w) {
					t.Errorf("keyfile has %q:\n%s", w, content)
				}
			}
		})
	}
}

func TestWifiUUIDs(t *testing.T) {
	uuidOf := func(ssid string) string {
		sys, dir := opstest.Root(t)
		opstest.Apply(t, opstest.Env(sys), &ops.Wifi{SSID: ssid, PSK: "12345678", Country: "US"})
		content := readTarget(t, dir, "/etc/NetworkManager/system-connections/"+ssid+".nmconnection")
		return regexp.MustCompile(`uuid=(\S+)`).FindStringSubmatch(content)[1]
	}
	a, b, a2 := uuidOf("a"), uuidOf("b"), uuidOf("a")
	if a != a2 || a == b {
		t.Errorf("uuids: a=%s, b=%s, a again=%s; want one per SSID, stable", a, b, a2)
	}
}

func TestWifiErrors(t *testing.T) {
	sys, dir := opstest.Root(t)
	env := opstest.Env(sys)
	for _, tt := range []struct {
		op   *ops.Wifi
		want string
	}{
		{&ops.Wifi{SSID: "", PSK: "12345678", Country: "GB"}, "ssid: want 1 to 32 bytes, got 0"},
		{&ops.Wifi{SSID: strings.Repeat("x", 33), PSK: "12345678", Country: "GB"}, "1 to 32 bytes"},
		{&ops.Wifi{SSID: "lab", PSK: "short", Country: "GB"}, "psk: want a passphrase of 8 to 63 characters or 64 hex digits, got 5 characters"},
		{&ops.Wifi{SSID: "lab", PSK: strings.Repeat("x", 64), Country: "GB"}, "8 to 63"},
		{&ops.Wifi{SSID: "lab", PSK: "pässwörd", Country: "GB"}, "printable ASCII"},
		{&ops.Wifi{SSID: "lab", PSK: "12345678", Country: "UK"}, `"GB"`},
		{&ops.Wifi{SSID: "lab", PSK: "12345678", Country: "gb"}, `write "GB"`},
		{&ops.Wifi{SSID: "lab", PSK: "12345678", Country: "XX"}, `country: want an ISO 3166 two-letter code in capitals, such as "GB" or "US", got "XX"`},
		{&ops.Wifi{SSID: "lab", PSK: "12345678", Country: ""}, "ISO 3166"},
	} {
		_, err := ops.Plan(t.Context(), env, tt.op)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Wifi%+v.Plan: error = %v, want one containing %q", *tt.op, err, tt.want)
		}
		if err != nil && tt.op.PSK != "" && strings.Contains(err.Error(), tt.op.PSK) {
			t.Errorf("error %q shows the key", err)
		}
	}

	if err := os.Remove(filepath.Join(dir, "boot", "firmware", "cmdline.txt")); err != nil {
		t.Fatal(err)
	}
	_, err := (&ops.Wifi{SSID: "lab", PSK: "12345678", Country: "GB"}).Plan(t.Context(), env)
	if err == nil || !strings.Contains(err.Error(), "cmdline.txt does not exist") {
		t.Errorf("Plan without cmdline.txt: error = %v", err)
	}
}

func TestWifiCreatesConnectionsDir(t *testing.T) {
	sys, dir := opstest.Root(t)
	if err := os.RemoveAll(filepath.Join(dir, "etc", "NetworkManager")); err != nil {
		t.Fatal(err)
	}
	changes := converge(t, opstest.Env(sys), &ops.Wifi{SSID: "lab", PSK: "12345678", Country: "GB"})
	got := opstest.Files(changes)
	want := []string{
		"mkdir /etc/NetworkManager (0755 0:0)",
		"mkdir /etc/NetworkManager/system-connections (0700 0:0)",
	}
	if len(got) < 2 || !slices.Equal(got[:2], want) {
		t.Errorf("changes = %q, want first %q", got, want)
	}
}
