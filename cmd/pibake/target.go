package main

import (
	"fmt"
	"strings"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/reconcile/local"
)

const targetHelp = `

Targets:
  dir:PATH   a root directory (a Pi's root tree); file changes are made under
             PATH, commands are deferred, never run on this machine
  local      this machine (for example on the Pi itself); commands run`

// openTarget opens the system a --target names.
func openTarget(spec string) (ops.System, error) {
	switch {
	case spec == "":
		return nil, fmt.Errorf("no --target given (dir:PATH or local)")
	case spec == "local":
		return local.NewHost(), nil
	case strings.HasPrefix(spec, "dir:"):
		return local.Dir(strings.TrimPrefix(spec, "dir:"))
	}
	return nil, fmt.Errorf("unknown target %q: want dir:PATH or local", spec)
}
