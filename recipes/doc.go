// Package recipes compiles pibake recipes, written in Starlark, into a
// Recipe: a list of steps, each an op from package ops with an ID and the
// recipe position that made it. The same Recipe bakes an image and
// reconciles a live Pi; it is plain data and round-trips through JSON
// ({"pibake_recipe":1,...}), which is how it travels inside an image.
//
// # Recipes
//
// A recipe is a Starlark file (Python syntax). It calls builtins, one per
// op kind, grouped in modules; each call appends a step and returns a
// handle to it (printed as <files.sync #3>):
//
//	files.put(path, content=None, src=None, mode="0644", owner="root", group="root")
//	files.directory(path, mode="0755", owner="root", group="root")
//	files.link(path, target)
//	files.absent(path)
//	files.line(path, line, match=None, present=True)
//	files.sync(src, dest, owner="root", group="root", delete=False, exclude=[])
//	server.hostname(name)
//	server.user(name, uid=None, groups=[], shell="/bin/bash", home=None,
//	            password_hash=None, ssh_keys=[], sudo=False)
//	server.timezone(name)
//	server.locale(name)
//	apt.packages(names, present=True, update=False)
//	pip.venv(path, packages=[], requirements=None, owner="root")
//	git.repo(url, dest, rev=None, owner=None)
//	systemd.service(name, unit=None, enabled=True, running=None, restart_on=[])
//	network.wifi(ssid, psk, country, hidden=False)
//	firmware.i2c(enabled=True, baudrate=None)
//	firmware.spi(enabled=True)
//	firmware.serial(enabled=True, console=None)
//	firmware.onewire(enabled=True, gpio=None)
//	firmware.camera(enabled=True, sensor=None)
//	firmware.overlay(name, params={}, section="all", key=[])
//	firmware.config(name, value, section="all")
//	firmware.cmdline(add=[], remove=[])
//	ssh.server(enabled=True, password_auth=None)
//	shell.run(command, creates=None, unless=None, user=None)
//
// Arguments may be given by position or by name. Modes are "0644" or
// 0o644. apt.packages takes a list of names or one name. systemd.service's
// restart_on takes the handles of earlier steps; None for enabled or
// running leaves that state alone. firmware.overlay's params is a dict
// (values str, int or bool; True or None give a bare "name", False gives
// "name=off") or a list of "name=value" and "name" strings, in order; its
// key names the params that tell several copies of one overlay apart (a
// line with the same name and the same values of those params is the one
// edited), [] meaning the overlay's usual key (bus for i2c-gpio, gpiopin
// for w1-gpio, none for others). firmware.config turns True and False into
// "1" and "0". network.wifi upper-cases the country. For server.user's uid,
// firmware.i2c's baudrate and firmware.onewire's gpio, None is the default
// and 0 is an error.
//
// Besides the modules:
//
//	load("lib/common.star", "base")  // run a file (relative to this one) once, take names from it
//	file("robot.service")            // a local file's content, relative to this file
//	secret("WIFI_PSK")               // an opaque token for a secret, resolved at run time
//	host.name, host.data             // the host compiled for (Options); host.data.get("k", default)
//
// Local files (file, files.put's src, files.sync's src) are read when the
// recipe compiles, relative to the file whose code makes the call, so a
// compiled recipe carries everything it needs. files.sync reads
// directories, regular files (content and permission bits) and symbolic
// links (as links); exclude patterns (path.Match syntax) match base names
// and slash-separated paths from the top of the tree.
//
// The dialect is Starlark's with sets, and with if and for statements and
// reassignment at top level; there are no while loops and no recursion.
// print() goes to Options.Print, prefixed with its position.
//
// # Errors
//
// A mistake in a recipe is an *Error, "FILE:LINE:COL: message", at the
// innermost recipe call: robot.star:12:5: apt.packages: unknown argument
// "pakages" (did you mean "names"?). Files are named as the user named the
// top recipe, and loaded files relative to it.
//
// # Inventories
//
// LoadInventory reads a fleet, also written in Starlark, with two
// builtins of its own and load() as in recipes:
//
//	host(name, address=None, groups=[], data={})  // address: a target spec, by default the name (an SSH host)
//	group(name, data={}, hosts=[])                // every host is also in "all"
//
// Names may be used before they are declared. A host's Data, which its
// recipe sees as host.data (Options.HostData), is the data of its groups,
// "all" first and then in declaration order, merged key by key (not
// deeply), then its own. Inventory.Select picks hosts by host and group
// names, as a --limit does. Mistakes are *Errors at their position.
//
// # Secrets
//
// secret returns a token, never a value, so that a compiled recipe, its
// JSON and its plans hold no secret. Tokens survive concatenation and
// formatting (+, %s, format, join); a token that was sliced, changed
// (upper) or inspected is an error when the recipe compiles, and comparing
// one with a string compares the token. Recipe.Resolve puts the values in
// place (from LoadSecrets: a dotenv file, then the environment) and
// returns a function that hides them again in any text; values are hidden
// wherever they occur, so a very short secret hides ordinary text too.
//
// # Limits
//
// There is no step limit, so a recipe looping over a huge range runs for a
// long time. Files loaded with load are Starlark only (no JSON or YAML).
// Secret tokens are marked with the private-use characters U+E000 and
// U+E001, so a string argument holding those characters other than in a
// whole token (say, file() of a text using them) is rejected; content read
// by files.put's src= and files.sync is not checked. Whether an op's
// arguments are valid is for the op's Validate (package ops), called on
// each op as its builtin makes it, and reported at the call like the
// builtins' own errors; this package checks only what Starlark brings
// (types, local files, secrets). A check that a secret's value could pass
// or fail is left for the run that resolves it.
package recipes
