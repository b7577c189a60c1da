package ssh

import "os/exec"

// proxyCommand runs command with cmd.exe, as Windows' OpenSSH does.
func proxyCommand(command string) *exec.Cmd {
	return exec.Command("cmd.exe", "/c", command)
}

// killGroup kills the command (what it started lives on: Windows has no
// process groups to kill at once).
func killGroup(cmd *exec.Cmd) { cmd.Process.Kill() }
