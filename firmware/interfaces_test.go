package firmware

import (
	"slices"
	"strings"
	"testing"
)

func TestInterfaces(t *testing.T) {
	pi := piOS(t)
	runConfigEdits(t, []configEdit{
		{"i2c on", pi, func(c *Config) error { return SetI2C(c, true, 0) },
			strings.Replace(pi, "#dtparam=i2c_arm=on", "dtparam=i2c_arm=on", 1), ""},
		{"i2c on at 400 kHz", pi, func(c *Config) error { return SetI2C(c, true, 400000) },
			strings.Replace(strings.Replace(pi, "#dtparam=i2c_arm=on", "dtparam=i2c_arm=on", 1),
				"dtparam=audio=on\n", "dtparam=audio=on\ndtparam=i2c_arm_baudrate=400000\n", 1), ""},
		{"i2c off", pi, func(c *Config) error { return SetI2C(c, false, 0) },
			strings.Replace(pi, "#dtparam=i2c_arm=on", "dtparam=i2c_arm=off", 1), ""},
		{"i2c bad baud rate", pi, func(c *Config) error { return SetI2C(c, true, 5) }, "", "baud rate"},
		{"spi on", pi, func(c *Config) error { return SetSPI(c, true) },
			strings.Replace(pi, "#dtparam=spi=on", "dtparam=spi=on", 1), ""},
		{"uart", pi, func(c *Config) error { return SetUART(c, true) }, pi + "enable_uart=1\n", ""},
		{"1-wire default pin", pi, func(c *Config) error { return SetOneWire(c, true, 0) }, pi + "dtoverlay=w1-gpio\n", ""},
		{"1-wire pin 17", pi + "dtoverlay=w1-gpio\n", func(c *Config) error { return SetOneWire(c, true, 17) },
			pi + "dtoverlay=w1-gpio,gpiopin=17\n", ""},
		{"1-wire off", pi + "dtoverlay=w1-gpio,gpiopin=17\n", func(c *Config) error { return SetOneWire(c, false, 17) }, pi, ""},
		{"1-wire bad pin", pi, func(c *Config) error { return SetOneWire(c, true, 40) }, "", "1-wire gpio: 40 is not a GPIO pin"},
		{"camera auto", pi, func(c *Config) error { return SetCamera(c, true, "") }, pi, ""},
		{"camera sensor", pi, func(c *Config) error { return SetCamera(c, true, "imx219") },
			strings.Replace(pi, "camera_auto_detect=1", "camera_auto_detect=0", 1) + "dtoverlay=imx219\n", ""},
		{"camera sensor changed", pi + "dtoverlay=imx219\n", func(c *Config) error { return SetCamera(c, true, "imx708,cam0") },
			strings.Replace(pi, "camera_auto_detect=1", "camera_auto_detect=0", 1) + "dtoverlay=imx708,cam0\n", ""},
		{"camera off", pi + "dtoverlay=imx219\n", func(c *Config) error { return SetCamera(c, false, "") },
			strings.Replace(pi, "camera_auto_detect=1", "camera_auto_detect=0", 1), ""},
		{"camera bad sensor", pi, func(c *Config) error { return SetCamera(c, true, "imx 219") }, "", "camera sensor"},
	})
}

func TestLive(t *testing.T) {
	for _, tt := range []struct {
		got, want [][]string
	}{
		{LiveI2C(true), [][]string{{"dtparam", "i2c_arm=on"}, {"modprobe", "i2c-dev"}}},
		{LiveI2C(false), [][]string{{"dtparam", "i2c_arm=off"}}},
		{LiveSPI(true), [][]string{{"dtparam", "spi=on"}}},
		{LiveOneWire(true, 0), [][]string{{"dtoverlay", "w1-gpio"}}},
		{LiveOneWire(true, 17), [][]string{{"dtoverlay", "w1-gpio", "gpiopin=17"}}},
		{LiveOneWire(false, 17), [][]string{{"dtoverlay", "-r", "w1-gpio"}}},
	} {
		if !slices.EqualFunc(tt.got, tt.want, slices.Equal) {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestAddModule(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "i2c-dev\n"},
		{"# /etc/modules\n\n", "# /etc/modules\n\ni2c-dev\n"},
		{"foo", "foo\ni2c-dev\n"},
		{"i2c-dev\n", "i2c-dev\n"},
		{"i2c_dev\n", "i2c_dev\n"},
		{"#i2c-dev\nfoo\n", "i2c-dev\nfoo\n"},
		{"# i2c-dev\r\n", "i2c-dev\r\n"},
		{"# load i2c-dev here\n", "# load i2c-dev here\ni2c-dev\n"},
	} {
		if got := string(AddModule([]byte(tt.in), "i2c-dev")); got != tt.want {
			t.Errorf("AddModule(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
