package firmware

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// piOS is Raspberry Pi OS Bookworm's config.txt.
func piOS(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "rootfs", "boot", "firmware", "config.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseConfigRoundTrip(t *testing.T) {
	for _, in := range []string{
		"", "\n", "a=1", "a=1\n", "a=1\r\nb=2\r\n", "a=1\r\nb=2", "\r\n\r\n", "x\ry\n",
		"  # comment\n[pi4]\n\tgpu_mem = 64 \n[all]\n", piOS(t),
	} {
		if got := string(ParseConfig([]byte(in)).Bytes()); got != in {
			t.Errorf("ParseConfig(%q).Bytes() = %q", in, got)
		}
	}
}

type configEdit struct {
	name    string
	in      string
	edit    func(c *Config) error
	want    string
	wantErr string
}

func runConfigEdits(t *testing.T, tests []configEdit) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ParseConfig([]byte(tt.in))
			err := tt.edit(c)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(c.Bytes()); got != tt.want {
				t.Errorf("edit of\n%s\n= %q\nwant %q", tt.in, got, tt.want)
			}
			// Editing again changes nothing.
			again := ParseConfig(c.Bytes())
			if err := tt.edit(again); err != nil {
				t.Fatalf("second edit: %v", err)
			}
			if got := string(again.Bytes()); got != tt.want {
				t.Errorf("second edit = %q, want %q (not idempotent)", got, tt.want)
			}
		})
	}
}

func set(section, name, value string) func(*Config) error {
	return func(c *Config) error { return c.Set(section, name, value) }
}

func TestSet(t *testing.T) {
	pi := piOS(t)
	runConfigEdits(t, []configEdit{
		{"append to the final [all]", pi, set("all", "enable_uart", "1"), pi + "enable_uart=1\n", ""},
		{"edit in place", pi, set("all", "camera_auto_detect", "0"),
			strings.Replace(pi, "camera_auto_detect=1", "camera_auto_detect=0", 1), ""},
		{"in state", pi, set("all", "arm_64bit", "1"), pi, ""},
		{"not in another model's section", pi, set("all", "otg_mode", "0"), pi + "otg_mode=0\n", ""},
		{"in a model's section", pi, set("cm4", "otg_mode", "0"),
			strings.Replace(pi, "otg_mode=1", "otg_mode=0", 1), ""},
		{"into an existing section", pi, set("cm5", "gpu_mem", "128"),
			strings.Replace(pi, "dtoverlay=dwc2,dr_mode=host\n", "dtoverlay=dwc2,dr_mode=host\ngpu_mem=128\n", 1), ""},
		{"duplicates: last edited, conflicting removed", "gpu_mem=64\nx=1\ngpu_mem=32\n", set("all", "gpu_mem", "128"),
			"x=1\ngpu_mem=128\n", ""},
		{"duplicate with the same value kept", "gpu_mem=128\ngpu_mem=64\n", set("all", "gpu_mem", "128"),
			"gpu_mem=128\ngpu_mem=128\n", ""},
		{"uncomment", "# GPU\n#gpu_mem=128\nx=1\n", set("all", "gpu_mem", "128"), "# GPU\ngpu_mem=128\nx=1\n", ""},
		{"uncomment another value", "# gpu_mem=64\nx=1\n", set("all", "gpu_mem", "128"), "gpu_mem=128\nx=1\n", ""},
		{"prefer the commented line with the value", "#gpu_mem=128\n#gpu_mem=64\n", set("all", "gpu_mem", "128"),
			"gpu_mem=128\n#gpu_mem=64\n", ""},
		{"commented in another section", "[pi4]\n#gpu_mem=128\n[all]\n", set("all", "gpu_mem", "128"),
			"[pi4]\n#gpu_mem=128\n[all]\ngpu_mem=128\n", ""},
		{"only in [pi4]", "[pi4]\ngpu_mem=64\n[all]\n", set("all", "gpu_mem", "128"),
			"[pi4]\ngpu_mem=64\n[all]\ngpu_mem=128\n", ""},
		{"[all] region before other sections", "a=1\n\n[pi4]\nb=2\n", set("all", "c", "3"), "a=1\nc=3\n\n[pi4]\nb=2\n", ""},
		{"missing section", "a=1\n", set("pi5", "b", "2"), "a=1\n\n[pi5]\nb=2\n[all]\n", ""},
		{"missing section after a filter of another type", "[cm5]\nx=1\n", set("gpio4=1", "y", "1"),
			"[cm5]\nx=1\n\n[all]\n[gpio4=1]\ny=1\n[all]\n", ""},
		{"combined filters are not the section", "[pi4]\n[tryboot]\nx=1\n[all]\n", set("pi4", "x", "2"),
			"[pi4]\nx=2\n[tryboot]\nx=1\n[all]\n", ""},
		{"model filters replace each other", "[pi4]\n[pi5]\nx=1\n", set("pi5", "x", "2"), "[pi4]\n[pi5]\nx=2\n", ""},
		{"serial number filter", "[0x12345678]\nx=1\n[all]\n", set("0x12345678", "x", "2"), "[0x12345678]\nx=2\n[all]\n", ""},
		{"[none] is a section too", "[none]\nx=1\n[all]\n", set("all", "x", "2"), "[none]\nx=1\n[all]\nx=2\n", ""},
		{"CRLF", "a=1\r\nb=2\r\n", set("all", "c", "3"), "a=1\r\nb=2\r\nc=3\r\n", ""},
		{"CRLF new section", "a=1\r\n", set("pi4", "c", "3"), "a=1\r\n\r\n[pi4]\r\nc=3\r\n[all]\r\n", ""},
		{"no final newline", "a=1", set("all", "b", "2"), "a=1\nb=2", ""},
		{"no final newline, removal", "a=1\nb=2", func(c *Config) error { return c.Remove("all", "b") }, "a=1", ""},
		{"odd spacing", "  gpu_mem = 64  \n", set("all", "gpu_mem", "128"), "  gpu_mem=128\n", ""},
		{"empty file", "", set("all", "a", "1"), "a=1\n", ""},
		{"remove", "a=1\n[pi4]\na=2\n[all]\na=3\n", func(c *Config) error { return c.Remove("all", "a") }, "[pi4]\na=2\n[all]\n", ""},
		{"dtparam refused", "", set("all", "dtparam", "spi=on"), "", "one by one"},
		{"bad section", "", set("[pi4]", "a", "1"), "", "without brackets"},
		{"bad name", "", set("all", "a b", "1"), "", "only letters"},
		{"too long", "", set("all", "a", strings.Repeat("x", 98)), "", "at most 98"},
	})
}

