package firmware

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Where the boot files are: Raspberry Pi OS Bookworm and later mount the
// boot partition on /boot/firmware; older releases on /boot.
const (
	BootDir       = "/boot/firmware"
	LegacyBootDir = "/boot"
	ConfigName    = "config.txt"
	CmdlineName   = "cmdline.txt"
)

// What raspi-config writes for each interface, always in [all].
const (
	I2CParam         = "i2c_arm"
	I2CBaudrateParam = "i2c_arm_baudrate"
	I2CModule        = "i2c-dev"
	SPIParam         = "spi"
	UARTSetting      = "enable_uart"
	SerialConsole    = "console=serial0,115200"
	OneWireOverlay   = "w1-gpio"
	OneWireGPIOParam = "gpiopin"
	OneWireGPIO      = 4 // the overlay's default pin
	CameraSetting    = "camera_auto_detect"
)

// I2CAliases are other names of the ARM I2C bus parameter in the base
// device tree ("dtparam=i2c=on").
var I2CAliases = []string{"i2c"}

// CameraSensors are the overlays of the cameras Raspberry Pi OS knows. They
// are removed when another sensor is chosen or auto-detection is used.
var CameraSensors = []string{
	"imx219", "imx258", "imx290", "imx296", "imx327", "imx378", "imx415", "imx462",
	"imx477", "imx500", "imx519", "imx708", "ov5647", "ov64a40", "ov7251", "ov9281",
	"irs1125",
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// SetI2C turns the ARM I2C bus on or off in [all]; a non-zero baudrate
// sets its clock (Hz), zero leaves it as it is.
func SetI2C(c *Config, on bool, baudrate int) error {
	if err := CheckBaudrate(baudrate); err != nil {
		return fmt.Errorf("i2c baud rate: %w", err)
	}
	if err := c.SetParam("all", I2CParam, onOff(on), I2CAliases...); err != nil {
		return err
	}
	if baudrate != 0 {
		return c.SetParam("all", I2CBaudrateParam, strconv.Itoa(baudrate))
	}
	return nil
}

// CheckBaudrate returns an error unless b is 0 (unset) or an I2C clock the
// Pi's controller can make.
func CheckBaudrate(b int) error {
	if b != 0 && (b < 1000 || b > 3_400_000) {
		return fmt.Errorf("%d Hz is not an I2C clock the Pi makes: want 1000 to 3400000 (100000 is standard, 400000 fast mode)", b)
	}
	return nil
}

// LiveI2C is what raspi-config runs to apply the I2C setting without a
// reboot.
func LiveI2C(on bool) [][]string {
	cmds := [][]string{{"dtparam", I2CParam + "=" + onOff(on)}}
	if on {
		cmds = append(cmds, []string{"modprobe", I2CModule})
	}
	return cmds
}

// SetSPI turns the SPI bus on or off in [all].
func SetSPI(c *Config, on bool) error {
	return c.SetParam("all", SPIParam, onOff(on))
}

// LiveSPI applies the SPI setting without a reboot.
func LiveSPI(on bool) [][]string {
	return [][]string{{"dtparam", SPIParam + "=" + onOff(on)}}
}

// SetUART turns the primary UART on or off in [all].
func SetUART(c *Config, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	return c.Set("all", UARTSetting, v)
}

// isSerialConsole reports whether token puts a console on a UART.
func isSerialConsole(token string) bool {
	if TokenKey(token) != "console" {
		return false
	}
	_, dev, _ := strings.Cut(token, "=")
	dev, _, _ = strings.Cut(dev, ",")
	return dev == "serial0" || dev == "serial1" || strings.HasPrefix(dev, "ttyAMA") || strings.HasPrefix(dev, "ttyS")
}

// SetSerialConsole adds a login console on serial0 at 115200 baud (first,
// so that the screen stays the main console) or removes every serial
// console, as raspi-config does.
func SetSerialConsole(c *Cmdline, on bool) error {
	keep := ""
	if on {
		keep = SerialConsole
	}
	c.RemoveFunc(func(_ int, t string) bool { return isSerialConsole(t) && t != keep })
	if on {
		return c.AddFirst(SerialConsole)
	}
	return nil
}

// CheckGPIO returns an error unless pin is a GPIO number of the 40-pin
// header (BCM numbering, 2 to 27): 0 and 1 are on it too but belong to
// the HAT ID EEPROM, and higher numbers are not on the header.
func CheckGPIO(pin int) error {
	if pin < 2 || pin > 27 {
		return fmt.Errorf("%d is not a GPIO pin on the 40-pin header (2–27)", pin)
	}
	return nil
}

// OneWire is the overlay for a 1-wire bus on pin (0 for the default, 4).
func OneWire(pin int) (Overlay, error) {
	o := Overlay{Name: OneWireOverlay}
	if pin == 0 || pin == OneWireGPIO {
		return o, nil
	}
	if err := CheckGPIO(pin); err != nil {
		return o, fmt.Errorf("1-wire gpio: %w", err)
	}
	o.Params = []string{OneWireGPIOParam + "=" + strconv.Itoa(pin)}
	return o, nil
}

// SetOneWire makes [all] load one 1-wire bus on pin (0: the default), or
// none.
func SetOneWire(c *Config, on bool, pin int) error {
	o, err := OneWire(pin)
	if err != nil {
		return err
	}
	if !on {
		return c.RemoveOverlays("all", OneWireOverlay)
	}
	return c.EnsureOverlay("all", o, nil)
}

// LiveOneWire loads or unloads the 1-wire overlay without a reboot.
func LiveOneWire(on bool, pin int) [][]string {
	if !on {
		return [][]string{{"dtoverlay", "-r", OneWireOverlay}}
	}
	o, _ := OneWire(pin)
	return [][]string{append([]string{"dtoverlay", o.Name}, o.Params...)}
}

// SetCamera configures the camera in [all]: auto-detected (sensor ""), a
// named sensor overlay ("imx219", or with parameters "imx708,cam0") with
// auto-detection off, or off (no detection, no sensor overlay).
func SetCamera(c *Config, on bool, sensor string) error {
	var want Overlay
	if sensor != "" {
		var err error
		if want, err = ParseOverlay(sensor); err != nil {
			return fmt.Errorf("camera sensor: %w", err)
		}
	}
	for _, o := range c.Overlays("all") {
		if (slices.Contains(CameraSensors, o.Name) || o.Name == want.Name) && !(on && o.Name == want.Name) {
			if err := c.RemoveOverlays("all", o.Name); err != nil {
				return err
			}
		}
	}
	switch {
	case !on:
		return c.Set("all", CameraSetting, "0")
	case sensor == "":
		return c.Set("all", CameraSetting, "1")
	}
	if err := c.Set("all", CameraSetting, "0"); err != nil {
		return err
	}
	return c.EnsureOverlay("all", want, nil)
}

// AddModule returns /etc/modules content that loads module at boot: a
// commented "#module" line is uncommented (as raspi-config does), else the
// module is appended. "-" and "_" are the same in module names.
func AddModule(content []byte, module string) []byte {
	norm := func(s string) string { return strings.ReplaceAll(s, "_", "-") }
	lines := strings.SplitAfter(string(content), "\n")
	commented := -1
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if f := strings.Fields(t); len(f) > 0 && norm(f[0]) == norm(module) {
			return content
		}
		if strings.HasPrefix(t, "#") {
			if f := strings.Fields(strings.TrimLeft(t, "# \t")); len(f) == 1 && norm(f[0]) == norm(module) {
				commented = i
			}
		}
	}
	if commented >= 0 {
		l := lines[commented]
		eol := l[len(strings.TrimRight(l, "\r\n")):]
		lines[commented] = strings.TrimLeft(strings.TrimSpace(l), "# \t") + eol
		return []byte(strings.Join(lines, ""))
	}
	out := bytes.Clone(content)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, module+"\n"...)
}
