package ops

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pibake/pibake/firmware"
)

func init() {
	Register("network.wifi", func() Op { return new(Wifi) })
}

// Wifi is a NetworkManager connection for a Wi-Fi network, and the
// regulatory country that unblocks the radio.
//
// The connection is a keyfile, /etc/NetworkManager/system-connections/
// NAME.nmconnection (NAME is the SSID made safe for a file name), 0600 root.
// Its content follows from the arguments alone (the UUID is derived from
// the SSID), so a second plan is in state. An empty PSK makes an open
// network. The country is set as raspi-config does on Raspberry Pi OS
// Bookworm: cfg80211.ieee80211_regdom=XX in cmdline.txt, and a "0" in each
// /var/lib/systemd/rfkill/*:wlan file so that the radio is not blocked at
// boot.
//
// Limits: WPA-PSK and open networks only (no WPA-Enterprise, no WPA3-SAE
// only networks); other connections for the same SSID are left alone.
type Wifi struct {
	SSID    string `json:"ssid"`
	PSK     string `json:"psk"`
	Country string `json:"country"`
	Hidden  bool   `json:"hidden"`
}

func (o *Wifi) Kind() string    { return "network.wifi" }
func (o *Wifi) Summary() string { return o.SSID }

const (
	nmConnections = "/etc/NetworkManager/system-connections"
	rfkillState   = "/var/lib/systemd/rfkill"
	regdomKey     = "cfg80211.ieee80211_regdom"
)

func (o *Wifi) Validate() error {
	if n := len(o.SSID); n < 1 || n > 32 {
		return fmt.Errorf("ssid: want 1 to 32 bytes, got %d", n)
	}
	if err := checkPSK(o.PSK); err != nil {
		return fmt.Errorf("psk: %w", err)
	}
	if err := checkCountry(o.Country); err != nil {
		return fmt.Errorf("country: %w", err)
	}
	return nil
}

// checkPSK never shows the key: errors end up in logs.
func checkPSK(psk string) error {
	if psk == "" {
		return nil
	}
	if len(psk) == 64 {
		if _, err := hex.DecodeString(psk); err == nil {
			return nil
		}
	}
	if len(psk) < 8 || len(psk) > 63 {
		return fmt.Errorf("want a passphrase of 8 to 63 characters or 64 hex digits, got %d characters", len(psk))
	}
	for _, b := range []byte(psk) {
		if b < 0x20 || b > 0x7e {
			return errors.New("a passphrase holds printable ASCII characters only")
		}
	}
	return nil
}

// isoCountries are the ISO 3166-1 alpha-2 codes (from tzdata's iso3166.tab).
const isoCountries = "" +
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL " +
	"BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV " +
	"CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD " +
	"GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM " +
	"IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK " +
	"LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW " +
	"MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR " +
	"PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS " +
	"ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY " +
	"UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW "

func checkCountry(c string) error {
	if len(c) == 2 && c == strings.ToUpper(c) && strings.Contains(" "+isoCountries, " "+c+" ") {
		return nil
	}
	hint := ""
	switch upper := strings.ToUpper(c); {
	case upper == "UK":
		hint = ` (the United Kingdom is "GB")`
	case len(c) == 2 && strings.Contains(" "+isoCountries, " "+upper+" "):
		hint = fmt.Sprintf(" (write %q)", upper)
	}
	return fmt.Errorf("want an ISO 3166 two-letter code in capitals, such as \"GB\" or \"US\", got %q%s", c, hint)
}

