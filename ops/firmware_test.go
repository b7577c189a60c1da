package ops_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/opstest"
)

const (
	configTxt  = "/boot/firmware/config.txt"
	cmdlineTxt = "/boot/firmware/cmdline.txt"
)

func readTarget(t *testing.T, dir, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeTarget(t *testing.T, dir, p, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(p)), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// argvs returns the commands of the exec changes, checking that they are
// all live-only.
func argvs(t *testing.T, changes []*ops.Change) []string {
	t.Helper()
	var out []string
	for _, e := range opstest.Execs(changes) {
		if !e.LiveOnly {
			t.Errorf("exec %s is not live-only", e)
		}
		out = append(out, strings.Join(e.Argv, " "))
	}
	return out
}

// converge applies op, checks that the boot file writes need a reboot and
// that a second plan has no changes at all (no exec either), and returns
// the first plan's changes.
func converge(t *testing.T, env *ops.Env, op ops.Op) []*ops.Change {
	t.Helper()
	changes := opstest.Converge(t, env, op)
	for _, c := range changes {
		if c.Kind == ops.Write && strings.HasPrefix(c.Path, "/boot/") && !c.Reboot {
			t.Errorf("%s: write of %s does not ask for a reboot", op.Kind(), c.Path)
		}
	}
	if again := opstest.Plan(t, env, op); len(again) != 0 {
		t.Errorf("%s(%s): second plan = %v, want no changes", op.Kind(), op.Summary(), again)
	}
	return changes
}

func TestFirmwareOps(t *testing.T) {
	pi, err := os.ReadFile(filepath.Join(opstest.Testdata(), "rootfs", "boot", "firmware", "config.txt"))
	if err != nil {
		t.Fatal(err)
	}
	piConfig := string(pi)
	tests := []struct {
		name      string
		config    *string // nil: Pi OS's
		op        ops.Op
		want      string
		wantExecs []string
	}{
		{"i2c on uncomments", nil, &ops.FirmwareI2C{Enabled: true},
			strings.Replace(piConfig, "#dtparam=i2c_arm=on", "dtparam=i2c_arm=on", 1),
			[]string{"dtparam i2c_arm=on", "modprobe i2c-dev"}},
		{"i2c off", nil, &ops.FirmwareI2C{Enabled: false},
			strings.Replace(piConfig, "#dtparam=i2c_arm=on", "dtparam=i2c_arm=off", 1),
			[]string{"dtparam i2c_arm=off"}},
		{"i2c already on", ptr("dtparam=audio=on,i2c_arm\n"), &ops.FirmwareI2C{Enabled: true},
			"dtparam=audio=on,i2c_arm\n", []string{"modprobe i2c-dev"}},
		{"spi on", nil, &ops.FirmwareSPI{Enabled: true},
			strings.Replace(piConfig, "#dtparam=spi=on", "dtparam=spi=on", 1), []string{"dtparam spi=on"}},
		{"spi only in [pi4]", ptr("[pi4]\ndtparam=spi=on\n[all]\n"), &ops.FirmwareSPI{Enabled: true},
			"[pi4]\ndtparam=spi=on\n[all]\ndtparam=spi=on\n", []string{"dtparam spi=on"}},
		{"spi in a combined line", ptr("dtparam=audio=on,spi=off\n"), &ops.FirmwareSPI{Enabled: true},
			"dtparam=audio=on,spi=on\n", []string{"dtparam spi=on"}},
		{"spi after an overlay", ptr("dtoverlay=vc4-kms-v3d\n"), &ops.FirmwareSPI{Enabled: true},
			"dtoverlay=vc4-kms-v3d\ndtoverlay=\ndtparam=spi=on\n", []string{"dtparam spi=on"}},
		{"uart set twice", ptr("enable_uart=0\nx=1\nenable_uart=0\n"), &ops.FirmwareSerial{Enabled: true},
			"x=1\nenable_uart=1\n", nil},
		{"uart, console untouched", nil, &ops.FirmwareSerial{Enabled: true, Console: nil}, piConfig + "enable_uart=1\n", nil},
		{"1-wire", nil, &ops.FirmwareOneWire{Enabled: true, GPIO: 17}, piConfig + "dtoverlay=w1-gpio,gpiopin=17\n",
			[]string{"dtoverlay w1-gpio gpiopin=17"}},
		{"1-wire moved", ptr("dtoverlay=w1-gpio\n"), &ops.FirmwareOneWire{Enabled: true, GPIO: 17}, "dtoverlay=w1-gpio,gpiopin=17\n",
			[]string{"dtoverlay w1-gpio gpiopin=17"}},
		{"1-wire off", ptr("dtoverlay=w1-gpio\n"), &ops.FirmwareOneWire{Enabled: false}, "", []string{"dtoverlay -r w1-gpio"}},
		{"camera sensor", nil, &ops.FirmwareCamera{Enabled: true, Sensor: "imx708"},
			strings.Replace(piConfig, "camera_auto_detect=1", "camera_auto_detect=0", 1) + "dtoverlay=imx708\n", nil},
		{"overlay", nil, &ops.FirmwareOverlay{Name: "disable-bt", Section: "all"}, piConfig + "dtoverlay=disable-bt\n", nil},
		{"overlay in another model's section", nil, &ops.FirmwareOverlay{Name: "dwc2", Params: []string{"dr_mode=peripheral"}, Section: "pi4"},
			piConfig + "\n[pi4]\ndtoverlay=dwc2,dr_mode=peripheral\n[all]\n", nil},
		{"overlay rewritten", ptr("dtoverlay=gpio-fan,gpiopin=14\n"), &ops.FirmwareOverlay{Name: "gpio-fan", Params: []string{"gpiopin=18", "temp=60000"}},
			"dtoverlay=gpio-fan,gpiopin=18,temp=60000\n", nil},
		{"overlay with a key", ptr("dtoverlay=gpio-key,gpio=3\n"), &ops.FirmwareOverlay{Name: "gpio-key", Params: []string{"gpio=21"}, Key: []string{"gpio"}},
			"dtoverlay=gpio-key,gpio=3\ndtoverlay=gpio-key,gpio=21\n", nil},
		{"config", nil, &ops.FirmwareConfig{Name: "gpu_mem", Value: "128", Section: "all"}, piConfig + "gpu_mem=128\n", nil},
		{"config in [cm4]", nil, &ops.FirmwareConfig{Name: "otg_mode", Value: "0", Section: "cm4"},
			strings.Replace(piConfig, "otg_mode=1", "otg_mode=0", 1), nil},
		{"config dtparam", nil, &ops.FirmwareConfig{Name: "dtparam", Value: "i2s=on", Section: "all"},
			strings.Replace(piConfig, "#dtparam=i2s=on", "dtparam=i2s=on", 1), nil},
		{"config, CRLF and no final newline", ptr("a=1\r\nb=2"), &ops.FirmwareConfig{Name: "c", Value: "3"}, "a=1\r\nb=2\r\nc=3", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, dir := opstest.Root(t)
			if tt.config != nil {
				writeTarget(t, dir, configTxt, *tt.config)
			}
			env := opstest.Env(sys)
			changes := converge(t, env, tt.op)
			if got := readTarget(t, dir, configTxt); got != tt.want {
				t.Errorf("config.txt =\n%q\nwant\n%q", got, tt.want)
			}
			if got := argvs(t, changes); !slices.Equal(got, tt.wantExecs) {
				t.Errorf("execs = %q, want %q", got, tt.wantExecs)
			}
		})
	}
}

