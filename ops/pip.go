package ops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strings"
)

const venvRequirementsHash = ".pibake-requirements.sha256"

func (o *PipVenv) Validate() error {
	if err := checkPathArg("path", o.Path); err != nil {
		return err
	}
	if o.Path == "/" {
		return fmt.Errorf("path: a venv cannot be /")
	}
	for _, p := range o.Packages {
		if _, err := parsePyRequirement(p); err != nil {
			return fmt.Errorf("packages: %w", err)
		}
	}
	if o.Requirements != "" {
		return checkPathArg("requirements", o.Requirements)
	}
	return nil
}

func (o *PipVenv) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	var reqs []*pyRequirement
	for _, p := range o.Packages {
		req, err := parsePyRequirement(p)
		if err != nil {
			return nil, err // Validate has said so; parsed again for the values
		}
		reqs = append(reqs, req)
	}
	acct, err := lookupAccount(env, o.Owner)
	if err != nil {
		return nil, fmt.Errorf("pip.venv %s: %w", o.Path, err)
	}
	cfg, err := env.LstatIfExists(path.Join(o.Path, "pyvenv.cfg"))
	if err != nil {
		return nil, err
	}
	python, err := env.LstatIfExists(path.Join(o.Path, "bin/python"))
	if err != nil {
		return nil, err
	}
	exists := cfg != nil && python != nil
	baseEnv := []string{"PIP_DISABLE_PIP_VERSION_CHECK=1"}

	var changes []*Change
	installed := map[string]string{}
	if !exists {
		dir, err := ensureOwnedDir(env, o.Path, acct)
		if err != nil {
			return nil, fmt.Errorf("pip.venv: %w", err)
		}
		changes = append(changes, dir...)
		changes = append(changes, acct.runAs(&Exec{
			Description: "make the venv " + o.Path,
			Argv:        []string{"python3", "-m", "venv", o.Path},
			Env:         slices.Clone(baseEnv),
		}))
	} else if installed, err = venvInstalled(env, o.Path); err != nil {
		return nil, fmt.Errorf("pip.venv %s: %w", o.Path, err)
	}
	pip := path.Join(o.Path, "bin/pip")
	var missing []string
	for _, req := range reqs {
		v, ok := installed[req.Name]
		if !ok || !req.satisfiedBy(v) {
			missing = append(missing, req.Raw)
		}
	}
	if len(missing) > 0 {
		changes = append(changes, acct.runAs(&Exec{
			Description: "pip install " + strings.Join(missing, ", "),
			Argv:        append([]string{pip, "install"}, missing...),
			Env:         slices.Clone(baseEnv),
		}))
	}
	if o.Requirements != "" {
		inState := false
		if exists {
			recorded, ok1, err := env.ReadFileIfExists(path.Join(o.Path, venvRequirementsHash))
			if err != nil {
				return nil, err
			}
			content, ok2, err := env.ReadFileIfExists(o.Requirements)
			if err != nil {
				return nil, err
			}
			sum := sha256.Sum256(content)
			fields := strings.Fields(string(recorded))
			inState = ok1 && ok2 && len(fields) > 0 && fields[0] == hex.EncodeToString(sum[:])
		}
		if !inState {
			q := ShellQuote
			script := pip + " install -r " + q(o.Requirements) + "\n" +
				"sum=$(sha256sum < " + q(o.Requirements) + ")\n" +
				"printf '%s\\n' \"${sum%% *}\" > " + q(path.Join(o.Path, venvRequirementsHash)) + "\n"
			changes = append(changes, acct.runAs(&Exec{
				Description: "pip install -r " + o.Requirements,
				Script:      script,
				Env:         slices.Clone(baseEnv),
			}))
		}
	}
	return changes, nil
}

// venvInstalled lists the distributions installed in a venv, by PEP 503
// name, with their versions.
func venvInstalled(env *Env, venv string) (map[string]string, error) {
	out := map[string]string{}
	site := path.Join(venv, "lib/python3*/site-packages")
	env.Hint(site+"/*.dist-info/METADATA", site+"/*.egg-info", site+"/*.egg-info/PKG-INFO")
	libs, err := readDirIfExists(env, path.Join(venv, "lib"))
	if err != nil {
		return nil, err
	}
	for _, lib := range libs {
		if !strings.HasPrefix(lib.Name, "python3") {
			continue
		}
		site := path.Join(venv, "lib", lib.Name, "site-packages")
		entries, err := readDirIfExists(env, site)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			var meta string
			switch {
			case strings.HasSuffix(e.Name, ".dist-info"):
				meta = path.Join(site, e.Name, "METADATA")
			case strings.HasSuffix(e.Name, ".egg-info") && e.IsDir():
				meta = path.Join(site, e.Name, "PKG-INFO")
			case strings.HasSuffix(e.Name, ".egg-info"):
				meta = path.Join(site, e.Name)
			default:
				continue
			}
			b, ok, err := env.ReadFileIfExists(meta)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			name, version := pyMetadata(b)
			if name != "" {
				out[pyNormalize(name)] = version
			}
		}
	}
	return out, nil
}

// pyMetadata reads Name and Version from core metadata (RFC 822 headers,
// up to the first blank line).
func pyMetadata(b []byte) (name, version string) {
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "name":
			name = strings.TrimSpace(v)
		case "version":
			version = strings.TrimSpace(v)
		}
	}
	return name, version
}
