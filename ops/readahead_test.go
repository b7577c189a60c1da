package ops_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/opstest"
)

// TestReadAhead: a user or group the target lacks is an error in a real
// plan, and a placeholder while reading ahead, so that the op goes on to
// read what it would read once an earlier step made the user.
func TestReadAhead(t *testing.T) {
	sys, _ := opstest.Root(t)
	op := &ops.FileDirectory{Path: "/opt/robot", Owner: "robot", Group: "robot", Mode: 0o755}
	env := opstest.Env(sys)
	if _, err := ops.Plan(context.Background(), env, op); err == nil || !strings.Contains(err.Error(), `"robot"`) {
		t.Errorf("plan with no user robot: %v, want an error naming it", err)
	}
	env.ReadAhead = true
	changes, err := ops.Plan(context.Background(), env, op)
	if err != nil {
		t.Fatalf("reading ahead: %v", err)
	}
	last := changes[len(changes)-1]
	if last.Path != "/opt/robot" || last.Kind != ops.Mkdir || last.UID != 65534 || last.GID != 65534 {
		t.Errorf("reading ahead planned %v, want a mkdir owned by the placeholder 65534", changes)
	}
}
