package ops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/pibake/pibake/firmware"
)

func init() {
	Register("firmware.i2c", func() Op { return new(FirmwareI2C) })
	Register("firmware.spi", func() Op { return new(FirmwareSPI) })
	Register("firmware.serial", func() Op { return new(FirmwareSerial) })
	Register("firmware.onewire", func() Op { return new(FirmwareOneWire) })
	Register("firmware.camera", func() Op { return new(FirmwareCamera) })
	Register("firmware.overlay", func() Op { return new(FirmwareOverlay) })
	Register("firmware.config", func() Op { return new(FirmwareConfig) })
	Register("firmware.cmdline", func() Op { return new(FirmwareCmdline) })
}

// FirmwareI2C is the ARM I2C bus: dtparam=i2c_arm (and its baud rate) in
// config.txt and i2c-dev loaded at boot. Turning the bus off leaves i2c-dev
// in /etc/modules, as raspi-config does: it is harmless without a bus.
type FirmwareI2C struct {
	Enabled  bool `json:"enabled"`
	Baudrate int  `json:"baudrate,omitempty"`
}

// FirmwareSPI is the SPI bus: dtparam=spi.
type FirmwareSPI struct {
	Enabled bool `json:"enabled"`
}

// FirmwareSerial is the UART (enable_uart) and, optionally, a login
// console on it (console=serial0,115200 in cmdline.txt; nil leaves the
// command line alone).
type FirmwareSerial struct {
	Enabled bool  `json:"enabled"`
	Console *bool `json:"console,omitempty"`
}

// FirmwareOneWire is the 1-wire bus: dtoverlay=w1-gpio on a GPIO pin.
type FirmwareOneWire struct {
	Enabled bool `json:"enabled"`
	GPIO    int  `json:"gpio,omitempty"` // default 4
}

// FirmwareCamera is the camera: auto-detected, or a named sensor overlay.
type FirmwareCamera struct {
	Enabled bool   `json:"enabled"`
	Sensor  string `json:"sensor,omitempty"` // "imx219": camera_auto_detect=0 and its overlay
}

// FirmwareOverlay is a dtoverlay= line in a config.txt section. Params are
// "name=value" or bare "name" tokens, in order.
//
// An overlay has one instance per section unless Key names the params that
// tell its instances apart: then a line with the same name and the same
// values of those params is the one edited, and others are left alone.
// Without Key, overlays known to be loaded several times use their usual
// key (i2c-gpio: bus; w1-gpio: gpiopin; see firmware.OverlayKey).
type FirmwareOverlay struct {
	Name    string   `json:"name"`
	Params  []string `json:"params,omitempty"`
	Section string   `json:"section"`
	Key     []string `json:"key,omitempty"`
}

// FirmwareConfig is a name=value setting in a config.txt section. A
// "dtparam" (or "device_tree_param") name with a "param=value" value sets
// that one base device tree parameter.
type FirmwareConfig struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	Section string `json:"section"`
}

// FirmwareCmdline adds and removes kernel command line tokens. An added
// key=value token replaces the token with the same key (console= and other
// keys that may repeat excepted). A removed token is removed exactly; a
// bare "name" also removes "name=..." tokens, and "name=" removes every
// token with that key.
type FirmwareCmdline struct {
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

func (o *FirmwareI2C) Kind() string        { return "firmware.i2c" }
func (o *FirmwareI2C) Summary() string     { return onOff(o.Enabled) }
func (o *FirmwareSPI) Kind() string        { return "firmware.spi" }
func (o *FirmwareSPI) Summary() string     { return onOff(o.Enabled) }
func (o *FirmwareSerial) Kind() string     { return "firmware.serial" }
func (o *FirmwareSerial) Summary() string  { return onOff(o.Enabled) }
func (o *FirmwareOneWire) Kind() string    { return "firmware.onewire" }
func (o *FirmwareOneWire) Summary() string { return onOff(o.Enabled) }
func (o *FirmwareCamera) Kind() string     { return "firmware.camera" }
func (o *FirmwareCamera) Summary() string  { return onOff(o.Enabled) }
func (o *FirmwareOverlay) Kind() string    { return "firmware.overlay" }
func (o *FirmwareOverlay) Summary() string {
	return strings.Join(append([]string{o.Name}, o.Params...), ",")
}
func (o *FirmwareConfig) Kind() string    { return "firmware.config" }
func (o *FirmwareConfig) Summary() string { return o.Name + "=" + o.Value }
func (o *FirmwareCmdline) Kind() string   { return "firmware.cmdline" }
func (o *FirmwareCmdline) Summary() string {
	parts := slices.Clone(o.Add)
	for _, r := range o.Remove {
		parts = append(parts, "-"+r)
	}
	return strings.Join(parts, " ")
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// bootFile is where the named boot file is: in /boot/firmware when that is a
// directory (Raspberry Pi OS Bookworm and later), else in /boot.
func bootFile(env *Env, name string) (string, error) {
	fi, err := env.Sys.Stat(firmware.BootDir)
	switch {
	case err == nil && fi.IsDir():
		return path.Join(firmware.BootDir, name), nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return "", err
	}
	return path.Join(firmware.LegacyBootDir, name), nil
}

// fileEdit plans an edit of the file at p, keeping its mode and owner (a
// new file is 0644 root). A missing file reads as empty; it is created only
// if the edit gives it content, and only when create is true.
type fileEdit struct {
	path      string
	create    bool
	reboot    bool
	sensitive bool
	edit      func(old []byte) ([]byte, error)
}

func (f fileEdit) plan(env *Env) ([]*Change, error) {
	fi, err := env.LstatIfExists(f.path)
	if err != nil {
		return nil, err
	}
	spec := FileSpec{Path: f.path, Mode: 0o644, Reboot: f.reboot, Sensitive: f.sensitive}
	var old []byte
	if fi != nil {
		if !fi.IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file", f.path)
		}
		if old, err = env.Sys.ReadFile(f.path); err != nil {
			return nil, err
		}
		spec.Mode = ModeOf(fi.Mode)
		spec.Owner, spec.Group = strconv.Itoa(fi.UID), strconv.Itoa(fi.GID)
	}
	content, err := f.edit(old)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.path, err)
	}
	if fi != nil && bytes.Equal(content, old) || fi == nil && len(content) == 0 {
		return nil, nil
	}
	if fi == nil && !f.create {
		return nil, fmt.Errorf("%s does not exist", f.path)
	}
	spec.Content = content
	return env.EnsureFile(spec)
}

