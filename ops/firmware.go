package ops

import (
	"context"
	"strings"
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
	Register("network.wifi", func() Op { return new(Wifi) })
}

// FirmwareI2C is the ARM I2C bus: dtparam=i2c_arm (and its baud rate) in
// config.txt and i2c-dev loaded at boot.
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
type FirmwareOverlay struct {
	Name    string   `json:"name"`
	Params  []string `json:"params,omitempty"`
	Section string   `json:"section"`
}

// FirmwareConfig is a name=value setting in a config.txt section.
type FirmwareConfig struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	Section string `json:"section"`
}

// FirmwareCmdline adds and removes kernel command line tokens.
type FirmwareCmdline struct {
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// Wifi is a NetworkManager connection for a Wi-Fi network, and the
// regulatory country that unblocks the radio.
type Wifi struct {
	SSID    string `json:"ssid"`
	PSK     string `json:"psk"`
	Country string `json:"country"`
	Hidden  bool   `json:"hidden"`
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
func (o *FirmwareConfig) Kind() string     { return "firmware.config" }
func (o *FirmwareConfig) Summary() string  { return o.Name + "=" + o.Value }
func (o *FirmwareCmdline) Kind() string    { return "firmware.cmdline" }
func (o *FirmwareCmdline) Summary() string { return strings.Join(append(o.Add, o.Remove...), " ") }
func (o *Wifi) Kind() string               { return "network.wifi" }
func (o *Wifi) Summary() string            { return o.SSID }

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func (o *FirmwareI2C) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *FirmwareSPI) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *FirmwareSerial) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *FirmwareOneWire) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *FirmwareCamera) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *FirmwareOverlay) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *FirmwareConfig) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *FirmwareCmdline) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *Wifi) Plan(ctx context.Context, env *Env) ([]*Change, error) { return nil, errNotImplemented }
