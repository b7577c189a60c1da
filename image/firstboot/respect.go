package firstboot

import (
	"errors"
	"io/fs"

	"github.com/pibake/pibake/ops"
	"github.com/pibake/pibake/recipes"
)

// Raspberry Pi OS's own first boot, as Respect finds it in an image.
const (
	// userconfig.service is userconf-pi's first-user wizard. pi-gen runs
	// "rename-user -f -s" on its images (stage2, when
	// DISABLE_FIRST_BOOT_USER_RENAME is 0, the default; with cloud-init,
	// a plain "systemctl enable userconfig.service"). rename-user runs
	// "systemctl disable getty@tty1" and "systemctl enable userconfig"
	// and writes an sshd banner, rename_user.conf; on desktop images also
	// /etc/xdg/autostart/piwiz.desktop. At boot, userconf-service takes a
	// user from /boot/firmware/userconf.txt (Raspberry Pi Imager writes
	// one) or asks for one on a console, renames the uid-1000 user to
	// it, and ends with cancel-rename, which disables userconfig and
	// enables getty@tty1 again. (RPi-Distro/userconf-pi; pi-gen
	// stage2/01-sys-tweaks.) A uid-1000 user made by a recipe does not
	// stop it: it would be renamed.
	userconfigUnit = "userconfig.service"
	gettyTemplate  = "getty@.service"
	gettyTTY1      = "getty@tty1.service"
	renameBanner   = "/etc/ssh/sshd_config.d/rename_user.conf"
	piwizAutostart = "/etc/xdg/autostart/piwiz.desktop"

	// cloud-init reads /etc/cloud/cloud.cfg, then cloud.cfg.d/*.cfg in
	// name order, later files winning; then the user-data (Trixie images:
	// NoCloud seeded from /boot/firmware, pi-gen
	// stage2/04-cloud-init/files/99_raspberry-pi.cfg). Its set_hostname
	// and update_hostname modules leave the hostname (and /etc/hosts)
	// alone when preserve_hostname is true. "99_pibake.cfg" sorts after
	// pi-gen's 99_default.cfg, which sets none of it.
	cloudConfig       = "/etc/cloud/cloud.cfg"
	cloudHostnameFile = "/etc/cloud/cloud.cfg.d/99_pibake.cfg"
)

// cloudHostnameConfig keeps cloud-init from setting the hostname.
const cloudHostnameConfig = `# Written by pibake: the recipe sets this machine's hostname
# (server.hostname), so cloud-init must not set it from its datasource or
# the user-data on the boot partition.
preserve_hostname: true
`

var unitDirs = []string{"/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

// Respect returns the steps that keep Raspberry Pi OS's own first boot
// from undoing what recipe r sets, for the image sys; none when the image
// has nothing of it. The bake applies them with the recipe; they are file
// changes only.
//
// When the recipe makes a user (server.user): the first-user wizard is
// turned off the way its own cancel-rename does when it is done, so that
// it neither asks for a user on the console nor renames the uid-1000 user:
// userconfig.service disabled, getty@tty1 enabled again (rename-user had
// disabled it for the wizard), the "please rename" sshd banner and the
// desktop wizard's autostart entry removed. Not done: the desktop
// wizard's rpi-first-boot-wizard account and its lightdm autologin, which
// only a desktop image where rename-user ran interactively has.
//
// When the recipe sets the hostname (server.hostname) and the image has
// cloud-init (Trixie): a cloud.cfg.d file with preserve_hostname: true. A
// user-data file that sets preserve_hostname itself still wins (it is read
// last); Raspberry Pi Imager's does not.
//
// cloud-init's users and ssh modules are left alone: what they do comes
// from the user-data the person flashing the card chose, and it happens
// before first boot's apply (pibake-firstboot.service is ordered after
// cloud-config.service), whose users, keys and sshd drop-in (ssh.server
// writes 00-pibake.conf, which sshd reads before cloud-init's
// 50-cloud-init.conf) are what stays.
func Respect(sys ops.System, r *recipes.Recipe) ([]*ops.Step, error) {
	makesUser, setsHostname := false, false
	for _, s := range r.Steps {
		switch s.Op.(type) {
		case *ops.User:
			makesUser = true
		case *ops.Hostname:
			setsHostname = true
		}
	}
	var steps []*ops.Step
	add := func(id string, op ops.Op) {
		steps = append(steps, &ops.Step{ID: "respect-" + id, Pos: Pos, Op: op})
	}
	if makesUser {
		wizard, err := unitExists(sys, userconfigUnit)
		if err != nil {
			return nil, err
		}
		if wizard {
			disabled := false
			add("userconfig", &ops.SystemdService{Name: userconfigUnit, Enabled: &disabled})
			getty, err := unitExists(sys, gettyTemplate)
			if err != nil {
				return nil, err
			}
			if getty {
				enabled := true
				add("getty", &ops.SystemdService{Name: gettyTTY1, Enabled: &enabled})
			}
		}
		for _, f := range []struct{ id, path string }{{"rename-banner", renameBanner}, {"piwiz", piwizAutostart}} {
			if ok, err := exists(sys, f.path); err != nil {
				return nil, err
			} else if ok {
				add(f.id, &ops.FileAbsent{Path: f.path})
			}
		}
	}
	if setsHostname {
		ok, err := exists(sys, cloudConfig)
		if err != nil {
			return nil, err
		}
		if ok {
			add("cloud-init-hostname", &ops.FilePut{Path: cloudHostnameFile, Content: []byte(cloudHostnameConfig), Mode: 0o644, Owner: "root", Group: "root"})
		}
	}
	return steps, nil
}

func unitExists(sys ops.System, name string) (bool, error) {
	for _, dir := range unitDirs {
		if ok, err := exists(sys, dir+"/"+name); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func exists(sys ops.System, p string) (bool, error) {
	_, err := sys.Lstat(p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}
