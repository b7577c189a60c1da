package ops

import (
	"context"
	"fmt"
	"path"
	"strings"
)

// checkGitRev checks a revision: "", a full commit id, or a branch or tag
// name (git check-ref-format's rules).
func checkGitRev(rev string) error {
	switch {
	case rev == "":
		return nil
	case gitHexID(strings.ToLower(rev)):
		return nil
	case len(rev) >= 7 && len(rev) < 40 && strings.Trim(strings.ToLower(rev), "0123456789abcdef") == "":
		return fmt.Errorf("%q looks like an abbreviated commit id: give all 40 hex digits", rev)
	case strings.HasPrefix(rev, "refs/"):
		return fmt.Errorf("%q: name the branch or tag without refs/heads/ or refs/tags/", rev)
	case strings.HasPrefix(rev, "-") || strings.HasPrefix(rev, "/") || strings.HasSuffix(rev, "/") ||
		strings.HasSuffix(rev, ".") || strings.HasSuffix(rev, ".lock") || strings.Contains(rev, "..") ||
		strings.Contains(rev, "//") || strings.Contains(rev, "@{") || rev == "@" ||
		strings.ContainsFunc(rev, func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune("~^:?*[\\", r) }):
		return fmt.Errorf("%q is not a valid branch or tag name", rev)
	}
	return nil
}

func (o *GitRepo) Validate() error {
	if o.URL == "" {
		return fmt.Errorf("url: must not be empty")
	}
	if strings.HasPrefix(o.URL, "-") || strings.ContainsFunc(o.URL, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("url: %q is not a URL (it starts with '-' or holds spaces or control characters)", o.URL)
	}
	if err := checkPathArg("dest", o.Dest); err != nil {
		return err
	}
	if o.Dest == "/" {
		return fmt.Errorf("dest: a checkout cannot be /")
	}
	if err := checkGitRev(o.Rev); err != nil {
		return fmt.Errorf("rev: %w", err)
	}
	return nil
}

func (o *GitRepo) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	rev := o.Rev
	if gitHexID(strings.ToLower(rev)) {
		rev = strings.ToLower(rev)
	}
	acct, err := lookupAccount(env, o.Owner)
	if err != nil {
		return nil, fmt.Errorf("git.repo %s: %w", o.Dest, err)
	}
	q := ShellQuote
	if fi, err := env.LstatIfExists(o.Dest); err != nil {
		return nil, err
	} else if fi == nil {
		return o.planClone(env, acct, rev)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("git.repo: %s exists and is not a directory", o.Dest)
	}
	dotGit := path.Join(o.Dest, ".git")
	fi, err := env.LstatIfExists(dotGit)
	if err != nil {
		return nil, err
	}
	if fi == nil {
		return o.planClone(env, acct, rev)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("git.repo: %s is not a directory (worktrees and submodules are not supported)", dotGit)
	}
	repo, err := readGitRepo(env, dotGit)
	if err != nil {
		return nil, fmt.Errorf("git.repo: %w", err)
	}
	var steps, why []string
	switch repo.origin {
	case o.URL:
	case "":
		steps = append(steps, "git remote add origin "+q(o.URL))
		why = append(why, "add origin")
	default:
		steps = append(steps, "git remote set-url origin "+q(o.URL))
		why = append(why, "set origin's url")
	}
	fetch := "git fetch -q --tags origin"
	switch {
	case rev == "":
	case gitHexID(rev):
		if repo.head != rev {
			steps = append(steps,
				"git cat-file -e "+q(rev+"^{commit}")+" 2>/dev/null || "+fetch,
				"git cat-file -e "+q(rev+"^{commit}")+" 2>/dev/null || git fetch -q origin "+rev,
				"git checkout -q --detach "+rev)
		}
	default:
		kind, commit, err := o.classify(ctx, env, repo, rev)
		if err != nil {
			return nil, err
		}
		switch kind {
		case "branch":
			if repo.headRef != "refs/heads/"+rev {
				steps = append(steps, "git checkout -q "+q(rev))
			}
		case "tag":
			if commit == "" || commit != repo.head {
				steps = append(steps,
					"git checkout -q --detach "+q("refs/tags/"+rev),
					// Peeled tags in packed-refs let the next plan read
					// the tag's commit from files alone.
					"git pack-refs --all")
			}
		default:
			steps = append(steps,
				"git rev-parse -q --verify "+q(rev+"^{commit}")+" >/dev/null || git show-ref -q --verify "+q("refs/remotes/origin/"+rev)+" || "+fetch,
				"git checkout -q "+q(rev),
				"git pack-refs --all")
		}
	}
	if len(steps) == 0 {
		return nil, nil
	}
	if len(steps) > len(why) {
		why = append(why, "check out "+o.revName())
	}
	return []*Change{acct.runAs(&Exec{
		Description: strings.Join(why, ", ") + " in " + o.Dest,
		Script:      strings.Join(steps, "\n") + "\n",
		Dir:         o.Dest,
	})}, nil
}