// editConfig plans an edit of config.txt.
func editConfig(env *Env, edit func(c *firmware.Config) error) ([]*Change, error) {
	p, err := bootFile(env, firmware.ConfigName)
	if err != nil {
		return nil, err
	}
	return fileEdit{path: p, create: true, reboot: true, edit: func(old []byte) ([]byte, error) {
		c := firmware.ParseConfig(old)
		if err := edit(c); err != nil {
			return nil, err
		}
		return c.Bytes(), nil
	}}.plan(env)
}

// editCmdline plans an edit of cmdline.txt, which must exist: a command
// line made from nothing would not boot.
func editCmdline(env *Env, edit func(c *firmware.Cmdline) error) ([]*Change, error) {
	p, err := bootFile(env, firmware.CmdlineName)
	if err != nil {
		return nil, err
	}
	return fileEdit{path: p, reboot: true, edit: func(old []byte) ([]byte, error) {
		c := firmware.ParseCmdline(old)
		if err := edit(c); err != nil {
			return nil, err
		}
		return c.Bytes(), nil
	}}.plan(env)
}

// live turns commands into live-only exec changes. On a live target, a
// command whose program the target does not have (dtparam off a Pi,
// nmcli without NetworkManager) is left out: what it would apply now
// takes effect at the next boot, as on any other target.
func live(env *Env, description string, cmds [][]string) []*Change {
	var out []*Change
	for _, argv := range cmds {
		if env.Live() && !hasProgram(env, argv[0]) {
			continue
		}
		out = append(out, &Change{Kind: Run, Exec: &Exec{Description: description, Argv: argv, LiveOnly: true}})
	}
	return out
}

// hasProgram reports whether the target has name in a usual directory of
// PATH.
func hasProgram(env *Env, name string) bool {
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if fi, err := env.Sys.Stat(dir + "/" + name); err == nil && fi.IsRegular() {
			return true
		}
	}
	return false
}

// section is a config.txt section argument: "" is "all".
func section(s string) string {
	if s == "" {
		return "all"
	}
	return s
}

func checkSection(s string) error {
	if err := firmware.CheckSection(section(s)); err != nil {
		return fmt.Errorf("section: %w", err)
	}
	return nil
}

// Validate: Baudrate 0 leaves the rate alone.
func (o *FirmwareI2C) Validate() error {
	if err := firmware.CheckBaudrate(o.Baudrate); err != nil {
		return fmt.Errorf("baudrate: %w", err)
	}
	return nil
}

func (o *FirmwareSerial) Validate() error {
	if o.Console != nil && *o.Console && !o.Enabled {
		return errors.New("console: a serial console needs the UART: set enabled too, or console=False")
	}
	return nil
}

// Validate: GPIO 0 is the default pin.
func (o *FirmwareOneWire) Validate() error {
	if o.GPIO == 0 {
		return nil
	}
	if err := firmware.CheckGPIO(o.GPIO); err != nil {
		return fmt.Errorf("gpio: %w", err)
	}
	return nil
}

func (o *FirmwareCamera) Validate() error {
	if o.Sensor == "" {
		return nil
	}
	if _, err := firmware.ParseOverlay(o.Sensor); err != nil {
		return fmt.Errorf("sensor: %w", err)
	}
	return nil
}

func (o *FirmwareOverlay) Validate() error {
	if err := firmware.CheckOverlayName(o.Name); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if err := (firmware.Overlay{Name: o.Name, Params: o.Params}).Check(); err != nil {
		return fmt.Errorf("params: %w", err)
	}
	for _, k := range o.Key {
		if k == "" || strings.ContainsAny(k, "=, \t") {
			return fmt.Errorf("key: %q is not a parameter name", k)
		}
	}
	return checkSection(o.Section)
}

