//go:build !pibake_agents

package firstboot

import (
	"errors"
	"strings"
	"testing"
)

func TestAgentNotEmbedded(t *testing.T) {
	_, err := Agent(ARMv6)
	if !errors.Is(err, ErrNoAgents) {
		t.Fatalf("Agent = %v, want %v", err, ErrNoAgents)
	}
	for _, want := range []string{"built without first-boot agents", "make build", "--agent FILE", "linux/arm GOARM=6"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Agent error %q does not say %q", err, want)
		}
	}
}