// wifiFileName makes an SSID safe as a file name. An SSID that had to be
// changed gets a short hash of itself, so that two SSIDs never share a file.
func wifiFileName(ssid string) string {
	var b strings.Builder
	for i := 0; i < len(ssid); i++ {
		c := ssid[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' && i > 0 {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	name := b.String()
	if name != ssid {
		sum := sha256.Sum256([]byte(ssid))
		name += "-" + hex.EncodeToString(sum[:4])
	}
	return name
}

// wifiUUID is a name-based (version 5) UUID of the SSID in the URL
// namespace, so that the same recipe always writes the same keyfile.
func wifiUUID(ssid string) string {
	ns := []byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	h := sha1.New()
	h.Write(ns)
	h.Write([]byte("pibake:network.wifi:" + ssid))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	x := hex.EncodeToString(u)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// keyfileString escapes s as a GLib key file string value. Spaces at either
// end are escaped too, so that no reader trims them.
func keyfileString(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == ' ' && (i == 0 || i == len(s)-1):
			b.WriteString(`\s`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// keyfileSSID is the ssid value as NetworkManager writes it: a string when
// it is printable ASCII without ";", else a list of its bytes ("72;105;").
func keyfileSSID(ssid string) string {
	plain := true
	for i := 0; i < len(ssid); i++ {
		if c := ssid[i]; c < 0x20 || c > 0x7e || c == ';' {
			plain = false
		}
	}
	if plain {
		return keyfileString(ssid)
	}
	var b strings.Builder
	for i := 0; i < len(ssid); i++ {
		b.WriteString(strconv.Itoa(int(ssid[i])) + ";")
	}
	return b.String()
}

// keyfile is the connection's NetworkManager keyfile (nm-settings-keyfile(5)).
func (o *Wifi) keyfile() []byte {
	id := o.SSID
	if !utf8.ValidString(id) || strings.IndexFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		id = wifiFileName(o.SSID)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "[connection]\nid=%s\nuuid=%s\ntype=wifi\nautoconnect=true\n\n", keyfileString(id), wifiUUID(o.SSID))
	fmt.Fprintf(&b, "[wifi]\nmode=infrastructure\nssid=%s\n", keyfileSSID(o.SSID))
	if o.Hidden {
		b.WriteString("hidden=true\n")
	}
	if o.PSK != "" {
		fmt.Fprintf(&b, "\n[wifi-security]\nkey-mgmt=wpa-psk\npsk=%s\n", keyfileString(o.PSK))
	}
	b.WriteString("\n[ipv4]\nmethod=auto\n\n[ipv6]\naddr-gen-mode=default\nmethod=auto\n")
	return b.Bytes()
}

func (o *Wifi) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	var changes, conn []*Change
	keyfile := FileSpec{
		Path:      path.Join(nmConnections, wifiFileName(o.SSID)+".nmconnection"),
		Content:   o.keyfile(),
		Mode:      0o600,
		Sensitive: true,
	}
	dir, err := env.LstatIfExists(nmConnections)
	if err != nil {
		return nil, err
	}
	if dir == nil {
		// NetworkManager keeps keys here: root only. The keyfile is then
		// new, and its directory is planned here, not by EnsureFile.
		if changes, err = env.EnsureDir(nmConnections, 0o700, "root", "root"); err != nil {
			return nil, err
		}
		conn = []*Change{{Kind: Write, Path: keyfile.Path, Content: keyfile.Content, Mode: keyfile.Mode, Sensitive: true}}
	} else if conn, err = env.EnsureFile(keyfile); err != nil {
		return nil, err
	}
	changes = append(changes, conn...)

	regdom, err := editCmdline(env, func(c *firmware.Cmdline) error { return c.Add(regdomKey + "=" + o.Country) })
	if err != nil {
		return nil, fmt.Errorf("setting the Wi-Fi country: %w", err)
	}
	radio, err := unblockWlan(env)
	if err != nil {
		return nil, err
	}
	changes = append(append(changes, regdom...), radio...)

	if len(conn) > 0 {
		changes = append(changes, live(env, "load the connection now", [][]string{{"nmcli", "connection", "reload"}})...)
	}
	if len(regdom) > 0 || len(radio) > 0 {
		changes = append(changes, live(env, "unblock Wi-Fi now", [][]string{{"rfkill", "unblock", "wifi"}})...)
	}
	return changes, nil
}

// unblockWlan plans a "0" in every saved Wi-Fi rfkill state, so that
// systemd-rfkill does not block the radio at boot. It only edits the files
// there are: their names depend on the board.
func unblockWlan(env *Env) ([]*Change, error) {
	entries, err := env.Sys.ReadDir(rfkillState)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var changes []*Change
	for _, e := range entries {
		if !strings.HasSuffix(e.Name, ":wlan") || !e.IsRegular() {
			continue
		}
		c, err := fileEdit{path: path.Join(rfkillState, e.Name), edit: func(old []byte) ([]byte, error) {
			if string(bytes.TrimSpace(old)) == "0" {
				return old, nil
			}
			return []byte("0\n"), nil
		}}.plan(env)
		if err != nil {
			return nil, err
		}
		changes = append(changes, c...)
	}
	return changes, nil
}
