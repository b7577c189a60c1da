package ops_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/ops/opstest"
	"github.com/pibake/pibake/reconcile/local"
)

// gitCmd runs the real git in dir and returns its trimmed output.
func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=pibake", "-c", "user.email=pibake@example.org", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z", "GIT_AUTHOR_DATE=2026-01-02T03:04:05Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// originRepo makes a bare repository with commits c1 (tag v1, light), c2
// (main, annotated tag v2) and a branch dev (c3, on c1), pushed from the
// checkout work.
func originRepo(t *testing.T) (bare, work string, commits map[string]string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	bare = filepath.Join(dir, "origin.git")
	work = filepath.Join(dir, "work")
	gitCmd(t, dir, "init", "-q", "--bare", bare)
	gitCmd(t, dir, "init", "-q", work)
	commits = map[string]string{}
	commit := func(name string) {
		os.WriteFile(filepath.Join(work, "file"), []byte(name), 0o644)
		gitCmd(t, work, "add", "file")
		gitCmd(t, work, "commit", "-q", "-m", name)
		commits[name] = gitCmd(t, work, "rev-parse", "HEAD")
	}
	commit("c1")
	gitCmd(t, work, "tag", "v1")
	commit("c2")
	gitCmd(t, work, "tag", "-a", "-m", "release 2", "v2")
	gitCmd(t, work, "checkout", "-q", "-b", "dev", "v1")
	commit("c3")
	gitCmd(t, work, "checkout", "-q", "main")
	gitCmd(t, work, "push", "-q", "--tags", bare, "main", "dev")
	return bare, work, commits
}

