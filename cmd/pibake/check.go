package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newCheck(io *streams) *cobra.Command {
	var (
		flags  recipeFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "check RECIPE",
		Short: "Compile a recipe and list its operations",
		Long: `check compiles RECIPE (a .star file, or a compiled .json recipe) without
touching any target, and lists its operations. With --json it prints the
compiled recipe: plain data that "plan" and "apply" accept too. Secrets
appear as references, never as values.`,
		Example: `  pibake check robot.star
  pibake check robot.star --json > robot.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			recipe, err := flags.load(args[0])
			if err != nil {
				return err
			}
			if asJSON {
				b, err := json.MarshalIndent(recipe, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(io.stdout, "%s\n", b)
				return err
			}
			w := tabwriter.NewWriter(io.stdout, 0, 4, 2, ' ', 0)
			for _, s := range recipe.Steps {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", s.ID, s.Op.Kind(), s.Op.Summary(), s.Pos)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(io.stderr, "%s: %d operations", recipe.Source, len(recipe.Steps))
			if len(recipe.Secrets) > 0 {
				fmt.Fprintf(io.stderr, ", secrets %v", recipe.Secrets)
			}
			fmt.Fprintln(io.stderr)
			return nil
		},
	}
	flags.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the compiled recipe as JSON")
	return cmd
}