func TestFirmwareI2CModules(t *testing.T) {
	sys, dir := opstest.Root(t)
	env := opstest.Env(sys)
	converge(t, env, &ops.FirmwareI2C{Enabled: true, Baudrate: 400000})
	if got := readTarget(t, dir, "/etc/modules"); !strings.HasSuffix(got, "\n\ni2c-dev\n") {
		t.Errorf("/etc/modules = %q, want i2c-dev appended", got)
	}
	if got := readTarget(t, dir, configTxt); !strings.Contains(got, "dtparam=i2c_arm=on\n") || !strings.Contains(got, "dtparam=audio=on\ndtparam=i2c_arm_baudrate=400000\n") {
		t.Errorf("config.txt =\n%s\nwant i2c_arm on and its baud rate after dtparam=audio=on", got)
	}
}

func TestFirmwareKeepsModeAndOwner(t *testing.T) {
	sys, dir := opstest.Root(t)
	// The FAT boot partition shows its files as 0755.
	if err := os.Chmod(filepath.Join(dir, "boot", "firmware", "config.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	changes := opstest.Plan(t, opstest.Env(sys), &ops.FirmwareSPI{Enabled: true})
	if len(changes) == 0 || changes[0].Kind != ops.Write || changes[0].Mode != 0o755 || changes[0].UID != 0 || changes[0].GID != 0 {
		t.Fatalf("changes = %v, want a write of config.txt 0755 0:0", changes)
	}
}

func TestFirmwareMissingConfig(t *testing.T) {
	sys, dir := opstest.Root(t)
	if err := os.Remove(filepath.Join(dir, "boot", "firmware", "config.txt")); err != nil {
		t.Fatal(err)
	}
	env := opstest.Env(sys)
	changes := converge(t, env, &ops.FirmwareConfig{Name: "enable_uart", Value: "1", Section: "all"})
	if got := opstest.Files(changes); !slices.Equal(got, []string{"write /boot/firmware/config.txt (0644 0:0, 14 bytes)"}) {
		t.Errorf("changes = %q", got)
	}
	if got := readTarget(t, dir, configTxt); got != "enable_uart=1\n" {
		t.Errorf("config.txt = %q", got)
	}
	// Removing what is not there creates nothing.
	if err := os.Remove(filepath.Join(dir, "boot", "firmware", "config.txt")); err != nil {
		t.Fatal(err)
	}
	if changes := opstest.Plan(t, env, &ops.FirmwareOneWire{Enabled: false}); len(changes) != 0 {
		t.Errorf("1-wire off on a missing config.txt = %v, want no changes", changes)
	}
}

func TestFirmwareLegacyBoot(t *testing.T) {
	sys, dir := opstest.Root(t)
	boot := filepath.Join(dir, "boot")
	for _, name := range []string{"config.txt", "cmdline.txt"} {
		if err := os.Rename(filepath.Join(boot, "firmware", name), filepath.Join(boot, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(boot, "firmware")); err != nil {
		t.Fatal(err)
	}
	env := opstest.Env(sys)
	changes := converge(t, env, &ops.FirmwareSerial{Enabled: true, Console: ptr(false)})
	if got := opstest.Files(changes); len(got) != 2 || !strings.Contains(got[0], "/boot/config.txt") || !strings.Contains(got[1], "/boot/cmdline.txt") {
		t.Errorf("changes = %q, want writes of /boot/config.txt and /boot/cmdline.txt", got)
	}
	if got := readTarget(t, dir, "/boot/cmdline.txt"); strings.Contains(got, "serial0") {
		t.Errorf("cmdline.txt = %q, want no serial console", got)
	}
}

func TestFirmwareCmdline(t *testing.T) {
	pi, err := os.ReadFile(filepath.Join(opstest.Testdata(), "rootfs", "boot", "firmware", "cmdline.txt"))
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSuffix(string(pi), "\n")
	for _, tt := range []struct {
		name    string
		cmdline *string
		op      ops.Op
		want    string
	}{
		{"add and remove", nil, &ops.FirmwareCmdline{Add: []string{"cgroup_enable=memory"}, Remove: []string{"quiet"}},
			strings.Replace(line, " quiet", "", 1) + " cgroup_enable=memory\n"},
		{"replace a key", nil, &ops.FirmwareCmdline{Add: []string{"fsck.repair=no"}},
			strings.Replace(line, "fsck.repair=yes", "fsck.repair=no", 1) + "\n"},
		{"remove a key", nil, &ops.FirmwareCmdline{Remove: []string{"console="}},
			strings.Replace(line, "console=serial0,115200 console=tty1 ", "", 1) + "\n"},
		{"remove a bare name and its values", ptr("a splash=1 splash b\n"), &ops.FirmwareCmdline{Remove: []string{"splash"}}, "a b\n"},
		{"no trailing newline", ptr("console=serial0,115200 console=tty1 root=x"), &ops.FirmwareSerial{Enabled: true, Console: ptr(false)},
			"console=tty1 root=x"},
		{"serial console added first", ptr("console=tty1 root=x\n"), &ops.FirmwareSerial{Enabled: true, Console: ptr(true)},
			"console=serial0,115200 console=tty1 root=x\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sys, dir := opstest.Root(t)
			if tt.cmdline != nil {
				writeTarget(t, dir, cmdlineTxt, *tt.cmdline)
			}
			changes := converge(t, opstest.Env(sys), tt.op)
			if got := readTarget(t, dir, cmdlineTxt); got != tt.want {
				t.Errorf("cmdline.txt = %q, want %q", got, tt.want)
			}
			if execs := opstest.Execs(changes); len(execs) != 0 {
				t.Errorf("execs = %v, want none", execs)
			}
		})
	}
}

func TestFirmwareOverlayInstances(t *testing.T) {
	sys, dir := opstest.Root(t)
	env := opstest.Env(sys)
	bus3 := &ops.FirmwareOverlay{Name: "i2c-gpio", Params: []string{"bus=3", "i2c_gpio_sda=4", "i2c_gpio_scl=5"}, Section: "all"}
	bus4 := &ops.FirmwareOverlay{Name: "i2c-gpio", Params: []string{"bus=4", "i2c_gpio_sda=23", "i2c_gpio_scl=24"}, Section: "all"}
	opstest.Apply(t, env, bus3)
	opstest.Apply(t, env, bus4)
	for _, op := range []ops.Op{bus3, bus4} {
		if changes := opstest.Plan(t, env, op); len(changes) != 0 {
			t.Errorf("%s: second plan = %v, want none: instances fight", op.Summary(), changes)
		}
	}
	got := readTarget(t, dir, configTxt)
	if !strings.HasSuffix(got, "[all]\ndtoverlay=i2c-gpio,bus=3,i2c_gpio_sda=4,i2c_gpio_scl=5\ndtoverlay=i2c-gpio,bus=4,i2c_gpio_sda=23,i2c_gpio_scl=24\n") {
		t.Errorf("config.txt ends %q", got[len(got)-120:])
	}
}

func TestFirmwareErrors(t *testing.T) {
	sys, _ := opstest.Root(t)
	env := opstest.Env(sys)
	for _, tt := range []struct {
		op   ops.Op
		want string
	}{
		{&ops.FirmwareI2C{Enabled: true, Baudrate: 5}, "baudrate: 5 Hz is not an I2C clock"},
		{&ops.FirmwareOneWire{Enabled: true, GPIO: 40}, "gpio: 40 is not a GPIO pin"},
		{&ops.FirmwareSerial{Enabled: false, Console: ptr(true)}, "console: a serial console needs the UART"},
		{&ops.FirmwareOverlay{Name: "bad name", Section: "all"}, "name: overlay name"},
		{&ops.FirmwareOverlay{Name: "foo", Section: "[pi4]"}, "section: config.txt section \"[pi4]\": want a filter without brackets"},
		{&ops.FirmwareOverlay{Name: "foo", Key: []string{"a=b"}}, `key: "a=b" is not a parameter name`},
		{&ops.FirmwareConfig{Name: "dtoverlay", Value: "foo"}, "name: config.txt setting \"dtoverlay\": use firmware.overlay"},
		{&ops.FirmwareConfig{Name: "gpu mem", Value: "1"}, "name: config.txt setting name \"gpu mem\": only letters"},
		{&ops.FirmwareCamera{Enabled: true, Sensor: "imx 219"}, "sensor: overlay name"},
		{&ops.FirmwareCmdline{Add: []string{"a b"}}, "add: kernel parameter \"a b\": no spaces"},
		{&ops.FirmwareCmdline{Add: []string{"quiet"}, Remove: []string{"quiet"}}, `remove: "quiet" is also added`},
	} {
		_, err := ops.Plan(t.Context(), env, tt.op)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s(%s).Plan: error = %v, want one containing %q", tt.op.Kind(), tt.op.Summary(), err, tt.want)
		}
	}
}

// TestFirmwareLiveNeedsProgram: on a live target, dtparam runs when the
// target has it (a Pi) and is left out when it does not (the change takes
// effect at boot); modprobe is there either way.
func TestFirmwareLiveNeedsProgram(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dtparam  bool
		wantExec []string
	}{
		{"a Pi", true, []string{"dtparam i2c_arm=on", "modprobe i2c-dev"}},
		{"not a Pi", false, []string{"modprobe i2c-dev"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newLiveRoot(t, nil)
			s := setup{write("/usr/sbin/modprobe", "", 0o755, 0, 0)}
			if tc.dtparam {
				s = append(s, write("/usr/bin/dtparam", "", 0o755, 0, 0))
			}
			s.apply(t, root.System)
			env := opstest.Env(root)
			env.Runner = root
			changes := opstest.Plan(t, env, &ops.FirmwareI2C{Enabled: true})
			var got []string
			for _, e := range opstest.Execs(changes) {
				got = append(got, strings.Join(e.Argv, " "))
			}
			if !slices.Equal(got, tc.wantExec) {
				t.Errorf("live commands = %q, want %q", got, tc.wantExec)
			}
		})
	}
}
