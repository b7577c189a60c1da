// Package firmware edits the Raspberry Pi boot configuration: config.txt
// (settings, device tree parameters and overlays, by conditional section)
// and cmdline.txt (kernel command line tokens). It also holds what pibake
// knows about the Pi's interfaces (I2C, SPI, serial, 1-wire, camera): which
// lines enable them and which commands apply them to a running system.
//
// The editors keep every byte they do not need to change: comments, blank
// lines, order, odd spacing, CRLF or LF line ends and a missing final
// newline all survive, so a parse followed by a print gives the input back
// and a diff of an edit shows only what the edit meant. Parsing never fails;
// lines the editor does not understand are kept as they are.
//
// # Sections
//
// config.txt is divided by conditional filters such as [pi4], [cm5],
// [gpio4=1], [EDID=...], [0x12345678] or [tryboot]. A caller names a
// section by its filter without brackets: "all", "pi4", "gpio4=1". As the
// firmware does, filters of one type replace each other ([pi4] then [pi5]
// is [pi5]), filters of different types add up ([pi4] then [tryboot] is
// both), and [all] resets them. A line belongs to section S only when the
// filters in force are exactly [S]; lines before any filter are in [all].
// So asking for [all] never edits a line that applies to one model only,
// and asking for [pi4] never edits a line under [pi4][tryboot].
//
// A setting added to a section goes after the last non-blank line of that
// section's last region. A missing section is appended at the end of the
// file as "[S]", the line, and "[all]", so that the file still ends in
// [all] as Raspberry Pi OS's does.
//
// # Settings, parameters and overlays
//
// For name=value settings the last assignment wins, as in the firmware.
// Setting a value edits that last active assignment and removes earlier
// ones in the section that conflict; if there is none, a commented line
// ("#name=value", as Raspberry Pi OS ships "#dtparam=i2c_arm=on") is
// uncommented in place, as raspi-config does, before a new line is added.
//
// Device tree parameters (dtparam=, alias device_tree_param=) are handled
// per parameter, also inside combined lines such as
// "dtparam=audio=on,i2c_arm=on"; a bare "dtparam=i2c_arm" means on, and
// on/true/yes/okay/1 are taken as the same value (off/false/no/0 too). A
// dtparam line that follows a dtoverlay line sets a parameter of that
// overlay, not of the base device tree, until an empty "dtoverlay=" line.
// The editor keeps to that: base parameters are only read from and added
// where no overlay is in scope (adding a "dtoverlay=" line first when it
// must), and a new overlay line never captures parameters that follow it.
// It does not know whether a section header ends an overlay's scope, so it
// assumes it does not, which can only make it add a "dtoverlay=" line that
// was not needed.
//
// An overlay (dtoverlay=name,param=value,bare) is identified by its name
// and the values of its key parameters. With no key parameters there is one
// instance per section: ensuring dtoverlay=w1-gpio,gpiopin=17 rewrites an
// existing dtoverlay=w1-gpio line in place. Overlays made to be loaded more
// than once are told apart by a key: OverlayKey knows i2c-gpio (bus) and
// w1-gpio (gpiopin), and callers may name others; an absent key parameter
// counts as its default value. Parameters are compared as a set, so an
// overlay whose line lists the same parameters in another order is in
// state. Removing an overlay also removes the dtparam lines in its scope.
//
// # Limits
//
// Included files ("include extra.txt") are not followed. A line longer than
// the firmware's 98 characters is refused rather than written. Overlay and
// parameter names are not checked against the overlays installed on the
// card. cmdline.txt is one line: anything after its first newline is kept
// untouched and never edited.
package firmware
