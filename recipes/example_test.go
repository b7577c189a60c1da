package recipes_test

import (
	"fmt"
	"log"

	"github.com/pibake/pibake/recipes"
)

func ExampleLoad() {
	r, err := recipes.Load("testdata/load/robot.star", recipes.Options{HostName: "robot-1"})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range r.Steps {
		fmt.Printf("%s %s %s %s\n", s.ID, s.Pos, s.Op.Kind(), s.Op.Summary())
	}
	// Output:
	// 1 testdata/load/lib/sub/more.star:1:1 files.directory /opt/more
	// 2 testdata/load/lib/common.star:4:5 apt.packages git, python3-venv
	// 3 testdata/load/robot.star:5:1 systemd.service robot
	// 4 testdata/load/lib/other.star:4:5 files.put /opt/extra
}

func ExampleRecipe_Resolve() {
	r, err := recipes.Load("testdata/robot/robot.star", recipes.Options{
		HostName: "robot-7",
		HostData: map[string]any{"wifi": map[string]any{"ssid": "workshop"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("secrets:", r.Secrets)
	secrets, err := recipes.LoadSecrets("", []string{"WIFI_PSK=correct horse", "API_TOKEN=t0ken"})
	if err != nil {
		log.Fatal(err)
	}
	steps, redact, err := r.Resolve(secrets)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range steps {
		if s.Op.Kind() == "network.wifi" {
			fmt.Println(redact(fmt.Sprintf("%+v", s.Op)))
		}
	}
	// Output:
	// secrets: [API_TOKEN WIFI_PSK]
	// &{SSID:workshop PSK:<secret> Country:GB Hidden:false}
}

func ExampleLoadInventory() {
	inv, err := recipes.LoadInventory("examples/fleet.star")
	if err != nil {
		log.Fatal(err)
	}
	hosts, err := inv.Select([]string{"field,spare"})
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range hosts {
		// Each host's recipe is compiled with
		// recipes.Options{HostName: h.Name, HostData: h.Data}.
		fmt.Println(h.Name, h.Address, h.Groups, h.Data["wifi_ssid"], h.Data["timezone"])
	}
	// Output:
	// robot4 pi@10.0.7.4 [field] robot-field Europe/Paris
	// spare dir:./rootfs [lab] robot-lab Europe/London
}
