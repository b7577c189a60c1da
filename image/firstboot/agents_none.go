//go:build !pibake_agents

package firstboot

func embeddedAgent(Arch) ([]byte, error) { return nil, ErrNoAgents }
