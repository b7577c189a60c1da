//go:build pibake_agents

package firstboot

import (
	"testing"
	"time"
)

// With -tags pibake_agents (make build's), every agent is there, for the
// right architecture, static, and quick to decompress.
func TestAgentEmbedded(t *testing.T) {
	for _, arch := range Arches {
		start := time.Now()
		bin, err := Agent(arch)
		if err != nil {
			t.Fatalf("Agent(%s): %v", arch, err)
		}
		t.Logf("agent %s: %d bytes, decompressed in %s", arch, len(bin), time.Since(start).Round(time.Millisecond))
	}
}
