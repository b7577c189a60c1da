package ops_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pibake/pibake/ops"
)

// secretToken is a placeholder as recipes writes one for secret("X").
const secretToken = ops.PlaceholderStart + "secret:X" + ops.PlaceholderEnd

func TestValidate(t *testing.T) {
	tests := []struct {
		op   ops.Op
		want string // "" for valid
	}{
		{&ops.FilePut{Path: "/etc/motd"}, ""},
		{&ops.FilePut{Path: ""}, `path: want an absolute path, got ""`},
		{&ops.FileDirectory{Path: "/opt//robot"}, `path: want a clean path such as "/opt/robot", got "/opt//robot"`},
		{&ops.FileLink{Path: "/etc/localtime"}, "target: must not be empty"},
		{&ops.FileAbsent{Path: "/"}, "path: refusing to remove /"},
		{&ops.FileLine{Path: "/etc/modules", Line: "i2c-dev", Match: "^#?i2c-dev$"}, ""},
		{&ops.FileLine{Path: "/etc/modules", Line: "a\nb"}, `line: must be one line, got "a\nb"`},
		{&ops.FileLine{Path: "/etc/modules", Line: "a", Match: "("}, "match: error parsing regexp: missing closing ): `(`"},
		{&ops.FileSync{Dest: "/srv", Files: []ops.SyncEntry{{Path: "a", Dir: true}, {Path: "a/b"}}}, ""},
		{&ops.FileSync{Dest: "srv"}, `dest: want an absolute path, got "srv"`},
		{&ops.FileSync{Dest: "/srv", Files: []ops.SyncEntry{{Path: "../x"}}}, `files: entry "../x": want a clean relative path inside the tree`},

		{&ops.Hostname{Name: "robot-1.lab"}, ""},
		{&ops.Hostname{Name: "robot_1"}, `name: "robot_1" is not a host name: label "robot_1": want 1 to 63 letters, digits and '-', not starting or ending with '-' (RFC 1123)`},
		{&ops.Hostname{Name: strings.Repeat("a.", 127)}, "name: want a host name of 1 to 253 characters, got \"" + strings.Repeat("a.", 127) + `"`},
		{&ops.User{Name: "robot", UID: 1234, Groups: []string{"gpio", "_ssh"}, Home: "/srv/robot", SSHKeys: []string{"ssh-ed25519 AAAA robot"}}, ""},
		{&ops.User{Name: "_robot"}, `name: "_robot" is not a user name (at most 32 of a-z, 0-9, '-' and '_', starting with a letter)`},
		{&ops.User{Name: "robot", UID: -1}, "uid: -1 is not a user id (1 to 2147483647; 0 or none picks a free one)"},
		{&ops.User{Name: "robot", UID: 1 << 31}, "uid: 2147483648 is not a user id (1 to 2147483647; 0 or none picks a free one)"},
		{&ops.User{Name: "robot", Home: "/"}, `home: want an absolute, clean path other than /, got "/"`},
		{&ops.User{Name: "robot", SSHKeys: []string{"a", ""}}, "ssh_keys[1]: want one key on one line (give several keys as a list)"},
		{&ops.Timezone{Name: "Europe/London"}, ""},
		{&ops.Timezone{Name: ""}, `name: want a zone name such as Europe/London, got ""`},
		{&ops.Locale{Name: "en_GB.UTF-8"}, ""},
		{&ops.Locale{Name: ""}, `name: want a locale name such as en_GB.UTF-8, got ""`},

		{&ops.AptPackages{Names: []string{"git", "python3-venv=3.11.2-1"}, Present: true}, ""},
		{&ops.AptPackages{Names: []string{"git vim"}, Present: true}, `names: "git vim" is not a package name (give several names as a list)`},
		{&ops.AptPackages{Names: []string{"git=1.0"}}, `names: "git=1.0": a version cannot be given with present=False`},
		{&ops.PipVenv{Path: "/opt/venv", Packages: []string{"gpiozero>=2.0"}, Requirements: "/opt/req.txt"}, ""},
		{&ops.PipVenv{Path: "/opt/venv", Packages: []string{"-e ."}}, `packages: package "-e .": only name[extras] and version specifiers are supported (no markers, URLs or pip options; use requirements= for those)`},
		{&ops.GitRepo{URL: "https://example.com/r.git", Dest: "/opt/r", Rev: strings.Repeat("AB", 20)}, ""},
		{&ops.GitRepo{URL: "https://example.com/r.git", Dest: "/"}, "dest: a checkout cannot be /"},
		{&ops.GitRepo{URL: "https://example.com/r.git", Dest: "/opt/r", Rev: "refs/heads/main"}, `rev: "refs/heads/main": name the branch or tag without refs/heads/ or refs/tags/`},
		{&ops.GitRepo{URL: "a b", Dest: "/opt/r"}, `url: "a b" is not a URL (it starts with '-' or holds spaces or control characters)`},

		{&ops.SystemdService{Name: "robot", Unit: ptr("[Install]\nWantedBy=multi-user.target\n"), RestartOn: []string{"1"}}, ""},
		{&ops.SystemdService{Name: "robot", Unit: ptr("[Install]\nWantedBy\n")}, `unit: line 2: want KEY=VALUE in [Install], got "WantedBy"`},
		{&ops.ShellRun{Command: "true", Creates: "/x"}, ""},
		{&ops.ShellRun{Command: "true", Creates: "x"}, `creates: want an absolute path, got "x"`},
		{&ops.ShellRun{Command: "\n"}, "command: must not be empty"},

		{&ops.Wifi{SSID: "lab", PSK: "correct horse", Country: "GB"}, ""},
		{&ops.Wifi{SSID: "lab", Country: "GB"}, ""}, // an open network
		{&ops.Wifi{SSID: strings.Repeat("x", 33), Country: "GB"}, "ssid: want 1 to 32 bytes, got 33"},
		{&ops.Wifi{SSID: "lab", PSK: "pässwörd", Country: "GB"}, "psk: a passphrase holds printable ASCII characters only"},
		{&ops.Wifi{SSID: "lab", Country: "UK"}, `country: want an ISO 3166 two-letter code in capitals, such as "GB" or "US", got "UK" (the United Kingdom is "GB")`},

		// The firmware's limits: I2C clocks from 1 kHz to high-speed
		// mode's 3.4 MHz; GPIO 2 to 27, the header's pins (0 and 1 are the
		// HAT EEPROM's). 0 means the default in both.
		{&ops.FirmwareI2C{Enabled: true}, ""},
		{&ops.FirmwareI2C{Enabled: true, Baudrate: 3_400_000}, ""},
		{&ops.FirmwareI2C{Enabled: true, Baudrate: 999}, "baudrate: 999 Hz is not an I2C clock the Pi makes: want 1000 to 3400000 (100000 is standard, 400000 fast mode)"},
		{&ops.FirmwareI2C{Enabled: true, Baudrate: 10_000_000}, "baudrate: 10000000 Hz is not an I2C clock the Pi makes: want 1000 to 3400000 (100000 is standard, 400000 fast mode)"},
		{&ops.FirmwareOneWire{Enabled: true}, ""},
		{&ops.FirmwareOneWire{Enabled: true, GPIO: 2}, ""},
		{&ops.FirmwareOneWire{Enabled: true, GPIO: 27}, ""},
		{&ops.FirmwareOneWire{Enabled: true, GPIO: 1}, "gpio: 1 is not a GPIO pin on the 40-pin header (2–27)"},
		{&ops.FirmwareOneWire{Enabled: true, GPIO: 30}, "gpio: 30 is not a GPIO pin on the 40-pin header (2–27)"},
		{&ops.FirmwareSerial{Enabled: true, Console: ptr(true)}, ""},
		{&ops.FirmwareCamera{Enabled: true, Sensor: "imx708,cam0"}, ""},
		{&ops.FirmwareOverlay{Name: "i2c-gpio", Params: []string{"bus=3", "i2c_gpio_sda=4"}, Key: []string{"bus"}}, ""},
		{&ops.FirmwareOverlay{Name: "i2c-gpio", Key: []string{""}}, `key: "" is not a parameter name`},
		{&ops.FirmwareOverlay{Name: "gpio-fan", Params: []string{"=14"}}, "params: overlay gpio-fan: empty parameter"},
		{&ops.FirmwareOverlay{Name: "gpio-fan", Params: []string{"temp=a,b"}}, `params: overlay gpio-fan: parameter "temp=a,b": a value cannot hold commas, spaces or control characters`},
		{&ops.FirmwareConfig{Name: "gpu_mem", Value: "128", Section: "pi3"}, ""},
		{&ops.FirmwareConfig{Name: "dtparam", Value: "audio=on"}, ""},
		{&ops.FirmwareConfig{Name: "dtparam", Value: "audio=on=off"}, `value: dtparam audio value "on=off": a value cannot hold commas, spaces or "="`},
		{&ops.FirmwareConfig{Name: "arm_boost", Value: "1\n"}, `value: config.txt setting arm_boost value "1\n" has leading or trailing spaces`},
		{&ops.FirmwareConfig{Name: "arm_boost", Value: "1", Section: " all"}, `section: config.txt section " all" has leading or trailing spaces`},
		{&ops.FirmwareCmdline{Add: []string{"quiet", "console=tty1"}, Remove: []string{"splash", "init="}}, ""},
		{&ops.FirmwareCmdline{Remove: []string{`a="b`}}, `remove: kernel parameter "a=\"b" has an unbalanced quote`},
	}
	for _, tt := range tests {
		err := ops.Validate(tt.op)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("Validate(%s %+v) = %q, want %q", tt.op.Kind(), tt.op, got, tt.want)
		}
	}
}

