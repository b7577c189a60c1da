package firstboot

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/pibake/pibake/ops"
)

// Arch is a CPU architecture an agent is built for.
type Arch string

const (
	// ARM64 is 64-bit Raspberry Pi OS (Pi 3, 4, 5, Zero 2).
	ARM64 Arch = "arm64"
	// ARMv6 is 32-bit Raspberry Pi OS: built with GOARM=6, the agent runs
	// on every Pi, the Zero and Pi 1 included (32-bit Pi OS is armhf built
	// for ARMv6).
	ARMv6 Arch = "armv6"
	// AMD64 is x86-64, for Pi-shaped test machines in a VM.
	AMD64 Arch = "amd64"
)

// Arches are the architectures agents are built for.
var Arches = []Arch{ARM64, ARMv6, AMD64}

// Platform is how Go names a's build: "linux/arm64", "linux/arm GOARM=6".
func (a Arch) Platform() string {
	switch a {
	case ARMv6:
		return "linux/arm GOARM=6"
	case ARM64, AMD64:
		return "linux/" + string(a)
	}
	return "linux/" + string(a) + " (unknown)"
}

// ELFArch reads the architecture from the start of an ELF file: the class
// and byte order of e_ident and e_machine. header needs at least the first
// 20 bytes. 32-bit ARM is ARMv6: an ELF header does not say which ARM
// version a binary needs, and the ARMv6 agent runs on all of them.
func ELFArch(header []byte) (Arch, error) {
	if len(header) < 20 || string(header[:4]) != elf.ELFMAG {
		return "", errNotELF
	}
	class, data := elf.Class(header[elf.EI_CLASS]), elf.Data(header[elf.EI_DATA])
	var order binary.ByteOrder
	switch data {
	case elf.ELFDATA2LSB:
		order = binary.LittleEndian
	case elf.ELFDATA2MSB:
		order = binary.BigEndian
	default:
		return "", fmt.Errorf("ELF file with unknown byte order %d", header[elf.EI_DATA])
	}
	machine := elf.Machine(order.Uint16(header[18:20]))
	var arch Arch
	var wantClass elf.Class
	switch machine {
	case elf.EM_AARCH64:
		arch, wantClass = ARM64, elf.ELFCLASS64
	case elf.EM_ARM:
		arch, wantClass = ARMv6, elf.ELFCLASS32
	case elf.EM_X86_64:
		arch, wantClass = AMD64, elf.ELFCLASS64
	default:
		return "", fmt.Errorf("ELF machine %s (%d, %s %s) is not supported: want aarch64, 32-bit ARM or x86-64",
			machine, uint16(machine), class, data)
	}
	if class != wantClass || data != elf.ELFDATA2LSB {
		return "", fmt.Errorf("ELF machine %s as %s %s is not supported: want %s little-endian", machine, class, data, wantClass)
	}
	return arch, nil
}

var errNotELF = errors.New("not an ELF file")

// archProbes are the files DetectArch reads, in order: binaries every
// Raspberry Pi OS has. Links are followed (/bin is a link to /usr/bin on
// Bookworm, /sbin/init to systemd).
var archProbes = []string{"/usr/bin/dpkg", "/bin/sh", "/usr/bin/env", "/sbin/init", "/usr/lib/systemd/systemd"}

// DetectArch says which agent an image (or any target) needs, from the
// ELF header of its own userland binaries: the first of archProbes that
// is an ELF file decides; an ELF file for another CPU is an error. Userland, not the kernel, because 32-bit
// Raspberry Pi OS boots a 64-bit kernel on a Pi 4 or 5 and still runs
// 32-bit programs.
func DetectArch(sys ops.System) (Arch, error) {
	var tried []string
	for _, p := range archProbes {
		b, err := sys.ReadFile(p)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s (%v)", p, err))
			continue
		}
		arch, err := ELFArch(b)
		switch {
		case errors.Is(err, errNotELF):
			tried = append(tried, p+" (not ELF)")
			continue
		case err != nil:
			return "", fmt.Errorf("the target's %s: %w", p, err)
		}
		return arch, nil
	}
	return "", fmt.Errorf("cannot tell the target's architecture: no ELF binary among %s", strings.Join(tried, ", "))
}
