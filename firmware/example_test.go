package firmware_test

import (
	"fmt"

	"github.com/pibake/pibake/firmware"
)

func ExampleConfig_SetParam() {
	c := firmware.ParseConfig([]byte("# Uncomment to enable I2C\n#dtparam=i2c_arm=on\ndtparam=audio=on\n\n[pi4]\ndtparam=spi=on\n\n[all]\n"))
	_ = c.SetParam("all", "i2c_arm", "on")
	_ = c.SetParam("all", "spi", "on")
	fmt.Print(string(c.Bytes()))
	// Output:
	// # Uncomment to enable I2C
	// dtparam=i2c_arm=on
	// dtparam=audio=on
	// dtparam=spi=on
	//
	// [pi4]
	// dtparam=spi=on
	//
	// [all]
}

func ExampleConfig_EnsureOverlay() {
	c := firmware.ParseConfig([]byte("dtoverlay=i2c-gpio,bus=3\n"))
	bus4 := firmware.Overlay{Name: "i2c-gpio", Params: []string{"bus=4", "i2c_gpio_sda=23", "i2c_gpio_scl=24"}}
	_ = c.EnsureOverlay("all", bus4, firmware.OverlayKey("i2c-gpio"))
	fmt.Print(string(c.Bytes()))
	// Output:
	// dtoverlay=i2c-gpio,bus=3
	// dtoverlay=i2c-gpio,bus=4,i2c_gpio_sda=23,i2c_gpio_scl=24
}

func ExampleCmdline_Add() {
	c := firmware.ParseCmdline([]byte("console=serial0,115200 console=tty1 root=PARTUUID=8a438930-02 rootwait\n"))
	_ = c.Add("cfg80211.ieee80211_regdom=GB")
	c.Remove("console=serial0,115200")
	fmt.Print(string(c.Bytes()))
	// Output:
	// console=tty1 root=PARTUUID=8a438930-02 rootwait cfg80211.ieee80211_regdom=GB
}
