//go:build linux

package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pibake/pibake/image/imagetest"
)

// Defaults of BootOptions.
const (
	DefaultMemory = 1024 // MiB
	// DefaultSSHTimeout is long: an idle host boots the machine in 20 s,
	// but one busy with other tests has taken 50.
	DefaultSSHTimeout = 180 * time.Second
	// shutdownTimeout is how long a machine has to power off before qemu
	// is killed.
	shutdownTimeout = 90 * time.Second
)

// BootOptions change how Boot starts a machine. The zero value is the
// default.
type BootOptions struct {
	// KernelArgs are appended to the kernel command line.
	KernelArgs string
	// Memory is the machine's memory in MiB; 0 means DefaultMemory.
	Memory int
	// SSHTimeout is how long to wait for the machine to answer SSH; 0
	// means DefaultSSHTimeout.
	SSHTimeout time.Duration
	// Disks are raw image files attached, in order, as further virtio
	// disks: /dev/vdb, /dev/vdc and so on inside (the booted image is
	// /dev/vda). Like the boot disk they are cache=unsafe: what the
	// machine wrote is in the files once qemu has exited (after Shutdown).
	// They are not removable media, as a USB card reader's would be.
	Disks []string
	// Share is a host directory the machine may read, as a 9p share
	// (virtio-9p, read-only, security_model=none) tagged ShareTag. It is
	// not mounted by itself: MountShare mounts it. Reads go through QEMU,
	// so they are about as fast as the disk's.
	Share string
}

// ShareTag is the mount tag of BootOptions.Share.
const ShareTag = "host"

// A Machine is a running QEMU machine booted from an image, reachable by
// SSH as root at 127.0.0.1:Port() with KeyFile().
type Machine struct {
	t       testing.TB
	image   string
	key     string
	port    int
	console string
	cmd     *exec.Cmd
	stderr  *bytes.Buffer
	booted  bool
	// exited is closed when qemu has exited.
	exited chan struct{}
	// shutdown makes Shutdown run once.
	shutdown    sync.Once
	shutdownErr error
}

// Boot boots the image file img (an image from Build or MakeImage, baked
// or not) and waits until it answers SSH. The machine is powered off, and
// qemu killed if it will not stop, when t ends; if t failed, the end of the
// machine's console is logged. It skips t as Skip does.
func Boot(t testing.TB, img string) *Machine {
	t.Helper()
	return BootWith(t, img, BootOptions{})
}

