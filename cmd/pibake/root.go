package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes. plan also exits 2 when changes are pending.
const (
	exitOK    = 0
	exitError = 1
)

// exitCode carries an exit code chosen by a command (plan's 2) without
// printing anything more.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// streams are where a command reads and writes: stdout for data (plans,
// JSON), stderr for humans.
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// run is the whole CLI; main and the tests call it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	io := &streams{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(io)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var code exitCode
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &code):
		return int(code)
	}
	msg := err.Error()
	fmt.Fprintf(stderr, "pibake: error: %s\n", strings.ReplaceAll(msg, "\n", "\npibake: "))
	if strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") ||
		strings.HasPrefix(msg, "accepts ") || strings.HasPrefix(msg, "requires ") {
		fmt.Fprintf(stderr, "pibake: hint: see \"pibake help\"\n")
	}
	return exitError
}

func newRoot(io *streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "pibake",
		Short: "Bake Raspberry Pi OS images and reconcile live Pis from one recipe",
		Long: `pibake compiles a Starlark recipe into a list of operations and brings a
target into that state: an SD-card image offline (bake), a root directory,
this machine, or (soon) a Pi over SSH. A second run changes nothing.

Exit codes: 0 success (plan: in state), 1 error, 2 (plan) changes pending.`,
		Example: `  pibake check robot.star
  pibake bake robot.star --from raspios-lite.img.xz --out robot.img
  pibake plan robot.star --target dir:./rootfs
  pibake apply robot.star --target local --secrets robot.env`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newCheck(io), newPlan(io, false), newPlan(io, true), newBake(io), newFlash(io), newImage(io), newVersion(io), newFirstboot(io))
	return root
}

// isTerminal reports whether w is a terminal (for colour and progress).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
