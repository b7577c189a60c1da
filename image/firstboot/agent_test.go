package firstboot

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckAgent(t *testing.T) {
	arm64, armv6, amd64 := buildTiny(t, "arm64", ""), buildTiny(t, "arm", "6"), buildTiny(t, "amd64", "")
	for _, tc := range []struct {
		name    string
		bin     []byte
		arch    Arch
		wantErr string
	}{
		{"arm64", arm64, ARM64, ""},
		{"armv6", armv6, ARMv6, ""},
		{"amd64", amd64, AMD64, ""},
		{"amd64 for an arm64 image", amd64, ARM64, "built for linux/amd64, but the image needs linux/arm64"},
		{"arm64 for a 32-bit image", arm64, ARMv6, "needs linux/arm GOARM=6"},
		{"a script", []byte("#!/bin/sh\n"), ARM64, "not an ELF file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckAgent(tc.bin, tc.arch)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("CheckAgent = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("CheckAgent = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// A dynamically linked program (one built with cgo) might not start on the
// Pi: refused.
func TestCheckAgentDynamic(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc is not installed: no cgo build to make a dynamically linked program with")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte("package main\n\nimport \"C\"\n\nfunc main() {}\n"), 0o644)
	out := filepath.Join(dir, "dynamic")
	cmd := exec.Command("go", "build", "-o", out, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOOS=linux", "GOARCH=amd64", "GO111MODULE=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cgo build: %v\n%s", err, b)
	}
	b, _ := os.ReadFile(out)
	if err := CheckAgent(b, AMD64); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Fatalf("CheckAgent(cgo binary) = %v, want a dynamically linked error", err)
	}
}

func TestAgentUnknownArch(t *testing.T) {
	if _, err := Agent("mips"); err == nil {
		t.Fatal("Agent(mips) succeeded")
	}
}