func (o *FirmwareConfig) Validate() error {
	if err := checkSection(o.Section); err != nil {
		return err
	}
	if o.Name == "dtparam" || o.Name == "device_tree_param" {
		if err := firmware.CheckParam(o.param()); err != nil {
			return fmt.Errorf("value: %w", err)
		}
		return nil
	}
	if err := firmware.CheckSettingName(o.Name); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if err := firmware.CheckSetting(o.Name, o.Value); err != nil {
		return fmt.Errorf("value: %w", err)
	}
	return nil
}

// param is the base device tree parameter a dtparam setting's Value sets:
// "name=value", or a bare "name", which is on.
func (o *FirmwareConfig) param() (name, value string) {
	name, value, ok := strings.Cut(o.Value, "=")
	if !ok {
		return o.Value, "on"
	}
	return name, value
}

func (o *FirmwareCmdline) Validate() error {
	for i, t := range slices.Concat(o.Add, o.Remove) {
		if err := firmware.CheckToken(strings.TrimSuffix(t, "=")); err != nil {
			if i < len(o.Add) {
				return fmt.Errorf("add: %w", err)
			}
			return fmt.Errorf("remove: %w", err)
		}
	}
	for _, t := range o.Add {
		if slices.Contains(o.Remove, t) {
			return fmt.Errorf("remove: %q is also added", t)
		}
	}
	return nil
}

func (o *FirmwareI2C) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	config, err := editConfig(env, func(c *firmware.Config) error { return firmware.SetI2C(c, o.Enabled, o.Baudrate) })
	if err != nil {
		return nil, err
	}
	var modules []*Change
	if o.Enabled {
		modules, err = fileEdit{path: "/etc/modules", create: true, edit: func(old []byte) ([]byte, error) {
			return firmware.AddModule(old, firmware.I2CModule), nil
		}}.plan(env)
		if err != nil {
			return nil, err
		}
	}
	changes := append(config, modules...)
	switch {
	case len(config) > 0:
		changes = append(changes, live(env, "apply I2C now", firmware.LiveI2C(o.Enabled))...)
	case len(modules) > 0:
		changes = append(changes, live(env, "load the I2C device driver now", [][]string{{"modprobe", firmware.I2CModule}})...)
	}
	return changes, nil
}

func (o *FirmwareSPI) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	changes, err := editConfig(env, func(c *firmware.Config) error { return firmware.SetSPI(c, o.Enabled) })
	if err != nil || len(changes) == 0 {
		return changes, err
	}
	return append(changes, live(env, "apply SPI now", firmware.LiveSPI(o.Enabled))...), nil
}

func (o *FirmwareSerial) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	changes, err := editConfig(env, func(c *firmware.Config) error { return firmware.SetUART(c, o.Enabled) })
	if err != nil || o.Console == nil {
		return changes, err
	}
	cmdline, err := editCmdline(env, func(c *firmware.Cmdline) error { return firmware.SetSerialConsole(c, *o.Console) })
	if err != nil {
		return nil, err
	}
	return append(changes, cmdline...), nil
}

func (o *FirmwareOneWire) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	changes, err := editConfig(env, func(c *firmware.Config) error { return firmware.SetOneWire(c, o.Enabled, o.GPIO) })
	if err != nil || len(changes) == 0 {
		return changes, err
	}
	return append(changes, live(env, "apply 1-wire now", firmware.LiveOneWire(o.Enabled, o.GPIO))...), nil
}

func (o *FirmwareCamera) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	// Cameras are probed at boot: there is nothing to apply live.
	return editConfig(env, func(c *firmware.Config) error { return firmware.SetCamera(c, o.Enabled, o.Sensor) })
}

func (o *FirmwareOverlay) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	overlay := firmware.Overlay{Name: o.Name, Params: o.Params}
	key := o.Key
	if key == nil {
		key = firmware.OverlayKey(o.Name)
	}
	return editConfig(env, func(c *firmware.Config) error { return c.EnsureOverlay(section(o.Section), overlay, key) })
}

func (o *FirmwareConfig) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	s := section(o.Section)
	if o.Name == "dtparam" || o.Name == "device_tree_param" {
		name, value := o.param()
		return editConfig(env, func(c *firmware.Config) error { return c.SetParam(s, name, value) })
	}
	return editConfig(env, func(c *firmware.Config) error { return c.Set(s, o.Name, o.Value) })
}

func (o *FirmwareCmdline) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return editCmdline(env, func(c *firmware.Cmdline) error {
		for _, t := range o.Remove {
			switch key, _, hasValue := strings.Cut(t, "="); {
			case strings.HasSuffix(t, "="):
				c.RemoveKey(key)
			case hasValue:
				c.Remove(t)
			default:
				c.RemoveKey(t)
			}
		}
		for _, t := range o.Add {
			if err := c.Add(t); err != nil {
				return err
			}
		}
		return nil
	})
}
