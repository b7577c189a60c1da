//go:build linux

package ssh

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/recipes"
	"github.com/pibake/pibake/reconcile"
	"github.com/pibake/pibake/reconcile/testhost"
)

// BenchmarkNoopSSH times a no-op reconcile of the example robot recipe on
// a Debian host reached over real OpenSSH (testhost), at 0 and 25 ms round
// trip time (delaypipe as the ProxyCommand: this kernel has no netem),
// against two baselines timed in the same run:
//
//   - s-ssh-true: `ssh -F CONFIG -l pi HOST true` with the OpenSSH client,
//     a handshake and one command: the floor for any tool over ssh;
//   - s-ansible: ansible-playbook running the same recipe as a playbook
//     (testdata/bench/robot.yml), a no-op too (changed=0, checked), with
//     pipelining, ControlPersist and fact gathering, as a typical setup has.
//
// s-pibake is one no-op plan on a new connection (dial, plan, close) with
// the Remember file warm, as the second and later runs of `pibake plan`
// are; round-trips counts its round trips after the handshake.
// s-pibake-cold and round-trips-cold are the first plan, with no Remember
// file, timed once. x-ansible is s-ansible over s-pibake. ns/op counts the
// pibake plan alone. All connect as pi, who becomes root with sudo.
//
// It needs root (testhost), ansible-playbook (`make bench` installs
// Debian's ansible) and the delaypipe sources (../shared/tools/delaypipe
// above the repository, or PIBAKE_DELAYPIPE naming a built binary).
func BenchmarkNoopSSH(b *testing.B) {
	testhost.Skip(b)
	playbook, err := exec.LookPath("ansible-playbook")
	if err != nil {
		b.Fatal("ansible-playbook is not installed: make bench installs it (apt-get install ansible)")
	}
	delaypipe := delaypipeBinary(b)
	h := testhost.New(b)
	sshd := h.SSHD(b)
	for _, name := range []string{"config.txt", "cmdline.txt"} {
		content, err := os.ReadFile(filepath.Join("..", "..", "testdata", "rootfs", "boot", "firmware", name))
		if err != nil {
			b.Fatal(err)
		}
		h.WriteFile(b, "/boot/firmware/"+name, content, 0o644)
	}
	// Ansible's apt module needs python-apt on the host and its pip
	// module needs pkg_resources, as Raspberry Pi OS has them; the test
	// template does not.
	installDebs(b, h, "python3-apt", "python-apt-common", "distro-info-data", "python3-pkg-resources")

	recipe, err := recipes.Load("../../recipes/examples/robot.star", recipes.Options{})
	if err != nil {
		b.Fatal(err)
	}
	vault, err := recipes.LoadSecrets("../../recipes/examples/robot.env", nil)
	if err != nil {
		b.Fatal(err)
	}
	steps, redact, err := recipe.Resolve(vault)
	if err != nil {
		b.Fatal(err)
	}
	target := "pi@" + sshd.Alias
	ctx := context.Background()
	plan := func(tb testing.TB, config, remember string, apply bool) (time.Duration, int) {
		tb.Helper()
		start := time.Now()
		r, err := Open(ctx, target, OpenOptions{Dial: DialOptions{ConfigFile: config, AgentSocket: "none"}, Remember: remember})
		if err != nil {
			tb.Fatal(err)
		}
		var log strings.Builder
		sum, err := reconcile.Run(ctx, r, steps, reconcile.Options{Apply: apply, Now: time.Now(), Redact: redact},
			reconcile.NewTextReporter(&log, reconcile.TextOptions{}))
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		elapsed := time.Since(start)
		if err != nil || sum.Failed > 0 || (!apply && sum.Pending > 0) {
			tb.Fatalf("pibake %s (apply %v): %+v %v\n%s", target, apply, sum, err, log.String())
		}
		return elapsed, r.RoundTrips()
	}

	// The recipe applied by pibake, then by Ansible; from then on each
	// run of either must be a no-op: a plan with nothing pending, a
	// playbook run with changed=0.
	plan(b, sshd.Config, "", true)
	ansible := newAnsibleRun(b, playbook, sshd)
	if changed, d, out := ansible.run(b, sshd.Config, "--diff"); changed > 0 {
		b.Logf("ansible-playbook, first run: changed=%d in %.1fs\n%s", changed, d.Seconds(), out)
	}

	for _, rtt := range []time.Duration{0, 25 * time.Millisecond} {
		config := sshd.Config
		if rtt > 0 {
			config = delayedConfig(b, sshd, delaypipe, rtt/2)
		}
		b.Run(fmt.Sprintf("rtt=%dms", rtt.Milliseconds()), func(b *testing.B) {
			remember := filepath.Join(b.TempDir(), "facts.json")
			coldTime, coldTrips := plan(b, config, remember, false)
			var sshTime, pibakeTime, ansibleTime time.Duration
			trips := 0
			for b.Loop() {
				b.StopTimer()
				sshTime += sshTrue(b, config, sshd.Alias)
				b.StartTimer()
				d, n := plan(b, config, remember, false)
				pibakeTime += d
				trips = n
				b.StopTimer()
				changed, d, out := ansible.run(b, config)
				if changed != 0 {
					b.Fatalf("ansible-playbook: a no-op run changed %d tasks\n%s", changed, out)
				}
				ansibleTime += d
				b.StartTimer()
			}
			n := float64(b.N)
			b.ReportMetric(sshTime.Seconds()/n, "s-ssh-true")
			b.ReportMetric(pibakeTime.Seconds()/n, "s-pibake")
			b.ReportMetric(float64(trips), "round-trips")
			b.ReportMetric(coldTime.Seconds(), "s-pibake-cold")
			b.ReportMetric(float64(coldTrips), "round-trips-cold")
			b.ReportMetric(ansibleTime.Seconds()/n, "s-ansible")
			b.ReportMetric(ansibleTime.Seconds()/pibakeTime.Seconds(), "x-ansible")
			b.Logf("rtt=%dms ssh-true=%.2fs pibake=%.2fs (%d round trips; cold %.2fs, %d) ansible=%.1fs ratio=%.0fx",
				rtt.Milliseconds(), sshTime.Seconds()/n, pibakeTime.Seconds()/n, trips,
				coldTime.Seconds(), coldTrips, ansibleTime.Seconds()/n, ansibleTime.Seconds()/pibakeTime.Seconds())
		})
	}
}

