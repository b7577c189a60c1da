//go:build linux

package imagetest

import (
	"fmt"
	"slices"
	"strings"
)

// A Profile says how mkfs.ext4 makes the root filesystem. The names are
// stable: tests and benchmark reports use them.
type Profile string

const (
	// PiGen is what Raspberry Pi OS ships: pi-gen's flags on Debian's
	// e2fsprogs 1.47 defaults.
	PiGen Profile = "pigen"
	// E2fs147 is upstream e2fsprogs 1.47's defaults, which Debian trims.
	E2fs147 Profile = "e2fs147"
	// Bit64 has 64-byte group descriptors and metadata_csum, but no
	// checksum seed and no orphan file.
	Bit64 Profile = "bit64"
	// NoCsum has no metadata_csum: uninit_bg group descriptor checksums only.
	NoCsum Profile = "nocsum"
)

// Profiles lists every profile, PiGen first.
func Profiles() []Profile { return []Profile{PiGen, E2fs147, Bit64, NoCsum} }

// MkfsFeatures is the argument of mkfs.ext4 -O for p.
func (p Profile) MkfsFeatures() string {
	switch p {
	case PiGen:
		// pi-gen's export-image/prerun.sh: ^huge_file, and ^64bit when
		// mke2fs.conf turns it on (it does on Debian).
		return "^64bit,^huge_file"
	case E2fs147:
		// Debian's mke2fs.conf leaves these out of upstream's ext4 list.
		return "64bit,huge_file,metadata_csum,orphan_file,metadata_csum_seed"
	case Bit64:
		return "64bit,huge_file,metadata_csum,^metadata_csum_seed,^orphan_file"
	case NoCsum:
		// Without metadata_csum, 1.47 does not turn uninit_bg on by itself.
		return "^metadata_csum,^metadata_csum_seed,^orphan_file,uninit_bg"
	}
	return ""
}

// Features says which ext4 features dumpe2fs must report on (true) or off
// (false) for p. Features it does not name are not checked.
func (p Profile) Features() map[string]bool {
	common := map[string]bool{
		"has_journal": true, "ext_attr": true, "resize_inode": true, "dir_index": true,
		"filetype": true, "extent": true, "flex_bg": true, "sparse_super": true,
		"large_file": true, "dir_nlink": true, "extra_isize": true,
		"inline_data": false, "encrypt": false, "casefold": false, "bigalloc": false,
	}
	set := func(on []string, off []string) map[string]bool {
		for _, f := range on {
			common[f] = true
		}
		for _, f := range off {
			common[f] = false
		}
		return common
	}
	switch p {
	case PiGen:
		return set([]string{"metadata_csum"}, []string{"64bit", "huge_file", "metadata_csum_seed", "orphan_file", "uninit_bg"})
	case E2fs147:
		return set([]string{"64bit", "huge_file", "metadata_csum", "metadata_csum_seed", "orphan_file"}, []string{"uninit_bg"})
	case Bit64:
		return set([]string{"64bit", "huge_file", "metadata_csum"}, []string{"metadata_csum_seed", "orphan_file", "uninit_bg"})
	case NoCsum:
		return set([]string{"uninit_bg"}, []string{"metadata_csum", "metadata_csum_seed", "orphan_file"})
	}
	return nil
}

func (p Profile) valid() error {
	if !slices.Contains(Profiles(), p) {
		names := make([]string, 0, 4)
		for _, q := range Profiles() {
			names = append(names, string(q))
		}
		return fmt.Errorf("unknown profile %q (want one of %s)", p, strings.Join(names, ", "))
	}
	return nil
}

// checkFeatures compares the features dumpe2fs reported with want.
func checkFeatures(p Profile, have map[string]bool) error {
	var wrong []string
	for f, on := range p.Features() {
		if have[f] != on {
			state := "off"
			if have[f] {
				state = "on"
			}
			wrong = append(wrong, f+" is "+state)
		}
	}
	if len(wrong) > 0 {
		slices.Sort(wrong)
		return fmt.Errorf("profile %s: mkfs.ext4 -O %s made a filesystem where %s", p, p.MkfsFeatures(), strings.Join(wrong, ", "))
	}
	return nil
}
