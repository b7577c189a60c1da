//go:build !linux

package main

import "github.com/rogpeppe/go-internal/testscript"

func scriptCmds(cmds map[string]func(*testscript.TestScript, bool, []string)) map[string]func(*testscript.TestScript, bool, []string) {
	return cmds
}
