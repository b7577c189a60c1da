package firstboot

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"

	"github.com/ulikunitz/xz"
)

// ErrNoAgents is Agent's error when this pibake was built without the
// agents embedded (go build rather than make build).
var ErrNoAgents = errors.New("this pibake was built without first-boot agents")

// agentFile is the name of arch's compressed agent under agents/, as the
// Makefile writes it.
func agentFile(arch Arch) string { return "pibake-linux-" + string(arch) + ".xz" }

// Agent returns the agent for arch: a static pibake for linux/arch, as
// embedded by `make build` (xz-compressed: see the Makefile). Without
// embedded agents the error (wrapping ErrNoAgents) says what to do.
func Agent(arch Arch) ([]byte, error) {
	if !knownArch(arch) {
		return nil, fmt.Errorf("no agent for architecture %q", arch)
	}
	compressed, err := embeddedAgent(arch)
	if err != nil {
		return nil, fmt.Errorf("%w; run `make build`, or pass --agent FILE (a static pibake for %s)", err, arch.Platform())
	}
	r, err := xz.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, fmt.Errorf("embedded agent for %s: %w", arch.Platform(), err)
	}
	bin, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("embedded agent for %s: %w", arch.Platform(), err)
	}
	if err := CheckAgent(bin, arch); err != nil {
		return nil, fmt.Errorf("embedded agent: %w", err)
	}
	return bin, nil
}

func knownArch(arch Arch) bool {
	for _, a := range Arches {
		if a == arch {
			return true
		}
	}
	return false
}

// CheckAgent checks that bin can be an agent for arch: a statically linked
// ELF executable for that architecture. An agent for another one would
// never start on the Pi, and a dynamically linked one might not either.
func CheckAgent(bin []byte, arch Arch) error {
	got, err := ELFArch(bin)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if got != arch {
		return fmt.Errorf("agent is built for %s, but the image needs %s", got.Platform(), arch.Platform())
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("agent: an ELF %s, not an executable", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("agent is dynamically linked: build it with CGO_ENABLED=0 for %s", arch.Platform())
		}
	}
	return nil
}
