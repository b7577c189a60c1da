package ssh_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/pibake/pibake/reconcile/ssh"
)

func ExampleConfig_Resolve() {
	target, err := ssh.ParseTarget("ssh://admin@kitchen:2222")
	if err != nil {
		panic(err)
	}
	config, err := ssh.ParseConfig("/home/me/.ssh/config", strings.NewReader(`
Host kitchen
  HostName 192.168.1.40
  User pi
  IdentityFile ~/.ssh/%h_%r
  ProxyJump bastion
`))
	if err != nil {
		panic(err)
	}
	h, err := config.Resolve("", target, ssh.Options{LocalUser: "me", HomeDir: "/home/me"})
	if err != nil {
		panic(err)
	}
	fmt.Println(h.User, h.HostName, h.Port, h.IdentityFiles, h.ProxyJump, h.StrictHostKeyChecking.Policy() == ssh.Strict)
	// Output: admin 192.168.1.40 2222 [/home/me/.ssh/192.168.1.40_admin] [bastion] true
}

func ExampleParseTarget() {
	for _, s := range []string{"pi@raspberrypi.local", "ssh://pi@[fe80::1]:2222", "ssh://pi@host/etc"} {
		t, err := ssh.ParseTarget(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("user %q host %q port %d\n", t.User, t.Host, t.Port)
	}
	// Output:
	// user "pi" host "raspberrypi.local" port 0
	// user "pi" host "fe80::1" port 2222
	// target "ssh://pi@host/etc": unexpected "/etc" after the host: a target names a host, not a path
}

// Dial reaches a Pi as `ssh pi@kitchen` would, with the user's
// ~/.ssh/config, and runs a command. (Not run: it needs a Pi.)
func ExampleDial() {
	c, err := ssh.Dial(context.Background(), "pi@kitchen", ssh.DialOptions{Stderr: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // e.g. ssh pi@kitchen:22: authentication failed: tried keys ...
		return
	}
	defer c.Close()
	session, err := c.NewSession()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", c.Name, err)
		return
	}
	defer session.Close()
	out, err := session.Output("uname -m")
	fmt.Printf("%s %s %v\n", c.Name, out, err)
}
