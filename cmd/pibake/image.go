package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pibake/pibake/image"
	"github.com/pibake/pibake/ops"
)

func newImage(io *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Look inside or fix a card image without mounting it",
		Long: `image reads and edits a Raspberry Pi OS disk image (.img) in place, without
root or mounting: paths are as on the Pi, and those under the boot
partition's mount point (/boot/firmware, from the image's own /etc/fstab)
go to the FAT32 partition, the rest to the ext4 root. Owners are names or
numbers from the image's own /etc/passwd and /etc/group.`,
		Example: `  pibake image ls raspios.img /boot/firmware
  pibake image cat raspios.img /etc/hostname
  pibake image put raspios.img wpa.conf /etc/motd --mode 0644 --owner root:root
  pibake image mkdir raspios.img /opt/robot --owner 1000:1000`,
	}
	cmd.AddCommand(newImageLs(io), newImageCat(io), newImageStat(io),
		newImagePut(io), newImageMkdir(io), newImageSymlink(io), newImageRm(io))
	return cmd
}

// withImage opens the image, runs f, and closes the image (writing back
// what is pending), reporting the first error.
func withImage(path string, write bool, f func(*image.Image) error) error {
	im, err := image.Open(path, image.Options{ReadOnly: !write})
	if err != nil {
		return err
	}
	err = f(im)
	if cerr := im.Close(); err == nil {
		err = cerr
	}
	return err
}

func newImageLs(io *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "ls IMAGE [PATH]",
		Short: "List a directory in an image",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "/"
			if len(args) == 2 {
				dir = args[1]
			}
			return withImage(args[0], false, func(im *image.Image) error {
				fi, err := im.Stat(dir)
				if err != nil {
					return err
				}
				list := []*ops.FileInfo{fi}
				if fi.IsDir() {
					if list, err = im.ReadDir(dir); err != nil {
						return err
					}
				}
				names := ownerNames(im)
				rows := make([][]string, len(list))
				width := make([]int, 3)
				for i, fi := range list {
					rows[i] = []string{names.user(fi.UID), names.group(fi.GID), strconv.FormatInt(fi.Size, 10)}
					for j, cell := range rows[i] {
						width[j] = max(width[j], len(cell))
					}
				}
				for i, fi := range list {
					name := fi.Name
					if fi.IsSymlink() {
						name += " -> " + fi.Target
					}
					r := rows[i]
					if _, err := fmt.Fprintf(io.stdout, "%s %-*s %-*s %*s %s\n", modeString(fi.Mode),
						width[0], r[0], width[1], r[1], width[2], r[2], name); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
}

func newImageCat(io *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "cat IMAGE PATH",
		Short: "Print a file from an image",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withImage(args[0], false, func(im *image.Image) error {
				b, err := im.ReadFile(args[1])
				if err != nil {
					return err
				}
				_, err = io.stdout.Write(b)
				return err
			})
		},
	}
}

func newImageStat(io *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "stat IMAGE PATH",
		Short: "Describe a file in an image",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withImage(args[0], false, func(im *image.Image) error {
				fi, err := im.Lstat(args[1])
				if err != nil {
					return err
				}
				names := ownerNames(im)
				w := tabwriter.NewWriter(io.stdout, 0, 4, 1, ' ', 0)
				fmt.Fprintf(w, "path:\t%s\n", args[1])
				fmt.Fprintf(w, "type:\t%s\n", typeName(fi))
				fmt.Fprintf(w, "mode:\t%s (%s)\n", ops.ModeOf(fi.Mode), modeString(fi.Mode))
				fmt.Fprintf(w, "owner:\t%d (%s)\n", fi.UID, names.user(fi.UID))
				fmt.Fprintf(w, "group:\t%d (%s)\n", fi.GID, names.group(fi.GID))
				fmt.Fprintf(w, "size:\t%d\n", fi.Size)
				if fi.IsSymlink() {
					fmt.Fprintf(w, "target:\t%s\n", fi.Target)
				}
				partition := "root (ext4)"
				if fi.FixedMode {
					partition = "boot (FAT32, mounted at " + im.BootMount() + "; keeps no modes or owners)"
				}
				fmt.Fprintf(w, "partition:\t%s\n", partition)
				return w.Flush()
			})
		},
	}
}

// ownerFlags are --mode and --owner for the commands that make things.
type ownerFlags struct {
	mode  string
	owner string
}

func (f *ownerFlags) register(cmd *cobra.Command, mode string) {
	f.mode = mode
	cmd.Flags().StringVar(&f.mode, "mode", mode, "permission `MODE` (octal)")
	cmd.Flags().StringVar(&f.owner, "owner", "root:root", "`USER:GROUP`, names or numbers from the image")
}

