package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/pibake/pibake/recipes"
	"github.com/pibake/pibake/reconcile"
)

// newPlan makes "plan" (apply false) and "apply": the same walk over the
// recipe, one only reporting what it would change.
func newPlan(io *streams, apply bool) *cobra.Command {
	var (
		flags     recipeFlags
		target    string
		secrets   string
		asJSON    bool
		showOK    bool
		keepGoing bool
		fleetOpts fleetFlags
		sshOpts   sshFlags
	)
	cmd := &cobra.Command{
		Use:   "plan RECIPE (--target TARGET | --inventory FILE)",
		Short: "Show what applying a recipe would change",
		Long: `plan compiles RECIPE and compares it with TARGET, printing each operation
as ok, changed, deferred or failed, with diffs. It changes nothing.
Exit code 0: in state; 2: changes pending; 1: error.` + targetHelp + fleetHelp,
		Example: `  pibake plan robot.star --target dir:./rootfs
  pibake plan robot.star --target local --json
  pibake plan robot.star --inventory fleet.star --limit lab`,
		Args: cobra.ExactArgs(1),
	}
	if apply {
		cmd.Use = "apply RECIPE (--target TARGET | --inventory FILE)"
		cmd.Short = "Bring a target into the recipe's state"
		cmd.Long = `apply compiles RECIPE and brings TARGET into its state, operation by
operation, printing what it changed. On a target that cannot run commands
(a directory, an image) commands are deferred. Exit code 0: done; 1: error.` + targetHelp + fleetHelp
		cmd.Example = `  pibake apply robot.star --target dir:./rootfs
  sudo pibake apply robot.star --target local --secrets robot.env
  pibake apply robot.star --inventory fleet.star --limit robot1,robot2 --parallel 2`
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := fleetOpts.check(cmd, target, flags); err != nil {
			return err
		}
		if fleetOpts.inventory != "" {
			vault, err := recipes.LoadSecrets(secrets, os.Environ())
			if err != nil {
				return err
			}
			return runFleet(cmd.Context(), io, fleetOpts, &fleet{
				recipe: args[0], apply: apply, asJSON: asJSON, showOK: showOK,
				keepGoing: keepGoing, color: isTerminal(io.stdout), vault: vault,
				target: targetOptions{write: apply, recipe: args[0], ssh: &sshOpts, io: io},
			})
		}
		recipe, err := flags.load(args[0])
		if err != nil {
			return err
		}
		vault, err := recipes.LoadSecrets(secrets, os.Environ())
		if err != nil {
			return err
		}
		steps, redact, err := recipe.Resolve(vault)
		if err != nil {
			return err
		}
		rep := newReporter(io, asJSON, showOK)
		summary, err := runOn(cmd.Context(), target, steps, reconcile.Options{
			Apply:     apply,
			Now:       time.Now(),
			Redact:    redact,
			KeepGoing: keepGoing,
		}, rep, targetOptions{write: apply, recipe: args[0], ssh: &sshOpts, io: io})
		if err != nil {
			return err
		}
		if code := reconcile.ExitCode(apply, summary, nil); code != 0 {
			return exitCode(code)
		}
		return nil
	}
	flags.register(cmd)
	fleetOpts.register(cmd)
	sshOpts.register(cmd, apply)
	cmd.Flags().StringVarP(&target, "target", "t", "", "where to plan or apply: dir:PATH, image:FILE, local, or an SSH host (ssh://USER@HOST:PORT, USER@HOST)")
	cmd.Flags().StringVar(&secrets, "secrets", "", "`FILE` of NAME=value lines for secret(\"NAME\") (the environment overrides it)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line instead of text")
	cmd.Flags().BoolVar(&showOK, "show-ok", false, "also list operations already in state")
	if apply {
		cmd.Flags().BoolVar(&keepGoing, "keep-going", false, "after a failed operation, go on with the next ones")
	}
	return cmd
}

// newReporter is the step report plan, apply and bake print on stdout.
func newReporter(io *streams, asJSON, showOK bool) reconcile.Reporter {
	if asJSON {
		return reconcile.NewJSONReporter(io.stdout)
	}
	return reconcile.NewTextReporter(io.stdout, reconcile.TextOptions{
		Color:  isTerminal(io.stdout),
		HideOK: !showOK,
	})
}
