package recipes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"go.starlark.net/starlark"

	"github.com/pibake/pibake/ops"
)

// builtinSpec is an op builtin: its kind ("files.put", also its name in
// recipes), its parameters, and how its arguments become an op.
type builtinSpec struct {
	kind     string
	required []string
	optional []string
	// aliases are parameter names a user might try, mapped to the one
	// meant. They only feed "did you mean"; they are not accepted.
	aliases map[string]string
	build   func(*call) (ops.Op, error)
}

// catalogue has one builtin per op kind; a test checks it against
// ops.Kinds.
var catalogue = []*builtinSpec{
	{
		kind:     "files.put",
		required: []string{"path"},
		optional: []string{"content", "src", "mode", "owner", "group"},
		aliases:  fileAliases("content", "src"),
		build:    filesPut,
	},
	{
		kind:     "files.directory",
		required: []string{"path"},
		optional: []string{"mode", "owner", "group"},
		aliases:  fileAliases("", ""),
		build: func(c *call) (ops.Op, error) {
			return &ops.FileDirectory{
				Path:  c.str("path", ""),
				Mode:  c.mode("mode", 0o755),
				Owner: c.str("owner", "root"),
				Group: c.str("group", "root"),
			}, nil
		},
	},
	{
		kind:     "files.link",
		required: []string{"path", "target"},
		aliases:  map[string]string{"src": "target", "dest": "path", "to": "target", "source": "target", "link": "path"},
		build: func(c *call) (ops.Op, error) {
			return &ops.FileLink{Path: c.str("path", ""), Target: c.str("target", "")}, nil
		},
	},
	{
		kind:     "files.absent",
		required: []string{"path"},
		build: func(c *call) (ops.Op, error) {
			return &ops.FileAbsent{Path: c.str("path", "")}, nil
		},
	},
	{
		kind:     "files.line",
		required: []string{"path", "line"},
		optional: []string{"match", "present"},
		aliases:  map[string]string{"regexp": "match", "regex": "match", "pattern": "match", "state": "present", "text": "line"},
		build: func(c *call) (ops.Op, error) {
			return &ops.FileLine{
				Path:    c.str("path", ""),
				Line:    c.str("line", ""),
				Match:   deref(c.optStr("match")),
				Present: c.boolean("present", true),
			}, nil
		},
	},
	{
		kind:     "files.sync",
		required: []string{"src", "dest"},
		optional: []string{"owner", "group", "delete", "exclude"},
		aliases:  map[string]string{"source": "src", "path": "dest", "dst": "dest", "destination": "dest", "excludes": "exclude", "ignore": "exclude", "purge": "delete", "user": "owner"},
		build:    filesSync,
	},
	{
		kind:     "server.hostname",
		required: []string{"name"},
		aliases:  map[string]string{"hostname": "name"},
		build: func(c *call) (ops.Op, error) {
			return &ops.Hostname{Name: c.str("name", "")}, nil
		},
	},
	{
		kind:     "server.user",
		required: []string{"name"},
		optional: []string{"uid", "groups", "shell", "home", "password_hash", "ssh_keys", "sudo"},
		aliases: map[string]string{
			"password": "password_hash", "passwd": "password_hash", "hash": "password_hash",
			"keys": "ssh_keys", "authorized_keys": "ssh_keys", "public_keys": "ssh_keys", "ssh_key": "ssh_keys",
			"group": "groups", "sudoer": "sudo", "admin": "sudo", "user": "name", "username": "name",
		},
		build: serverUser,
	},
	{
		kind:     "server.timezone",
		required: []string{"name"},
		aliases:  map[string]string{"timezone": "name", "tz": "name", "zone": "name"},
		build: func(c *call) (ops.Op, error) {
			return &ops.Timezone{Name: c.str("name", "")}, nil
		},
	},
	{
		kind:     "server.locale",
		required: []string{"name"},
		aliases:  map[string]string{"locale": "name", "lang": "name"},
		build: func(c *call) (ops.Op, error) {
			return &ops.Locale{Name: c.str("name", "")}, nil
		},
	},
	{
		kind:     "apt.packages",
		required: []string{"names"},
		optional: []string{"present", "update"},
		aliases: map[string]string{
			"packages": "names", "package": "names", "pkgs": "names", "name": "names",
			"installed": "present", "state": "present", "update_cache": "update", "cache": "update",
		},
		build: func(c *call) (ops.Op, error) {
			return &ops.AptPackages{Names: c.stringsOrOne("names"), Present: c.boolean("present", true), Update: c.boolean("update", false)}, nil
		},
	},
	{
		kind:     "pip.venv",
		required: []string{"path"},
		optional: []string{"packages", "requirements", "owner"},
		aliases:  map[string]string{"requirements_file": "requirements", "names": "packages", "pkgs": "packages", "dest": "path", "user": "owner"},
		build: func(c *call) (ops.Op, error) {
			return &ops.PipVenv{
				Path:         c.str("path", ""),
				Packages:     c.strings("packages"),
				Requirements: deref(c.optStr("requirements")),
				Owner:        c.str("owner", "root"),
			}, nil
		},
	},
	{
		kind:     "git.repo",
		required: []string{"url", "dest"},
		optional: []string{"rev", "owner"},
		aliases: map[string]string{
			"repo": "url", "repository": "url", "src": "url", "source": "url", "path": "dest",
			"version": "rev", "branch": "rev", "tag": "rev", "ref": "rev", "commit": "rev", "revision": "rev", "user": "owner",
		},
		build: func(c *call) (ops.Op, error) {
			return &ops.GitRepo{
				URL:   c.str("url", ""),
				Dest:  c.str("dest", ""),
				Rev:   deref(c.optStr("rev")),
				Owner: deref(c.optStr("owner")),
			}, nil
		},
	},
	{
		kind:     "systemd.service",
		required: []string{"name"},
		optional: []string{"unit", "enabled", "running", "restart_on"},
		aliases: map[string]string{
			"content": "unit", "unit_file": "unit", "file": "unit", "enable": "enabled", "started": "running",
			"state": "running", "restart": "restart_on", "notify": "restart_on", "watch": "restart_on", "on_change": "restart_on",
		},
		build: func(c *call) (ops.Op, error) {
			return &ops.SystemdService{
				Name:      c.str("name", ""),
				Unit:      c.optStr("unit"),
				Enabled:   c.optBool("enabled", ptr(true)),
				Running:   c.optBool("running", nil),
				RestartOn: c.steps("restart_on"),
			}, nil
		},
	},
	{
		kind:     "network.wifi",
		required: []string{"ssid", "psk", "country"},
		optional: []string{"hidden"},
		aliases:  map[string]string{"password": "psk", "key": "psk", "passphrase": "psk", "name": "ssid", "network": "ssid", "country_code": "country"},
		build:    networkWifi,
	},
	{
		kind:     "firmware.i2c",
		optional: []string{"enabled", "baudrate"},
		aliases:  map[string]string{"enable": "enabled", "baud": "baudrate", "speed": "baudrate", "baud_rate": "baudrate"},
		build: func(c *call) (ops.Op, error) {
			return &ops.FirmwareI2C{Enabled: c.boolean("enabled", true), Baudrate: c.unsetZero("baudrate")}, nil
		},
	},
	{
		kind:     "firmware.spi",
		optional: []string{"enabled"},
		aliases:  map[string]string{"enable": "enabled"},
		build: func(c *call) (ops.Op, error) {
			return &ops.FirmwareSPI{Enabled: c.boolean("enabled", true)}, nil
		},
	},
	{
		kind:     "firmware.serial",
		optional: []string{"enabled", "console"},
		aliases:  map[string]string{"enable": "enabled", "login": "console", "serial_console": "console"},
		build: func(c *call) (ops.Op, error) {
			return &ops.FirmwareSerial{Enabled: c.boolean("enabled", true), Console: c.optBool("console", nil)}, nil
		},
	},
	{
		kind:     "firmware.onewire",
		optional: []string{"enabled", "gpio"},
		aliases:  map[string]string{"enable": "enabled", "pin": "gpio", "gpiopin": "gpio"},
		build: func(c *call) (ops.Op, error) {
			return &ops.FirmwareOneWire{Enabled: c.boolean("enabled", true), GPIO: c.unsetZero("gpio")}, nil
		},
	},
	{
		kind:     "firmware.camera",
		optional: []string{"enabled", "sensor"},
		aliases:  map[string]string{"enable": "enabled", "model": "sensor", "overlay": "sensor"},
		build: func(c *call) (ops.Op, error) {
			return &ops.FirmwareCamera{Enabled: c.boolean("enabled", true), Sensor: deref(c.optStr("sensor"))}, nil
		},
	},
	{
		kind:     "firmware.overlay",
		required: []string{"name"},
		optional: []string{"params", "section", "key"},
		aliases:  map[string]string{"parameters": "params", "args": "params", "filter": "section", "overlay": "name", "keys": "key", "instance": "key"},
		build:    firmwareOverlay,
	},
	{
		kind:     "firmware.config",
		required: []string{"name", "value"},
		optional: []string{"section"},
		aliases:  map[string]string{"key": "name", "param": "name", "setting": "name", "filter": "section"},
		build:    firmwareConfig,
	},
	{
		kind:     "firmware.cmdline",
		optional: []string{"add", "remove"},
		aliases:  map[string]string{"append": "add", "delete": "remove", "drop": "remove"},
		build: func(c *call) (ops.Op, error) {
			return &ops.FirmwareCmdline{Add: c.strings("add"), Remove: c.strings("remove")}, nil
		},
	},
	{
		kind:     "ssh.server",
		optional: []string{"enabled", "password_auth"},
		aliases:  map[string]string{"enable": "enabled", "password": "password_auth", "passwords": "password_auth", "password_authentication": "password_auth"},
		build: func(c *call) (ops.Op, error) {
			return &ops.SSHServer{Enabled: c.boolean("enabled", true), PasswordAuth: c.optBool("password_auth", nil)}, nil
		},
	},
	{
		kind:     "shell.run",
		required: []string{"command"},
		optional: []string{"creates", "unless", "user"},
		aliases:  map[string]string{"cmd": "command", "script": "command", "if_not": "unless", "onlyif": "unless", "as_user": "user", "become_user": "user"},
		build: func(c *call) (ops.Op, error) {
			return &ops.ShellRun{
				Command: c.str("command", ""),
				Creates: deref(c.optStr("creates")),
				Unless:  deref(c.optStr("unless")),
				User:    deref(c.optStr("user")),
			}, nil
		},
	},
}

