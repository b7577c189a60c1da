package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/pibake/pibake/recipes"
)

// recipeFlags are the flags that shape how a recipe compiles.
type recipeFlags struct {
	hostName string
	hostData string
}

func (f *recipeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.hostName, "host-name", "", "`NAME` the recipe sees as host.name")
	cmd.Flags().StringVar(&f.hostData, "host-data", "", "JSON `FILE` whose object the recipe sees as host.data")
}

func (f *recipeFlags) load(path string) (*recipes.Recipe, error) {
	opts := recipes.Options{HostName: f.hostName}
	if f.hostData != "" {
		b, err := os.ReadFile(f.hostData)
		if err != nil {
			return nil, fmt.Errorf("reading host data: %w", err)
		}
		if err := json.Unmarshal(b, &opts.HostData); err != nil {
			return nil, fmt.Errorf("host data %s: want a JSON object: %w", f.hostData, err)
		}
	}
	return recipes.Load(path, opts)
}
