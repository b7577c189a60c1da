// Package recipetest compiles recipes for tests.
package recipetest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pibake/pibake/recipes"
)

// Compile writes the Starlark source star to a file robot.star in a new
// temporary directory and compiles it with no options.
func Compile(t testing.TB, star string) *recipes.Recipe {
	t.Helper()
	file := filepath.Join(t.TempDir(), "robot.star")
	if err := os.WriteFile(file, []byte(star), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := recipes.Load(file, recipes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
