package firstboot

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pibake/pibake/ops/opstest"
	"github.com/pibake/pibake/reconcile/local"
)

// buildTiny cross-builds a tiny static Go program for linux/goarch (goarm
// for 32-bit ARM) and returns the binary: a real ELF file of that
// architecture, as an image or an agent holds.
func buildTiny(t testing.TB, goarch, goarm string) []byte {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"tiny\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tiny")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOARM="+goarm, "GOFLAGS=", "GO111MODULE=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building a tiny linux/%s program: %v\n%s", goarch, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestELFArch(t *testing.T) {
	for _, tc := range []struct {
		goarch, goarm string
		want          Arch
		wantErr       string
	}{
		{goarch: "arm64", want: ARM64},
		{goarch: "arm", goarm: "6", want: ARMv6},
		{goarch: "arm", goarm: "7", want: ARMv6},
		{goarch: "amd64", want: AMD64},
		{goarch: "386", wantErr: "EM_386"},
		{goarch: "riscv64", wantErr: "EM_RISCV"},
		{goarch: "ppc64", wantErr: "EM_PPC64"},
	} {
		t.Run(tc.goarch+tc.goarm, func(t *testing.T) {
			got, err := ELFArch(buildTiny(t, tc.goarch, tc.goarm))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ELFArch(linux/%s) = %q, %v; want an error naming %s", tc.goarch, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ELFArch(linux/%s) = %q, %v; want %q", tc.goarch, got, err, tc.want)
			}
		})
	}
	// A big-endian aarch64 header, made from the fixture's: refused.
	fixture, err := os.ReadFile(filepath.Join(opstest.Testdata(), "rootfs", "usr", "bin", "dpkg"))
	if err != nil {
		t.Fatal(err)
	}
	be := append([]byte(nil), fixture...)
	be[5], be[18], be[19] = 2, fixture[19], fixture[18]
	if got, err := ELFArch(be); err == nil || !strings.Contains(err.Error(), "little-endian") {
		t.Errorf("ELFArch(big-endian aarch64) = %q, %v; want a little-endian error", got, err)
	}
	for name, header := range map[string][]byte{
		"empty":     nil,
		"script":    []byte("#!/bin/sh\nexec true\n"),
		"truncated": []byte("\x7fELF\x02\x01\x01"),
	} {
		if got, err := ELFArch(header); !errors.Is(err, errNotELF) {
			t.Errorf("ELFArch(%s) = %q, %v; want %v", name, got, err, errNotELF)
		}
	}
}

// The fixture root (and so every image built from it) is a 64-bit
// Raspberry Pi OS: its /usr/bin/dpkg is a small aarch64 ELF file.
func TestDetectArchFixture(t *testing.T) {
	sys, _ := opstest.Root(t)
	if got, err := DetectArch(sys); err != nil || got != ARM64 {
		t.Fatalf("DetectArch(testdata/rootfs) = %q, %v; want %q", got, err, ARM64)
	}
}

// Links are followed inside the target: /bin/sh -> dash, through /bin ->
// usr/bin, as on Debian.
func TestDetectArchFollowsLinks(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"usr/bin", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("usr/bin", filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/bin/dash"), buildTiny(t, "arm", "6"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("dash", filepath.Join(root, "usr/bin/sh")); err != nil {
		t.Fatal(err)
	}
	// dpkg is tried first, and is no ELF file here.
	if err := os.WriteFile(filepath.Join(root, "usr/bin/dpkg"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sys, err := local.Dir(root)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DetectArch(sys); err != nil || got != ARMv6 {
		t.Fatalf("DetectArch = %q, %v; want %q", got, err, ARMv6)
	}
}

func TestDetectArchNone(t *testing.T) {
	sys, err := local.Dir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = DetectArch(sys)
	if err == nil {
		t.Fatal("DetectArch(empty root) succeeded")
	}
	for _, p := range archProbes {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("DetectArch(empty root) = %v; want it to name %s", err, p)
		}
	}
}

func TestDetectArchOtherCPU(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/bin/dpkg"), buildTiny(t, "386", ""), 0o755); err != nil {
		t.Fatal(err)
	}
	sys, err := local.Dir(root)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DetectArch(sys); err == nil || !strings.Contains(err.Error(), "/usr/bin/dpkg") || !strings.Contains(err.Error(), "EM_386") {
		t.Fatalf("DetectArch(i386 root) = %q, %v; want an error naming /usr/bin/dpkg and EM_386", got, err)
	}
}