// sshTrue times `ssh true` with the OpenSSH client.
func sshTrue(tb testing.TB, config, alias string) time.Duration {
	tb.Helper()
	cmd := exec.Command("ssh", "-F", config, "-o", "BatchMode=yes", "-l", "pi", alias, "true")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("ssh -F %s %s true: %v\n%s", config, alias, err, out)
	}
	return time.Since(start)
}

// delayedConfig writes a copy of the host's ssh_config whose ProxyCommand
// holds each direction back by oneWay.
func delayedConfig(tb testing.TB, sshd *testhost.SSHD, delaypipe string, oneWay time.Duration) string {
	tb.Helper()
	config, err := os.ReadFile(sshd.Config)
	if err != nil {
		tb.Fatal(err)
	}
	old := "ProxyCommand " + sshd.ProxyCommand
	if !bytes.Contains(config, []byte(old)) {
		tb.Fatalf("%s: no line %q", sshd.Config, old)
	}
	delayed := bytes.Replace(config, []byte(old), []byte("ProxyCommand "+delaypipe+" "+oneWay.String()+" "+sshd.ProxyCommand), 1)
	name := filepath.Join(tb.TempDir(), "ssh_config")
	if err := os.WriteFile(name, delayed, 0o600); err != nil {
		tb.Fatal(err)
	}
	return name
}

// delaypipeBinary builds delaypipe (a Go program of its own module, kept
// beside the repository in shared/tools), or takes PIBAKE_DELAYPIPE.
func delaypipeBinary(tb testing.TB) string {
	tb.Helper()
	if bin := os.Getenv("PIBAKE_DELAYPIPE"); bin != "" {
		return bin
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		tb.Fatal(err)
	}
	for ; ; dir = filepath.Dir(dir) {
		src := filepath.Join(dir, "shared", "tools", "delaypipe")
		if _, err := os.Stat(filepath.Join(src, "main.go")); err == nil {
			bin := filepath.Join(tb.TempDir(), "delaypipe")
			cmd := exec.Command("go", "build", "-o", bin, ".")
			cmd.Dir = src
			if out, err := cmd.CombinedOutput(); err != nil {
				tb.Fatalf("building %s: %v\n%s", src, err, out)
			}
			return bin
		}
		if dir == filepath.Dir(dir) {
			tb.Fatal("no shared/tools/delaypipe in any directory above this one: set PIBAKE_DELAYPIPE to a built delaypipe")
		}
	}
}

