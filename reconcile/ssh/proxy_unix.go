//go:build unix

package ssh

import (
	"os/exec"
	"syscall"
)

// proxyCommand runs command with /bin/sh, as ssh does, in a process group
// of its own.
func proxyCommand(command string) *exec.Cmd {
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// killGroup kills the command and what it started.
func killGroup(cmd *exec.Cmd) { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