func TestGet(t *testing.T) {
	c := ParseConfig([]byte(piOS(t)))
	for _, tt := range []struct {
		section, name, want string
		ok                  bool
	}{
		{"all", "camera_auto_detect", "1", true},
		{"all", "otg_mode", "", false},
		{"cm4", "otg_mode", "1", true},
		{"all", "enable_uart", "", false},
	} {
		if got, ok := c.Get(tt.section, tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("Get(%q, %q) = %q, %v; want %q, %v", tt.section, tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func setParam(section, name, value string, aliases ...string) func(*Config) error {
	return func(c *Config) error { return c.SetParam(section, name, value, aliases...) }
}

func TestSetParam(t *testing.T) {
	pi := piOS(t)
	runConfigEdits(t, []configEdit{
		{"uncomment Pi OS's line", pi, setParam("all", "i2c_arm", "on"),
			strings.Replace(pi, "#dtparam=i2c_arm=on", "dtparam=i2c_arm=on", 1), ""},
		{"uncomment with another value", pi, setParam("all", "spi", "off"),
			strings.Replace(pi, "#dtparam=spi=on", "dtparam=spi=off", 1), ""},
		{"after the last base parameter", pi, setParam("all", "i2c_arm_baudrate", "400000"),
			strings.Replace(pi, "dtparam=audio=on\n", "dtparam=audio=on\ndtparam=i2c_arm_baudrate=400000\n", 1), ""},
		{"in a combined line", "dtparam=audio=on,i2c_arm=off\n", setParam("all", "i2c_arm", "on"), "dtparam=audio=on,i2c_arm=on\n", ""},
		{"bare means on", "dtparam=i2c_arm\n", setParam("all", "i2c_arm", "on"), "dtparam=i2c_arm\n", ""},
		{"bare turned off", "dtparam=audio,i2c_arm\n", setParam("all", "i2c_arm", "off"), "dtparam=audio,i2c_arm=off\n", ""},
		{"true means on", "dtparam=spi=true\n", setParam("all", "spi", "on"), "dtparam=spi=true\n", ""},
		{"device_tree_param", "device_tree_param=spi=on\n", setParam("all", "spi", "off"), "device_tree_param=spi=off\n", ""},
		{"alias", "dtparam=i2c=on\n", setParam("all", "i2c_arm", "on", "i2c"), "dtparam=i2c=on\n", ""},
		{"alias turned off", "dtparam=i2c=on\n", setParam("all", "i2c_arm", "off", "i2c"), "dtparam=i2c_arm=off\n", ""},
		{"conflicting earlier removed", "dtparam=spi=off\ndtparam=audio=on,spi=on\n", setParam("all", "spi", "on"),
			"dtparam=audio=on,spi=on\n", ""},
		{"conflicting earlier line emptied", "dtparam=spi=off\nx=1\ndtparam=spi=on\n", setParam("all", "spi", "on"),
			"x=1\ndtparam=spi=on\n", ""},
		{"only in [pi4]", "[pi4]\ndtparam=spi=on\n[all]\n", setParam("all", "spi", "on"),
			"[pi4]\ndtparam=spi=on\n[all]\ndtparam=spi=on\n", ""},
		{"in [pi4]", "[pi4]\ndtparam=spi=off\n[all]\n", setParam("pi4", "spi", "on"), "[pi4]\ndtparam=spi=on\n[all]\n", ""},
		{"commented combined line left alone", "#dtparam=i2c=on,spi=on\n", setParam("all", "spi", "on"),
			"#dtparam=i2c=on,spi=on\ndtparam=spi=on\n", ""},
		{"after an overlay: reset first", "dtoverlay=vc4-kms-v3d\n", setParam("all", "spi", "on"),
			"dtoverlay=vc4-kms-v3d\ndtoverlay=\ndtparam=spi=on\n", ""},
		{"an overlay's parameter is not the base one", "dtoverlay=foo\ndtparam=spi=on\n", setParam("all", "spi", "on"),
			"dtoverlay=foo\ndtparam=spi=on\ndtoverlay=\ndtparam=spi=on\n", ""},
		{"commented after an overlay not uncommented", "dtoverlay=foo\n#dtparam=spi=on\n", setParam("all", "spi", "on"),
			"dtoverlay=foo\n#dtparam=spi=on\ndtoverlay=\ndtparam=spi=on\n", ""},
		{"would change an overlay's parameter", "dtoverlay=foo\n[pi4]\ndtparam=x=1\n", setParam("all", "spi", "on"), "",
			"cannot add a base dtparam"},
		{"remove from a combined line", "dtparam=audio=on,spi=on\n", func(c *Config) error { return c.RemoveParam("all", "spi") },
			"dtparam=audio=on\n", ""},
		{"remove a line", "dtparam=spi=on\nx=1\n", func(c *Config) error { return c.RemoveParam("all", "spi") }, "x=1\n", ""},
		{"bad value", "", setParam("all", "spi", "on,i2c=on"), "", "cannot hold commas"},
	})
}

func TestParam(t *testing.T) {
	c := ParseConfig([]byte("dtparam=audio=on,i2c\ndtoverlay=foo\ndtparam=spi=on\n"))
	if v, ok := c.Param("all", "i2c_arm", "i2c"); v != "on" || !ok {
		t.Errorf("Param(i2c_arm) = %q, %v; want on, true", v, ok)
	}
	if v, ok := c.Param("all", "spi"); ok {
		t.Errorf("Param(spi) = %q, true; want none: it is foo's parameter", v)
	}
}

func ensure(section, overlay string, key []string) func(*Config) error {
	return func(c *Config) error {
		o, err := ParseOverlay(overlay)
		if err != nil {
			return err
		}
		return c.EnsureOverlay(section, o, key)
	}
}

func TestEnsureOverlay(t *testing.T) {
	pi := piOS(t)
	w1 := OverlayKey("w1-gpio")
	i2c := OverlayKey("i2c-gpio")
	runConfigEdits(t, []configEdit{
		{"append", pi, ensure("all", "w1-gpio", nil), pi + "dtoverlay=w1-gpio\n", ""},
		{"in state", pi, ensure("all", "vc4-kms-v3d", nil), pi, ""},
		{"another model's overlay untouched", pi, ensure("all", "dwc2,dr_mode=peripheral", nil),
			pi + "dtoverlay=dwc2,dr_mode=peripheral\n", ""},
		{"one instance per name: rewritten", "dtoverlay=w1-gpio\n", ensure("all", "w1-gpio,gpiopin=17", nil),
			"dtoverlay=w1-gpio,gpiopin=17\n", ""},
		{"duplicates removed", "dtoverlay=foo,a=1\ndtoverlay=foo\n", ensure("all", "foo", nil), "dtoverlay=foo\n", ""},
		{"params as a set", "dtoverlay=foo,b=2,a=1\n", ensure("all", "foo,a=1,b=2", nil), "dtoverlay=foo,b=2,a=1\n", ""},
		{"keyed: another instance", "dtoverlay=w1-gpio\n", ensure("all", "w1-gpio,gpiopin=17", w1),
			"dtoverlay=w1-gpio\ndtoverlay=w1-gpio,gpiopin=17\n", ""},
		{"keyed: default value", "dtoverlay=w1-gpio,pullup=1\n", ensure("all", "w1-gpio,gpiopin=4", w1),
			"dtoverlay=w1-gpio,gpiopin=4\n", ""},
		{"keyed: same bus rewritten", "dtoverlay=i2c-gpio,bus=3,i2c_gpio_sda=4\ndtoverlay=i2c-gpio,bus=4\n",
			ensure("all", "i2c-gpio,bus=3,i2c_gpio_sda=5", i2c),
			"dtoverlay=i2c-gpio,bus=3,i2c_gpio_sda=5\ndtoverlay=i2c-gpio,bus=4\n", ""},
		{"uncomment", "#dtoverlay=disable-bt\n", ensure("all", "disable-bt", nil), "dtoverlay=disable-bt\n", ""},
		{"not captured: reset after", "dtparam=audio=on\n[pi4]\ndtparam=spi=on\n", ensure("all", "bar", nil),
			"dtparam=audio=on\ndtoverlay=bar\ndtoverlay=\n[pi4]\ndtparam=spi=on\n", ""},
		{"in a section", "[pi4]\nx=1\n[all]\n", ensure("pi4", "foo", nil), "[pi4]\nx=1\ndtoverlay=foo\n[all]\n", ""},
		{"missing section", "", ensure("cm4", "foo", nil), "[cm4]\ndtoverlay=foo\n[all]\n", ""},
		{"bad name", "", ensure("all", "../x", nil), "", "overlay name"},
		{"bad param", "", ensure("all", "foo,,a", nil), "", "empty parameter"},
	})
}

func TestRemoveOverlay(t *testing.T) {
	pi := piOS(t)
	remove := func(name string) func(*Config) error {
		return func(c *Config) error { return c.RemoveOverlays("all", name) }
	}
	runConfigEdits(t, []configEdit{
		{"absent", pi, remove("w1-gpio"), pi, ""},
		{"another model's kept", pi, remove("dwc2"), pi, ""},
		{"with its parameters", "dtoverlay=foo\ndtparam=x=1\ndtoverlay=\ndtparam=audio=on\n", remove("foo"),
			"dtoverlay=\ndtparam=audio=on\n", ""},
		{"every instance", "dtoverlay=w1-gpio\ndtoverlay=w1-gpio,gpiopin=17\nx=1\n", remove("w1-gpio"), "x=1\n", ""},
		{"one instance", "dtoverlay=w1-gpio\ndtoverlay=w1-gpio,gpiopin=17\n", func(c *Config) error {
			return c.RemoveOverlay("all", Overlay{Name: "w1-gpio", Params: []string{"gpiopin=17"}}, OverlayKey("w1-gpio"))
		}, "dtoverlay=w1-gpio\n", ""},
	})
}

func TestCheckSection(t *testing.T) {
	for _, s := range []string{"all", "pi4", "gpio4=1", "EDID=VSC-TD2220", "0x12345678", "tryboot", "HDMI:0"} {
		if err := CheckSection(s); err != nil {
			t.Errorf("CheckSection(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "[pi4]", " pi4", "pi4#x", "a\nb"} {
		if err := CheckSection(s); err == nil {
			t.Errorf("CheckSection(%q) = nil, want an error", s)
		}
	}
}