// installDebs installs Debian packages into the host from .debs fetched
// on this machine (a Debian bookworm, as the host is), kept in the test
// cache after the first time.
func installDebs(tb testing.TB, h *testhost.Host, names ...string) {
	tb.Helper()
	cache, err := testhost.CacheDir()
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(cache, "bench-debs")
	var debs []string
	for _, name := range names {
		matches, _ := filepath.Glob(filepath.Join(dir, name+"_*.deb"))
		if len(matches) == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				tb.Fatal(err)
			}
			cmd := exec.Command("apt-get", "download", name)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				tb.Fatalf("apt-get download %s: %v\n%s", name, err, out)
			}
			matches, _ = filepath.Glob(filepath.Join(dir, name+"_*.deb"))
			if len(matches) == 0 {
				tb.Fatalf("apt-get download %s left no %s_*.deb in %s", name, name, dir)
			}
		}
		content, err := os.ReadFile(matches[0])
		if err != nil {
			tb.Fatal(err)
		}
		deb := "/tmp/" + filepath.Base(matches[0])
		h.WriteFile(tb, deb, content, 0o644)
		debs = append(debs, deb)
	}
	if _, err := h.Run(context.Background(), append([]string{"dpkg", "-i"}, debs...)...); err != nil {
		tb.Fatal(err)
	}
}

// ansibleRun runs testdata/bench/robot.yml against the host as pi with
// become, the way a typical ansible.cfg has it: pipelining on, the
// default ControlMaster/ControlPersist ssh_args, facts gathered. Each run
// starts with no master connection (a fresh ControlPath directory, and
// the master stopped after), as each pibake plan dials anew.
type ansibleRun struct {
	playbook, config, dir, alias string
}

const ansibleConfig = `[defaults]
host_key_checking = True
[ssh_connection]
pipelining = True
ssh_args = -C -o ControlMaster=auto -o ControlPersist=60s
control_path = %(directory)s/%%C
`

func newAnsibleRun(tb testing.TB, playbook string, sshd *testhost.SSHD) *ansibleRun {
	tb.Helper()
	a := &ansibleRun{playbook: playbook, dir: tb.TempDir(), alias: sshd.Alias}
	a.config = filepath.Join(a.dir, "ansible.cfg")
	if err := os.WriteFile(a.config, []byte(ansibleConfig), 0o644); err != nil {
		tb.Fatal(err)
	}
	return a
}

var recapChanged = regexp.MustCompile(`ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// run runs the playbook once over sshConfig and says how many tasks
// changed and how long it took; a failed or unreachable host fails tb.
func (a *ansibleRun) run(tb testing.TB, sshConfig string, flags ...string) (changed int, elapsed time.Duration, output []byte) {
	tb.Helper()
	dir, err := os.MkdirTemp(a.dir, "run")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(dir)
	inventory := filepath.Join(dir, "inventory")
	line := fmt.Sprintf("robot ansible_host=%s ansible_user=pi ansible_ssh_common_args='-F %s'\n", a.alias, sshConfig)
	if err := os.WriteFile(inventory, []byte(line), 0o644); err != nil {
		tb.Fatal(err)
	}
	// A socket path has at most 107 bytes, and ssh adds 17 to the 40 of
	// %C while it sets one up: the test's temporary directory is too deep.
	control, err := os.MkdirTemp("", "ansible-cp")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(control)
	args := append([]string{"-i", inventory, filepath.Join("testdata", "bench", "robot.yml")}, flags...)
	cmd := exec.Command(a.playbook, args...)
	cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+a.config, "ANSIBLE_SSH_CONTROL_PATH_DIR="+control,
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"), "ANSIBLE_NOCOLOR=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	elapsed = time.Since(start)
	// The master ssh outlives ansible-playbook by ControlPersist; stop it
	// so that the next run dials anew.
	stop := exec.Command("ssh", "-F", sshConfig, "-o", "ControlPath="+filepath.Join(control, "%C"), "-l", "pi", "-O", "exit", a.alias)
	stop.Run()
	m := recapChanged.FindSubmatch(out.Bytes())
	if err != nil || m == nil || string(m[2]) != "0" || string(m[3]) != "0" {
		tb.Fatalf("ansible-playbook %s: %v\n%s", filepath.Join("testdata", "bench", "robot.yml"), err, out.Bytes())
	}
	changed, _ = strconv.Atoi(string(m[1]))
	return changed, elapsed, out.Bytes()
}

var _ ops.System = (*Remote)(nil)