func (f *ownerFlags) parse() (mode ops.Mode, user, group string, err error) {
	if mode, err = ops.ParseMode(f.mode); err != nil {
		return 0, "", "", fmt.Errorf("--mode: %w", err)
	}
	user, group, ok := strings.Cut(f.owner, ":")
	if !ok || user == "" || group == "" {
		return 0, "", "", fmt.Errorf("--owner %q: want USER:GROUP, such as 1000:1000 or pi:pi", f.owner)
	}
	return mode, user, group, nil
}

func newImagePut(io *streams) *cobra.Command {
	var flags ownerFlags
	cmd := &cobra.Command{
		Use:   "put IMAGE LOCAL PATH",
		Short: "Copy a local file into an image (LOCAL - reads stdin)",
		Long: `put copies LOCAL into the image at PATH, replacing what is there
atomically and making missing parent directories (0755 root:root).`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode, user, group, err := flags.parse()
			if err != nil {
				return err
			}
			var content []byte
			if args[1] == "-" {
				content, err = readAll(io.stdin)
			} else {
				content, err = os.ReadFile(args[1])
			}
			if err != nil {
				return err
			}
			op := &ops.FilePut{Path: args[2], Content: content, Mode: mode, Owner: user, Group: group}
			return editImage(cmd.Context(), io, args[0], op)
		},
	}
	flags.register(cmd, "0644")
	return cmd
}

func newImageMkdir(io *streams) *cobra.Command {
	var flags ownerFlags
	cmd := &cobra.Command{
		Use:   "mkdir IMAGE PATH",
		Short: "Make a directory in an image, and its parents",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode, user, group, err := flags.parse()
			if err != nil {
				return err
			}
			op := &ops.FileDirectory{Path: args[1], Mode: mode, Owner: user, Group: group}
			return editImage(cmd.Context(), io, args[0], op)
		},
	}
	flags.register(cmd, "0755")
	return cmd
}

func newImageSymlink(io *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "symlink IMAGE TARGET LINKPATH",
		Short: "Make a symbolic link in an image",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return editImage(cmd.Context(), io, args[0], &ops.FileLink{Path: args[2], Target: args[1]})
		},
	}
}

func newImageRm(io *streams) *cobra.Command {
	var recursive bool
	cmd := &cobra.Command{
		Use:   "rm IMAGE PATH",
		Short: "Remove a file, link or empty directory from an image (-r: a whole tree)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !recursive {
				err := withImage(args[0], false, func(im *image.Image) error {
					fi, err := im.Lstat(args[1])
					if err != nil {
						return err
					}
					if fi.IsDir() {
						if list, err := im.ReadDir(args[1]); err != nil || len(list) > 0 {
							return errors.Join(err, fmt.Errorf("%s is a directory that is not empty (use -r to remove it and everything in it)", args[1]))
						}
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
			return editImage(cmd.Context(), io, args[0], &ops.FileAbsent{Path: args[1]})
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "remove a directory and everything in it")
	return cmd
}

// editImage brings the image to what op says, as a recipe would, telling
// on stderr what it changed.
func editImage(ctx context.Context, io *streams, path string, op ops.Op) error {
	return withImage(path, true, func(im *image.Image) error {
		env := &ops.Env{Sys: im, Now: time.Now(), Changed: func(string) bool { return false }}
		changes, err := ops.Plan(ctx, env, op)
		if err != nil {
			return err
		}
		for _, c := range changes {
			if err := im.Apply(ctx, c); err != nil {
				return err
			}
			fmt.Fprintf(io.stderr, "%s: %s\n", path, c)
		}
		if len(changes) == 0 {
			fmt.Fprintf(io.stderr, "%s: nothing to change\n", path)
		}
		return nil
	})
}

func readAll(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	return io.ReadAll(r)
}

// owners maps ids to names through an image's /etc/passwd and /etc/group.
type owners struct{ users, groups map[int]string }

func ownerNames(im *image.Image) owners {
	return owners{users: idNames(im, "/etc/passwd"), groups: idNames(im, "/etc/group")}
}

func idNames(im *image.Image, db string) map[int]string {
	names := map[int]string{}
	b, err := im.ReadFile(db)
	if err != nil {
		return names
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 3 {
			continue
		}
		if id, err := strconv.Atoi(f[2]); err == nil {
			if _, seen := names[id]; !seen {
				names[id] = f[0]
			}
		}
	}
	return names
}

func (o owners) user(id int) string  { return nameOr(o.users, id) }
func (o owners) group(id int) string { return nameOr(o.groups, id) }

func nameOr(names map[int]string, id int) string {
	if n, ok := names[id]; ok {
		return n
	}
	return strconv.Itoa(id)
}

func typeName(fi *ops.FileInfo) string {
	switch {
	case fi.IsDir():
		return "directory"
	case fi.IsSymlink():
		return "symbolic link"
	case fi.IsRegular():
		return "file"
	}
	return "special file (" + fi.Mode.Type().String() + ")"
}
