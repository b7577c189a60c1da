package reconcile_test

import (
	"context"
	"fmt"
	"os"

	"github.com/pibake/pibake/reconcile"
	"github.com/pibake/pibake/reconcile/local"
)

func ExampleRun() {
	root, _ := os.MkdirTemp("", "pibake-example-")
	defer os.RemoveAll(root)
	target, _ := local.Dir(root)
	recipe := steps(
		&putOp{Path: "/hostname", Content: "robot\n"},
		&copyOp{From: "/hostname", To: "/hostname.bak"}, // sees what the step above plans
	)
	report := reconcile.NewTextReporter(os.Stdout, reconcile.TextOptions{})
	summary, err := reconcile.Run(context.Background(), target, recipe, reconcile.Options{}, report)
	fmt.Println("exit code", reconcile.ExitCode(false, summary, err))
	// Output:
	//   changed  test.put /hostname                           robot.star:1:1
	//            create /hostname (0644 0:0, 6 bytes)
	//              --- a/hostname
	//              +++ b/hostname
	//              @@ -0,0 +1 @@
	//              +robot
	//   changed  test.copy /hostname → /hostname.bak          robot.star:2:1
	//            create /hostname.bak (0644 0:0, 6 bytes)
	//              --- a/hostname.bak
	//              +++ b/hostname.bak
	//              @@ -0,0 +1 @@
	//              +robot
	// summary: 0 ok, 2 changed, 0 deferred, 0 failed
	// exit code 2
}