// runPlan runs a plan's changes on this machine, files and commands.
func runPlan(t *testing.T, host *local.Host, changes []*ops.Change) {
	t.Helper()
	for _, c := range changes {
		if c.Kind != ops.Run {
			if err := host.Apply(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			continue
		}
		res, err := host.Run(context.Background(), c.Exec)
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 0 {
			t.Fatalf("%s: exit %d\n%s%s", c, res.ExitCode, res.Stdout, res.Stderr)
		}
	}
}

func TestGitRepoHost(t *testing.T) {
	bare, work, commits := originRepo(t)
	host := local.NewHost()
	env := opstest.Env(host)
	dest := filepath.Join(t.TempDir(), "robot")
	// A target that reads the same files but cannot run commands.
	files := opstest.Env(&host.System)

	head := func() string { return gitCmd(t, dest, "rev-parse", "HEAD") }
	converge := func(op *ops.GitRepo) []*ops.Change {
		t.Helper()
		changes := opstest.Plan(t, env, op)
		if len(changes) == 0 {
			t.Fatalf("%+v: Plan is empty, want commands", op)
		}
		runPlan(t, host, changes)
		if again := opstest.Plan(t, env, op); len(again) != 0 {
			t.Fatalf("%+v: after running, Plan = %v, want none", op, again)
		}
		if again := opstest.Plan(t, files, op); len(again) != 0 {
			t.Fatalf("%+v: after running, Plan from files alone = %v, want none", op, again)
		}
		return changes
	}

	// Clone at an annotated tag: its commit comes from packed-refs' peeled line.
	changes := converge(&ops.GitRepo{URL: bare, Dest: dest, Rev: "v2"})
	want := []string{"mkdir " + dest + " (0755 0:0)"}
	if diff := cmp.Diff(want, opstest.Files(changes)); diff != "" {
		t.Errorf("clone: Plan file changes (-want +got):\n%s", diff)
	}
	if head() != commits["c2"] {
		t.Errorf("after clone at v2, HEAD = %s, want %s", head(), commits["c2"])
	}
	if got := opstest.Plan(t, env, &ops.GitRepo{URL: bare, Dest: dest}); len(got) != 0 {
		t.Errorf("rev \"\": Plan = %v, want none", got)
	}

	converge(&ops.GitRepo{URL: bare, Dest: dest, Rev: commits["c1"]})
	if head() != commits["c1"] {
		t.Errorf("HEAD = %s, want c1 %s", head(), commits["c1"])
	}
	converge(&ops.GitRepo{URL: bare, Dest: dest, Rev: "dev"}) // only origin/dev so far
	if got := gitCmd(t, dest, "symbolic-ref", "HEAD"); got != "refs/heads/dev" || head() != commits["c3"] {
		t.Errorf("HEAD = %s at %s, want refs/heads/dev at c3", got, head())
	}
	converge(&ops.GitRepo{URL: bare, Dest: dest, Rev: "v1"})
	converge(&ops.GitRepo{URL: bare, Dest: dest, Rev: "main"})

	// A branch is in state when checked out: new commits upstream are not
	// pulled (no fetch in a plan).
	os.WriteFile(filepath.Join(work, "file"), []byte("c4"), 0o644)
	gitCmd(t, work, "commit", "-q", "-am", "c4")
	c4 := gitCmd(t, work, "rev-parse", "HEAD")
	gitCmd(t, work, "tag", "-a", "-m", "release 3", "v3")
	gitCmd(t, work, "push", "-q", "--tags", bare, "main")
	if got := opstest.Plan(t, env, &ops.GitRepo{URL: bare, Dest: dest, Rev: "main"}); len(got) != 0 {
		t.Errorf("branch checked out: Plan = %v, want none", got)
	}

	// A tag the checkout has not seen: fetched, then checked out.
	changes = converge(&ops.GitRepo{URL: bare, Dest: dest, Rev: "v3"})
	if !strings.Contains(changes[0].Exec.Script, "git fetch") {
		t.Errorf("unknown tag: script %q does not fetch", changes[0].Exec.Script)
	}
	if head() != c4 {
		t.Errorf("HEAD = %s, want c4 %s", head(), c4)
	}

	// An annotated tag whose object is loose (a fetch of a few objects).
	gitCmd(t, work, "tag", "-a", "-m", "release 4", "v4")
	gitCmd(t, work, "push", "-q", "--tags", bare)
	gitCmd(t, dest, "fetch", "-q", "--tags", "origin")
	gitCmd(t, dest, "checkout", "-q", "--detach", "v4")
	if got := opstest.Plan(t, files, &ops.GitRepo{URL: bare, Dest: dest, Rev: "v4"}); len(got) != 0 {
		t.Errorf("loose annotated tag: Plan from files = %v, want none", got)
	}
	// Once the tag object is in a pack and its ref still loose, the files
	// cannot tell; git, asked on a live target, can.
	gitCmd(t, dest, "repack", "-q", "-a", "-d")
	gitCmd(t, dest, "prune-packed")
	if got := opstest.Plan(t, env, &ops.GitRepo{URL: bare, Dest: dest, Rev: "v4"}); len(got) != 0 {
		t.Errorf("packed annotated tag: Plan with git = %v, want none", got)
	}
	if got := opstest.Plan(t, files, &ops.GitRepo{URL: bare, Dest: dest, Rev: "v4"}); len(got) != 1 {
		t.Errorf("packed annotated tag: Plan from files = %v, want a checkout (unknown)", got)
	}

	// A new URL for origin.
	moved := filepath.Join(filepath.Dir(bare), "moved.git")
	if err := os.Rename(bare, moved); err != nil {
		t.Fatal(err)
	}
	changes = converge(&ops.GitRepo{URL: moved, Dest: dest})
	if got := changes[0].Exec.Description; got != "set origin's url in "+dest {
		t.Errorf("new url: description %q", got)
	}

	// Local changes are kept: the checkout fails rather than lose them.
	os.WriteFile(filepath.Join(dest, "file"), []byte("local edit"), 0o644)
	for _, c := range opstest.Plan(t, env, &ops.GitRepo{URL: moved, Dest: dest, Rev: commits["c1"]}) {
		if res, err := host.Run(context.Background(), c.Exec); err != nil || res.ExitCode == 0 {
			t.Errorf("checkout over local changes: %v, exit %v; want a failure", err, res)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "file")); string(b) != "local edit" {
		t.Errorf("local edit lost: file = %q", b)
	}
}

func TestGitRepoClone(t *testing.T) {
	bare, _, commits := originRepo(t)
	host := local.NewHost()
	env := opstest.Env(host)
	for _, rev := range []string{"", "dev", commits["c1"]} {
		dest := filepath.Join(t.TempDir(), "a", "robot")
		op := &ops.GitRepo{URL: bare, Dest: dest, Rev: rev}
		runPlan(t, host, opstest.Plan(t, env, op))
		if again := opstest.Plan(t, env, op); len(again) != 0 {
			t.Errorf("rev %q: after cloning, Plan = %v, want none", rev, again)
		}
	}
	// An existing empty directory is cloned into.
	dest := t.TempDir()
	op := &ops.GitRepo{URL: bare, Dest: dest, Rev: "v1"}
	changes := opstest.Plan(t, env, op)
	if len(opstest.Files(changes)) != 0 {
		t.Errorf("empty dest: file changes %v, want none", opstest.Files(changes))
	}
	runPlan(t, host, changes)
	if again := opstest.Plan(t, env, op); len(again) != 0 {
		t.Errorf("after cloning into an empty directory, Plan = %v, want none", again)
	}
}

func TestGitRepoImage(t *testing.T) {
	sys, root := opstest.Root(t)
	env := opstest.Env(sys)
	op := &ops.GitRepo{URL: "https://github.com/example/robot.git", Dest: "/home/pi/robot", Rev: "v1.2", Owner: "pi"}
	changes := opstest.Converge(t, env, op)
	if diff := cmp.Diff([]string{"mkdir /home/pi/robot (0755 1000:1000)"}, opstest.Files(changes)); diff != "" {
		t.Errorf("Plan file changes (-want +got):\n%s", diff)
	}
	execs := opstest.Execs(changes)
	if len(execs) != 1 || execs[0].User != "pi" || execs[0].Script != "git clone -q --branch v1.2 -- https://github.com/example/robot.git /home/pi/robot\n" ||
		!cmp.Equal(execs[0].Env, []string{"HOME=/home/pi"}) {
		t.Errorf("Plan execs = %+v, want one clone as pi", execs)
	}

	writeFile(t, root, "/opt/notgit/x", "")
	tests := []struct {
		op   *ops.GitRepo
		want string
	}{
		{&ops.GitRepo{URL: "", Dest: "/opt/r"}, "url: must not be empty"},
		{&ops.GitRepo{URL: "--upload-pack=x", Dest: "/opt/r"}, `url: "--upload-pack=x" is not a URL`},
		{&ops.GitRepo{URL: "x", Dest: "opt/r"}, `dest: want an absolute path, got "opt/r"`},
		{&ops.GitRepo{URL: "x", Dest: "/opt/r", Rev: "abc1234"}, `rev: "abc1234" looks like an abbreviated commit id`},
		{&ops.GitRepo{URL: "x", Dest: "/opt/r", Rev: "refs/tags/v1"}, "without refs/heads/"},
		{&ops.GitRepo{URL: "x", Dest: "/opt/r", Rev: "v1..v2"}, "not a valid branch or tag name"},
		{&ops.GitRepo{URL: "x", Dest: "/opt/r", Rev: "-f"}, "not a valid branch or tag name"},
		{&ops.GitRepo{URL: "x", Dest: "/opt/r", Owner: "robot"}, `user "robot" does not exist`},
		{&ops.GitRepo{URL: "x", Dest: "/opt/notgit"}, "is not a git checkout and is not empty"},
		{&ops.GitRepo{URL: "x", Dest: "/etc/hostname"}, "exists and is not a directory"},
	}
	for _, tt := range tests {
		_, err := ops.Plan(context.Background(), env, tt.op)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Plan(%+v) error = %v, want one containing %q", tt.op, err, tt.want)
		}
	}
}