// moduleAliases are builtin names a user might try, per module, mapped to
// the one meant; they only feed "did you mean".
var moduleAliases = map[string]map[string]string{
	"files": {
		"copy": "put", "file": "put", "write": "put", "template": "put", "mkdir": "directory", "dir": "directory",
		"symlink": "link", "remove": "absent", "delete": "absent", "rm": "absent", "lineinfile": "line", "rsync": "sync", "tree": "sync",
	},
	"apt":      {"install": "packages", "package": "packages", "remove": "packages", "pkg": "packages"},
	"pip":      {"virtualenv": "venv", "install": "venv", "packages": "venv"},
	"git":      {"clone": "repo", "checkout": "repo", "repository": "repo"},
	"systemd":  {"unit": "service", "enable": "service", "start": "service"},
	"server":   {"users": "user", "useradd": "user", "tz": "timezone", "host_name": "hostname", "lang": "locale"},
	"network":  {"wlan": "wifi", "wireless": "wifi", "wpa": "wifi"},
	"firmware": {"dtoverlay": "overlay", "dtparam": "config", "config_txt": "config", "uart": "serial", "w1": "onewire", "one_wire": "onewire", "cam": "camera", "kernel_cmdline": "cmdline"},
	"ssh":      {"sshd": "server", "service": "server"},
	"shell":    {"command": "run", "exec": "run", "sh": "run", "cmd": "run"},
}

