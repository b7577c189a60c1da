package ops

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Debian's NAME_REGEX (adduser.conf) for users, and SYS_NAME_REGEX for
// groups, which may be system groups such as _ssh.
var (
	userNameRE  = regexp.MustCompile(`^[a-z][-a-z0-9_]*\$?$`)
	groupNameRE = regexp.MustCompile(`^[a-z_][-a-z0-9_]*\$?$`)
	// skelIgnoreRE is adduser's default SKEL_IGNORE_REGEX.
	skelIgnoreRE = regexp.MustCompile(`\.(dpkg|ucf)-(old|new|dist|save)$`)
)

const maxNameLength = 32

// SudoersFile is where server.user's sudo=True puts a user's sudo rule.
func SudoersFile(user string) string { return "/etc/sudoers.d/010_pibake-" + user }

// Plan implements Op.
//
// A new user gets the first free UID from UID_MIN (/etc/login.defs), a
// primary group of its name (with the same number when it is free, as
// adduser does), the password "*" unless a hash is given, and a home made
// from /etc/skel with adduser.conf's DIR_MODE. An existing user is never
// renumbered; an empty Shell or Home leaves its own alone, and a home that
// exists is not touched (only its .ssh). Supplementary groups are exactly
// Groups, in /etc/group and /etc/gshadow; missing ones are made as system
// groups, numbered from 999 down as addgroup --system does.
//
// Limits: a changed home is made anew from the skeleton; the old one is
// not moved. The files are replaced atomically but /etc/.pwd.lock is not
// taken, so a useradd running at the same moment on a live system can
// race with the write.
func (o *User) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	defs, err := loginDefs(env, map[string]int{
		"UID_MIN": 1000, "UID_MAX": 60000, "GID_MIN": 1000, "GID_MAX": 60000,
		"SYS_GID_MIN": 100, "SYS_GID_MAX": 999,
		"PASS_MIN_DAYS": 0, "PASS_MAX_DAYS": 99999, "PASS_WARN_AGE": 7,
	})
	if err != nil {
		return nil, err
	}
	conf, err := adduserConf(env, map[string]string{"DIR_MODE": "0700", "SKEL": "/etc/skel"})
	if err != nil {
		return nil, err
	}
	dirMode, err := ParseMode(conf["DIR_MODE"])
	if err != nil {
		return nil, fmt.Errorf("/etc/adduser.conf: DIR_MODE: %w", err)
	}
	var db struct{ passwd, shadow, group, gshadow *accountFile }
	for _, f := range []struct {
		to     **accountFile
		path   string
		fields int
	}{{&db.passwd, passwdFile, 7}, {&db.shadow, shadowFile, 9}, {&db.group, groupFile, 4}, {&db.gshadow, gshadowFile, 4}} {
		if *f.to, err = readAccountFile(env, f.path, f.fields); err != nil {
			return nil, err
		}
	}
	if !db.passwd.exists || !db.group.exists {
		return nil, fmt.Errorf("user %s: the target has no %s or %s", o.Name, passwdFile, groupFile)
	}
	today := ""
	if !env.Now.IsZero() {
		today = strconv.FormatInt(env.Now.Unix()/86400, 10)
	}

	// The account.
	var uid, gid int
	var home string
	if i := db.passwd.find(o.Name); i >= 0 {
		pw := db.passwd.entry(i)
		if uid, err = strconv.Atoi(pw[2]); err != nil {
			return nil, fmt.Errorf("%s: user %s has a bad uid %q", passwdFile, o.Name, pw[2])
		}
		if gid, err = strconv.Atoi(pw[3]); err != nil {
			return nil, fmt.Errorf("%s: user %s has a bad gid %q", passwdFile, o.Name, pw[3])
		}
		if o.UID != 0 && o.UID != uid {
			return nil, fmt.Errorf("user %s exists with uid %d, not %d; pibake does not renumber users", o.Name, uid, o.UID)
		}
		if o.Home != "" {
			pw[5] = o.Home
		}
		if o.Shell != "" {
			pw[6] = o.Shell
		}
		home = pw[5]
		db.passwd.set(i, pw)
		if j := db.shadow.find(o.Name); j >= 0 {
			sp := db.shadow.entry(j)
			if o.PasswordHash != nil && sp[1] != *o.PasswordHash {
				sp[1], sp[2] = *o.PasswordHash, today
			}
			db.shadow.set(j, sp)
		} else {
			o.addShadow(db.shadow, defs, today)
		}
	} else {
		usedUIDs := db.passwd.ids()
		uid = o.UID
		if uid == 0 {
			if uid = firstFree(usedUIDs, defs["UID_MIN"], defs["UID_MAX"], 1); uid < 0 {
				return nil, fmt.Errorf("user %s: no free uid from %d to %d", o.Name, defs["UID_MIN"], defs["UID_MAX"])
			}
		} else if usedUIDs[uid] {
			return nil, fmt.Errorf("user %s: uid %d is taken by %s", o.Name, uid, db.passwd.nameOfID(uid))
		}
		if j := db.group.find(o.Name); j >= 0 {
			if gid, err = strconv.Atoi(db.group.entry(j)[2]); err != nil {
				return nil, fmt.Errorf("%s: group %s has a bad gid %q", groupFile, o.Name, db.group.entry(j)[2])
			}
		} else {
			usedGIDs := db.group.ids()
			gid = uid
			if usedGIDs[gid] {
				if gid = firstFree(usedGIDs, defs["GID_MIN"], defs["GID_MAX"], 1); gid < 0 {
					return nil, fmt.Errorf("user %s: no free gid from %d to %d", o.Name, defs["GID_MIN"], defs["GID_MAX"])
				}
			}
			db.group.add(o.Name, "x", strconv.Itoa(gid), "")
			if db.gshadow.exists {
				db.gshadow.add(o.Name, "!", "", "")
			}
		}
		home = o.Home
		if home == "" {
			home = "/home/" + o.Name
		}
		shell := o.Shell
		if shell == "" {
			shell = "/bin/bash"
		}
		db.passwd.add(o.Name, "x", strconv.Itoa(uid), strconv.Itoa(gid), ",,,", home, shell)
		o.addShadow(db.shadow, defs, today)
	}

	// Supplementary groups, exactly: in every group's member list or out.
	wanted := map[string]bool{}
	for _, g := range o.Groups {
		wanted[g] = true
	}
	for _, f := range []*accountFile{db.group, db.gshadow} {
		for i := range f.lines {
			e := f.entry(i)
			if len(strings.Split(f.lines[i], ":")) != f.fields {
				continue // not an entry; leave it as it is
			}
			e[3] = withMember(e[3], o.Name, wanted[e[0]])
			f.set(i, e)
		}
	}
	usedGIDs := db.group.ids()
	var created []string
	for _, g := range o.Groups {
		if db.group.find(g) >= 0 {
			continue
		}
		n := firstFree(usedGIDs, defs["SYS_GID_MAX"], defs["SYS_GID_MIN"], -1)
		if n < 0 {
			return nil, fmt.Errorf("user %s: group %s does not exist and no system gid is free to make it", o.Name, g)
		}
		usedGIDs[n] = true
		created = append(created, fmt.Sprintf("%s (%d)", g, n))
		db.group.add(g, "x", strconv.Itoa(n), o.Name)
		if db.gshadow.exists {
			db.gshadow.add(g, "!", "", o.Name)
		}
	}

	t := newTreePlan(env)
	for _, f := range []struct {
		file      *accountFile
		mode      Mode
		group     string
		sensitive bool
	}{
		{db.group, 0o644, "root", false},
		{db.gshadow, 0o640, "shadow", true},
		{db.passwd, 0o644, "root", false},
		{db.shadow, 0o640, "shadow", true},
	} {
		changes, err := f.file.plan(env, f.mode, f.group, f.sensitive)
		if err != nil {
			return nil, err
		}
		if f.file == db.group && len(created) > 0 {
			for _, c := range changes {
				if c.Kind == Write {
					c.Note = "creates system group " + strings.Join(created, ", ")
				}
			}
		}
		t.add(changes...)
	}

	// The home: made from the skeleton when missing, left alone otherwise.
	// An existing user's home comes from the target's passwd, unchecked.
	if err := CheckPath(home); err != nil {
		return nil, fmt.Errorf("user %s: home in %s: %w", o.Name, passwdFile, err)
	}
	fi, err := env.LstatIfExists(home)
	if err != nil {
		return nil, err
	}
	if fi == nil {
		if err := t.dir(home, dirMode, uid, gid, false); err != nil {
			return nil, err
		}
		if skel, err := env.LstatIfExists(conf["SKEL"]); err != nil {
			return nil, err
		} else if skel != nil && skel.IsDir() && home != conf["SKEL"] {
			err := t.copyTree(conf["SKEL"], home, uid, gid, skelIgnoreRE.MatchString)
			if err != nil {
				return nil, fmt.Errorf("user %s: copying %s: %w", o.Name, conf["SKEL"], err)
			}
		}
	}

	// Keys: exactly these, and no .ssh made for none.
	sshDir := path.Join(home, ".ssh")
	keysFile := path.Join(sshDir, "authorized_keys")
	keysExist := false
	if fi != nil {
		keys, err := env.LstatIfExists(keysFile)
		if err != nil {
			return nil, err
		}
		keysExist = keys != nil
	}
	if len(o.SSHKeys) > 0 || keysExist {
		var keys strings.Builder
		for _, k := range o.SSHKeys {
			keys.WriteString(strings.TrimSpace(k) + "\n")
		}
		if err := t.dir(sshDir, 0o700, uid, gid, false); err != nil {
			return nil, err
		}
		if err := t.file(FileSpec{Path: keysFile, Content: []byte(keys.String()), Mode: 0o600}, uid, gid, false); err != nil {
			return nil, err
		}
	}

	// Sudo: our own drop-in only; another file granting it is not ours.
	var sudo []*Change
	if o.Sudo {
		sudo, err = env.EnsureFile(FileSpec{Path: SudoersFile(o.Name), Content: []byte(o.Name + " ALL=(ALL) NOPASSWD: ALL\n"), Mode: 0o440})
	} else {
		sudo, err = env.EnsureAbsent(SudoersFile(o.Name))
	}
	if err != nil {
		return nil, err
	}
	t.add(sudo...)
	return t.changes, nil
}

