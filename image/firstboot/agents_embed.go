//go:build pibake_agents

package firstboot

import "embed"

// agents holds what `make build` puts in agents/ before it builds pibake
// with -tags pibake_agents.
//
//go:embed agents/pibake-linux-*.xz
var agents embed.FS

func embeddedAgent(arch Arch) ([]byte, error) {
	return agents.ReadFile("agents/" + agentFile(arch))
}
