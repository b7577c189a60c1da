package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/pibake/pibake/image/firstboot"
	"github.com/pibake/pibake/reconcile/local"
)

// newFirstboot makes the hidden "firstboot" command: the agent that
// pibake-firstboot.service runs on a baked Pi's first boots.
func newFirstboot(io *streams) *cobra.Command {
	var (
		dir        string
		retryDelay time.Duration
	)
	cmd := &cobra.Command{
		Use:    "firstboot",
		Short:  "Apply the baked recipe on a Pi's first boot (run by pibake-firstboot.service)",
		Hidden: true,
		Long: `firstboot applies DIR/recipe.json to this machine with DIR/secrets.env, as
"pibake apply --target local" would. Steps whose secrets were not kept on
the Pi (the bake applied them) are skipped. Once the machine is in state
it removes the secrets and disables pibake-firstboot.service; after a
failure it waits (RETRY-DELAY, doubling with each failure in a row, at
most 10 minutes) and exits 1, for systemd to try again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runtime.GOOS != "linux" {
				return errors.New("firstboot runs on the Pi (Linux) only")
			}
			if os.Geteuid() != 0 {
				return errors.New("firstboot must run as root (it is pibake-firstboot.service's program)")
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			logf := func(format string, args ...any) {
				fmt.Fprintf(io.stderr, "pibake firstboot: "+format+"\n", args...)
			}
			err = firstboot.Run(cmd.Context(), firstboot.Config{
				Dir:        filepath.ToSlash(abs),
				Sys:        local.NewHost(),
				Report:     io.stdout,
				Logf:       logf,
				Now:        time.Now,
				RetryDelay: retryDelay,
			})
			if err != nil {
				return exitCode(exitError) // Run has logged why
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", firstboot.Dir, "`DIR` holding recipe.json and secrets.env")
	cmd.Flags().DurationVar(&retryDelay, "retry-delay", firstboot.DefaultRetryDelay, "wait after a first failed attempt before exiting (doubles with each failure in a row)")
	return cmd
}