// addShadow appends o's shadow entry, aged as login.defs says.
func (o *User) addShadow(shadow *accountFile, defs map[string]int, today string) {
	hash := "*"
	if o.PasswordHash != nil {
		hash = *o.PasswordHash
	}
	shadow.add(o.Name, hash, today, strconv.Itoa(defs["PASS_MIN_DAYS"]), strconv.Itoa(defs["PASS_MAX_DAYS"]),
		strconv.Itoa(defs["PASS_WARN_AGE"]), "", "", "")
}

// maxUID is the largest uid a recipe may ask for: uid_t is 32 bits, but
// tools that keep ids in a signed int go wrong above it.
const maxUID = 1<<31 - 1

func (o *User) Validate() error {
	if len(o.Name) > maxNameLength || !userNameRE.MatchString(o.Name) {
		return fmt.Errorf("name: %q is not a user name (at most %d of a-z, 0-9, '-' and '_', starting with a letter)", o.Name, maxNameLength)
	}
	if o.UID < 0 || o.UID > maxUID {
		return fmt.Errorf("uid: %d is not a user id (1 to %d; 0 or none picks a free one)", o.UID, maxUID)
	}
	seen := map[string]bool{}
	for _, g := range o.Groups {
		if len(g) > maxNameLength || !groupNameRE.MatchString(g) {
			return fmt.Errorf("groups: %q is not a group name", g)
		}
		if seen[g] {
			return fmt.Errorf("groups: %s is listed twice", g)
		}
		seen[g] = true
	}
	if o.Shell != "" && (!path.IsAbs(o.Shell) || strings.ContainsAny(o.Shell, ":\n")) {
		return fmt.Errorf("shell: want an absolute path, got %q", o.Shell)
	}
	if o.Home != "" && (CheckPath(o.Home) != nil || strings.ContainsAny(o.Home, ":\n") || o.Home == "/") {
		return fmt.Errorf("home: want an absolute, clean path other than /, got %q", o.Home)
	}
	// The hash is not shown: errors end up in logs.
	if o.PasswordHash != nil && (*o.PasswordHash == "" || strings.ContainsAny(*o.PasswordHash, ":\n")) {
		return fmt.Errorf("password_hash: want a crypt(3) hash (such as from mkpasswd), not empty and without ':'")
	}
	for i, k := range o.SSHKeys {
		if strings.TrimSpace(k) == "" || strings.ContainsAny(strings.TrimSpace(k), "\r\n") {
			return fmt.Errorf("ssh_keys[%d]: want one key on one line (give several keys as a list)", i)
		}
	}
	return nil
}

// firstFree returns the first number from first towards last (step +1 or
// -1) not in used, or -1.
func firstFree(used map[int]bool, first, last, step int) int {
	for n := first; (step > 0 && n <= last) || (step < 0 && n >= last); n += step {
		if !used[n] {
			return n
		}
	}
	return -1
}

// nameOfID returns the name of the entry with id n (field 2).
func (f *accountFile) nameOfID(n int) string {
	for i := range f.lines {
		if e := f.entry(i); e[2] == strconv.Itoa(n) {
			return e[0]
		}
	}
	return "?"
}