// fileAliases are the usual mix-ups for files.put and files.directory.
func fileAliases(content, src string) map[string]string {
	a := map[string]string{
		"perm": "mode", "perms": "mode", "permissions": "mode", "chmod": "mode",
		"user": "owner", "uid": "owner", "gid": "group", "dest": "path", "dst": "path", "destination": "path",
	}
	if content != "" {
		a["contents"], a["data"], a["text"] = content, content, content
	}
	if src != "" {
		a["source"], a["from_file"], a["file"] = src, src, src
	}
	return a
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func filesPut(c *call) (ops.Op, error) {
	op := &ops.FilePut{
		Path:  c.str("path", ""),
		Mode:  c.mode("mode", 0o644),
		Owner: c.str("owner", "root"),
		Group: c.str("group", "root"),
	}
	content, hasContent := c.get("content", "a string")
	_, hasSrc := c.get("src", "a path")
	switch {
	case hasContent && hasSrc:
		return nil, c.errorf("give content or src, not both")
	case hasContent:
		switch v := content.(type) {
		case starlark.String:
			op.Content = ops.Data(v)
		case starlark.Bytes:
			op.Content = ops.Data(v)
		default:
			c.failf("content", "want a string, got %s", typeName(v))
		}
	case hasSrc:
		src := c.nonEmpty("src")
		if c.err != nil {
			return nil, nil
		}
		b, err := c.compiler.readLocal(c.thread, src)
		if err != nil {
			return nil, c.errorf("src: %v", err)
		}
		op.Content = b
	default:
		return nil, c.errorf("want content= or src=")
	}
	return op, nil
}

func filesSync(c *call) (ops.Op, error) {
	op := &ops.FileSync{
		Src:    c.nonEmpty("src"),
		Dest:   c.str("dest", ""),
		Owner:  c.str("owner", "root"),
		Group:  c.str("group", "root"),
		Delete: c.boolean("delete", false),
	}
	exclude := c.strings("exclude")
	for _, pattern := range exclude {
		if _, err := path.Match(pattern, ""); err != nil {
			c.failf("exclude", "bad pattern %q", pattern)
		}
	}
	if c.err != nil {
		return nil, nil
	}
	abs, shown := c.compiler.local(c.thread, op.Src)
	op.Src = filepath.ToSlash(shown)
	files, err := walkTree(abs, shown, exclude)
	if err != nil {
		return nil, c.errorf("src: %v", err)
	}
	op.Files = files
	return op, nil
}

// walkTree reads a local directory into sync entries, sorted by path.
// Patterns in exclude match an entry's base name or its slash-separated
// path from the top; an excluded directory is skipped whole.
func walkTree(abs, shown string, exclude []string) ([]ops.SyncEntry, error) {
	info, err := os.Stat(abs)
	if err != nil {
		return nil, localError(shown, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", shown)
	}
	files := []ops.SyncEntry{}
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == abs {
			return nil
		}
		rel, err := filepath.Rel(abs, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		for _, pattern := range exclude {
			matchName, _ := path.Match(pattern, d.Name())
			matchPath, _ := path.Match(pattern, rel)
			if matchName || matchPath {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		entry := ops.SyncEntry{Path: rel, Mode: ops.ModeOf(info.Mode())}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			entry.Link, err = os.Readlink(p)
		case info.IsDir():
			entry.Dir = true
		case info.Mode().IsRegular():
			entry.Content, err = os.ReadFile(p)
		default:
			return fmt.Errorf("%s: not a regular file, directory or symbolic link", filepath.Join(shown, rel))
		}
		if err != nil {
			return err
		}
		files = append(files, entry)
		return nil
	})
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		if rel, relErr := filepath.Rel(abs, pathErr.Path); relErr == nil {
			return nil, localError(filepath.Join(shown, rel), err)
		}
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(files, func(a, b ops.SyncEntry) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

func serverUser(c *call) (ops.Op, error) {
	return &ops.User{
		Name:         c.str("name", ""),
		UID:          c.unsetZero("uid"),
		Groups:       c.strings("groups"),
		Shell:        c.str("shell", "/bin/bash"),
		Home:         deref(c.optStr("home")),
		PasswordHash: c.optStr("password_hash"),
		SSHKeys:      c.strings("ssh_keys"),
		Sudo:         c.boolean("sudo", false),
	}, nil
}

// networkWifi builds a Wi-Fi op. The country is upper-cased, so that a
// recipe may write "gb".
func networkWifi(c *call) (ops.Op, error) {
	return &ops.Wifi{
		SSID:    c.str("ssid", ""),
		PSK:     c.str("psk", ""),
		Country: strings.ToUpper(c.str("country", "")),
		Hidden:  c.boolean("hidden", false),
	}, nil
}

// firmwareOverlay builds a dtoverlay line. params is a dict (name to str,
// int or bool: True or None is the bare name, False is name=off) or a list
// of "name=value"/"name" strings, kept in order.
func firmwareOverlay(c *call) (ops.Op, error) {
	op := &ops.FirmwareOverlay{Name: c.str("name", ""), Section: c.str("section", "all")}
	// An empty key is the overlay's usual one (nil in the op).
	if key := c.strings("key"); len(key) > 0 {
		op.Key = key
	}
	v, ok := c.get("params", "a dict or a list")
	if !ok {
		return op, nil
	}
	var params []string
	switch v := v.(type) {
	case *starlark.Dict:
		for _, item := range v.Items() {
			name, ok := item[0].(starlark.String)
			if !ok {
				c.failf("params", "want string keys, got %s", typeName(item[0]))
				return op, nil
			}
			switch value := item[1].(type) {
			case starlark.NoneType:
				params = append(params, string(name))
			case starlark.Bool:
				if value {
					params = append(params, string(name))
				} else {
					params = append(params, string(name)+"=off")
				}
			case starlark.String:
				params = append(params, string(name)+"="+string(value))
			case starlark.Int:
				params = append(params, string(name)+"="+value.String())
			default:
				c.failf(fmt.Sprintf("params[%q]", string(name)), "want a string, int, bool or None, got %s", typeName(value))
				return op, nil
			}
		}
	default:
		params = c.strings("params")
	}
	if len(params) > 0 {
		op.Params = params
	}
	return op, nil
}

func firmwareConfig(c *call) (ops.Op, error) {
	op := &ops.FirmwareConfig{Name: c.str("name", ""), Section: c.str("section", "all")}
	v, _ := c.get("value", "a string, int or bool")
	switch v := v.(type) {
	case nil:
	case starlark.String:
		op.Value = string(v)
	case starlark.Int:
		op.Value = v.String()
	case starlark.Bool:
		op.Value = "0"
		if v {
			op.Value = "1"
		}
	default:
		c.failf("value", "want a string, int or bool, got %s", typeName(v))
	}
	return op, nil
}