func (o *GitRepo) revName() string {
	if o.Rev == "" {
		return "the default branch"
	}
	return o.Rev
}

// classify tells whether rev is a local branch, a tag (with its commit, ""
// when unknown) or a remote branch of origin, or "" when the checkout does
// not have it yet.
func (o *GitRepo) classify(ctx context.Context, env *Env, repo *gitRepoFacts, rev string) (kind, commit string, err error) {
	if _, ok, err := repo.resolve(env, "refs/heads/"+rev); err != nil || ok {
		return "branch", "", err
	}
	tag := "refs/tags/" + rev
	if _, ok, err := repo.resolve(env, tag); err != nil {
		return "", "", err
	} else if ok {
		commit, known, err := repo.peel(env, tag)
		if err != nil {
			return "", "", err
		}
		if !known {
			// The tag object is in a pack file; git knows.
			res, ok, err := env.Query(ctx, "git", "-c", "safe.directory="+o.Dest, "-C", o.Dest, "rev-parse", "-q", "--verify", tag+"^{commit}")
			if err != nil {
				return "", "", err
			}
			if ok && res.ExitCode == 0 {
				commit = strings.TrimSpace(string(res.Stdout))
			}
		}
		return "tag", commit, nil
	}
	if _, ok, err := repo.resolve(env, "refs/remotes/origin/"+rev); err != nil || ok {
		return "branch", "", err
	}
	return "", "", nil
}

// planClone plans a clone into a missing or empty DEST.
func (o *GitRepo) planClone(env *Env, acct *account, rev string) ([]*Change, error) {
	q := ShellQuote
	fi, err := env.LstatIfExists(o.Dest)
	if err != nil {
		return nil, err
	}
	var changes []*Change
	switch {
	case fi == nil:
		if changes, err = ensureOwnedDir(env, o.Dest, acct); err != nil {
			return nil, fmt.Errorf("git.repo: %w", err)
		}
	case !fi.IsDir():
		return nil, fmt.Errorf("git.repo: %s exists and is not a directory", o.Dest)
	default:
		entries, err := env.Sys.ReadDir(o.Dest)
		if err != nil {
			return nil, err
		}
		if len(entries) > 0 {
			return nil, fmt.Errorf("git.repo: %s exists, is not a git checkout and is not empty: git cannot clone into it", o.Dest)
		}
	}
	script := "git clone -q -- " + q(o.URL) + " " + q(o.Dest) + "\n"
	switch {
	case rev == "":
	case gitHexID(rev):
		script += "cd " + q(o.Dest) + "\n" +
			"git cat-file -e " + q(rev+"^{commit}") + " 2>/dev/null || git fetch -q origin " + rev + "\n" +
			"git checkout -q --detach " + rev + "\n"
	default:
		script = "git clone -q --branch " + q(rev) + " -- " + q(o.URL) + " " + q(o.Dest) + "\n"
	}
	return append(changes, acct.runAs(&Exec{
		Description: "clone " + o.URL + " at " + o.revName(),
		Script:      script,
	})), nil
}