// BootWith is Boot with options.
//
// The machine is `qemu-system-x86_64 -accel tcg`, 2 CPUs: KVM is not
// assumed (nested virtualisation hangs on the CI machines). Linux and its
// initramfs come from the cached root, not from the image (-kernel,
// -initrd), with root=PARTUUID=<the image's disk id>-02. The disk is
// virtio with cache=unsafe: writes reach the image file whenever qemu
// stops, even killed, but not if the host crashes. The network is QEMU's
// user network restricted to the host, with the guest's port 22 forwarded
// from a free port on 127.0.0.1. A reboot inside the machine boots the same
// kernel again.
func BootWith(t testing.TB, img string, opts BootOptions) *Machine {
	t.Helper()
	Skip(t)
	root, err := EnsureRoot(t.Context(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Memory == 0 {
		opts.Memory = DefaultMemory
	}
	if opts.SSHTimeout == 0 {
		opts.SSHTimeout = DefaultSSHTimeout
	}
	diskID, err := imagetest.DiskIDAt(img)
	if err != nil {
		t.Fatalf("booting %s: %v", img, err)
	}
	args := fmt.Sprintf("root=PARTUUID=%08x-02 rw console=ttyS0 net.ifnames=0", diskID)
	if opts.KernelArgs != "" {
		args += " " + opts.KernelArgs
	}
	dir := t.TempDir()
	m := &Machine{t: t, image: img, key: root.KeyFile, console: filepath.Join(dir, "console.log")}
	t.Cleanup(func() {
		// A failed Boot has logged the console already.
		if t.Failed() && m.booted {
			t.Logf("the machine's console (%s) ends:\n%s", m.console, m.consoleTail(60))
		}
		if err := m.Shutdown(); err != nil {
			t.Error(err)
		}
	})

	start := time.Now()
	// The free port is found by closing a listener, so another process
	// may take it before qemu does; qemu then exits at once and Boot tries
	// another.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		m.port = port
		m.exited = make(chan struct{})
		m.stderr = new(bytes.Buffer)
		m.cmd = exec.Command("qemu-system-x86_64", qemuArgs(root, img, args, port, m.console, opts)...)
		m.cmd.Stderr = m.stderr
		// Should the test binary die (a -timeout panic), qemu dies too.
		m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := m.cmd.Start(); err != nil {
			m.cmd = nil
			t.Fatalf("starting qemu: %v", err)
		}
		go func(cmd *exec.Cmd, exited chan struct{}) {
			cmd.Wait()
			close(exited)
		}(m.cmd, m.exited)
		err = m.waitForSSH(start, opts.SSHTimeout)
		if err == nil {
			break
		}
		if errors.Is(err, errQEMUExited) && strings.Contains(m.stderr.String(), "host forwarding") && attempt < 3 {
			continue
		}
		m.kill()
		t.Fatalf("booting %s: %v\nthe machine's console (%s) ends:\n%s", img, err, m.console, m.consoleTail(60))
	}
	m.booted = true
	t.Logf("booted %s: SSH on 127.0.0.1:%d after %s", filepath.Base(img), m.port, time.Since(start).Round(100*time.Millisecond))
	return m
}

var errQEMUExited = errors.New("qemu exited")

// qemuArgs are the arguments of qemu-system-x86_64 that boot img with the
// kernel command line args, SSH forwarded from port and the serial console
// written to console.
func qemuArgs(root *Root, img, args string, port int, console string, opts BootOptions) []string {
	argv := []string{
		"-accel", "tcg,thread=multi", "-m", fmt.Sprint(opts.Memory), "-smp", "2",
		"-kernel", root.Kernel, "-initrd", root.Initrd, "-append", args,
	}
	// The virtio disks are named vda, vdb... in the order of their PCI
	// slots, which is the order they are given in.
	for _, disk := range append([]string{img}, opts.Disks...) {
		argv = append(argv, "-drive", "file="+qemuEscape(disk)+",format=raw,if=virtio,cache=unsafe")
	}
	if opts.Share != "" {
		argv = append(argv, "-virtfs", "local,path="+qemuEscape(opts.Share)+",mount_tag="+ShareTag+",security_model=none,readonly=on")
	}
	return append(argv,
		"-netdev", fmt.Sprintf("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22", port),
		// romfile= leaves out the iPXE option ROM: no network boot.
		"-device", "virtio-net-pci,netdev=n0,romfile=",
		"-display", "none", "-monitor", "none", "-serial", "file:"+console)
}

// qemuEscape escapes a value of a qemu option list: a comma is doubled.
func qemuEscape(value string) string {
	return strings.ReplaceAll(value, ",", ",,")
}

// waitForSSH polls until `ssh true` succeeds, qemu exits or the deadline
// passes.
func (m *Machine) waitForSSH(start time.Time, timeout time.Duration) error {
	var last error
	for {
		select {
		case <-m.exited:
			return fmt.Errorf("%w (%v) before the machine answered SSH:\n%s", errQEMUExited, m.cmd.ProcessState, m.stderr.Bytes())
		default:
		}
		if time.Since(start) > timeout {
			return fmt.Errorf("no SSH on 127.0.0.1:%d after %s; last: %v", m.port, timeout, last)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, last = m.ssh(ctx, "true", "-o", "ConnectTimeout=5")
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Port is the port on 127.0.0.1 that reaches the machine's SSH server.
func (m *Machine) Port() int { return m.port }

// KeyFile is the private key that logs in to the machine as root.
func (m *Machine) KeyFile() string { return m.key }

// Image is the image file the machine runs on.
func (m *Machine) Image() string { return m.image }

// SSHArgs are the arguments of OpenSSH's ssh that reach the machine as
// root, before the command: -i KeyFile, -p Port, host key checks off, and
// root@127.0.0.1 last.
func (m *Machine) SSHArgs() []string {
	return []string{
		// -F: the user's ~/.ssh/config has no say.
		"-F", "/dev/null", "-i", m.key, "-p", fmt.Sprint(m.port),
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
		// A machine that dies must not hang the test.
		"-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=6",
		"root@127.0.0.1",
	}
}

// SSH runs the shell command cmd on the machine as root and returns its
// standard output. A failure, including a non-zero exit, is an error that
// holds the standard error. It may be called from t's Cleanup functions.
func (m *Machine) SSH(cmd string) (stdout string, err error) {
	return m.ssh(context.Background(), cmd)
}

func (m *Machine) ssh(ctx context.Context, command string, options ...string) (string, error) {
	argv := append(options, m.SSHArgs()...)
	cmd := exec.CommandContext(ctx, "ssh", append(argv, "--", command)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("ssh root@127.0.0.1:%d %q: %w\n%s", m.port, command, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.String(), nil
}

// MountShare mounts BootOptions.Share read-only at dir inside the machine
// (making dir) and returns dir.
func (m *Machine) MountShare(dir string) (string, error) {
	cmd := fmt.Sprintf("mkdir -p %[1]s && mount -t 9p -o trans=virtio,version=9p2000.L,ro %[2]s %[1]s", dir, ShareTag)
	if _, err := m.SSH(cmd); err != nil {
		return "", fmt.Errorf("mounting the host's share: %w", err)
	}
	return dir, nil
}

// Shutdown powers the machine off (systemctl poweroff) and waits for qemu
// to exit; qemu is killed, and an error returned, if it has not exited
// after 90 seconds. Shutting down a machine that is down does nothing.
func (m *Machine) Shutdown() error {
	m.shutdown.Do(func() {
		if m.cmd == nil {
			return // qemu did not start
		}
		select {
		case <-m.exited:
			return
		default:
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		// The connection may drop as the machine goes down: what counts
		// is whether qemu exits.
		m.ssh(ctx, "systemctl poweroff")
		cancel()
		select {
		case <-m.exited:
			m.t.Logf("machine on port %d powered off in %s", m.port, time.Since(start).Round(100*time.Millisecond))
		case <-time.After(shutdownTimeout):
			m.kill()
			m.shutdownErr = fmt.Errorf("the machine booted from %s did not power off within %s; killed qemu\nits console ends:\n%s",
				m.image, shutdownTimeout, m.consoleTail(60))
		}
	})
	return m.shutdownErr
}

// kill kills qemu and waits for it to exit.
func (m *Machine) kill() {
	m.cmd.Process.Kill()
	<-m.exited
}

// Console returns what the machine has written to its serial console:
// the kernel's and systemd's messages, and a login prompt.
func (m *Machine) Console() string {
	b, _ := os.ReadFile(m.console)
	return string(b)
}

func (m *Machine) consoleTail(lines int) string {
	all := strings.Split(strings.TrimRight(m.Console(), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