// Every registered op with argument rules is a Validator.
func TestValidatorsRegistered(t *testing.T) {
	without := map[string]bool{"firmware.spi": true, "ssh.server": true}
	for _, kind := range ops.Kinds() {
		op, _ := ops.New(kind)
		if _, ok := op.(ops.Validator); ok == without[kind] {
			t.Errorf("%s: Validator = %v, want %v", kind, ok, !without[kind])
		}
	}
}

// A placeholder's value is unknown: an op failing only because of one is
// valid, and its error (when it fails anyway) shows the placeholder.
func TestValidatePlaceholders(t *testing.T) {
	tests := []struct {
		op   ops.Op
		want string
	}{
		{&ops.Wifi{SSID: "lab", PSK: secretToken, Country: "GB"}, ""},
		{&ops.Wifi{SSID: "lab", PSK: "ab" + secretToken, Country: "GB"}, ""},
		{&ops.User{Name: "robot", PasswordHash: ptr(secretToken)}, ""},
		{&ops.GitRepo{URL: "https://robot:" + secretToken + "@example.com/r.git", Dest: "/opt/r"}, ""},
		// A secret cannot make a relative path absolute.
		{&ops.FilePut{Path: secretToken}, `path: want an absolute path, got "\ue000secret:X\ue001"`},
		{&ops.Wifi{SSID: "lab", PSK: secretToken, Country: "gb"}, `country: want an ISO 3166 two-letter code in capitals, such as "GB" or "US", got "gb" (write "GB")`},
	}
	for _, tt := range tests {
		err := ops.Validate(tt.op)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("Validate(%+v) = %q, want %q", tt.op, got, tt.want)
		}
	}
}

// A hand-edited step is refused when decoded, naming the step, its kind
// and the argument.
func TestStepDecodingValidates(t *testing.T) {
	var s ops.Step
	err := json.Unmarshal([]byte(`{"id":"3","op":"firmware.onewire","args":{"enabled":true,"gpio":30}}`), &s)
	want := "step 3 (firmware.onewire): gpio: 30 is not a GPIO pin on the 40-pin header (2–27)"
	if err == nil || err.Error() != want {
		t.Errorf("Unmarshal = %v, want %s", err, want)
	}
	if err := json.Unmarshal([]byte(`{"id":"1","op":"network.wifi","args":{"ssid":"lab","psk":"`+secretToken+`","country":"GB","hidden":false}}`), &s); err != nil {
		t.Errorf("Unmarshal of a step with a placeholder: %v", err)
	}
}
