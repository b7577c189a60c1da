package main

import (
	"fmt"
	"strings"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/reconcile/local"
)

const targetHelp = `

Targets:
  dir:PATH    a root directory (a Pi's root tree); file changes are made
              under PATH, commands are deferred, never run on this machine
  image:FILE  a Raspberry Pi OS disk image (.img), edited in place: both
              partitions, the boot one where the image's fstab mounts it;
              commands are deferred to the Pi's first boot
  local       this machine (for example on the Pi itself); commands run`

// openTarget opens the system a --target names; close must be called
// when done (it writes back what an image holds pending). A plan opens an
// image read-only.
func openTarget(spec string, write bool) (sys ops.System, close func() error, err error) {
	nothing := func() error { return nil }
	switch {
	case spec == "":
		return nil, nil, fmt.Errorf("no --target given (dir:PATH, image:FILE or local)")
	case spec == "local":
		return local.NewHost(), nothing, nil
	case strings.HasPrefix(spec, "dir:"):
		s, err := local.Dir(strings.TrimPrefix(spec, "dir:"))
		return s, nothing, err
	case strings.HasPrefix(spec, "image:"):
		im, err := image.Open(strings.TrimPrefix(spec, "image:"), image.Options{ReadOnly: !write})
		if err != nil {
			return nil, nil, fmt.Errorf("target %s: %w", spec, err)
		}
		return im, im.Close, nil
	}
	return openSSH(spec, write)
}

// openSSH opens a target named any other way: an SSH host ("pi@robot1",
// "ssh://pi@robot1:2222", an ssh_config alias), which is also what an
// inventory host's address defaults to. Until pibake dials SSH, none is
// known.
func openSSH(spec string, write bool) (ops.System, func() error, error) {
	return nil, nil, fmt.Errorf("unknown target %q: want dir:PATH, image:FILE or local", spec)
}
