package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ownerFile keeps, in a root directory, the ownership a non-root pibake
// could not set.
const ownerFile = ".pibake-owners.json"

type ownerDB struct {
	file string
	euid int
	ids  map[string][2]int // slash path relative to the root -> uid, gid
}

func (db *ownerDB) load() error {
	db.ids = map[string][2]int{}
	b, err := os.ReadFile(db.file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &db.ids); err != nil {
		return fmt.Errorf("%s: %w", db.file, err)
	}
	return nil
}

func (db *ownerDB) save() error {
	b, err := json.MarshalIndent(db.ids, "", "\t")
	if err != nil {
		return err
	}
	tmp := db.file + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, db.file)
}

func (s *System) key(hp string) string {
	rel, err := filepath.Rel(s.root, hp)
	if err != nil {
		return hp
	}
	return "/" + filepath.ToSlash(rel)
}

// moveOwner carries a recorded owner from a temporary name to the final one.
func (s *System) moveOwner(from, to string) error {
	if s.owners == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, had := s.owners.ids[s.key(from)]
	_, hadTo := s.owners.ids[s.key(to)]
	if !had && !hadTo {
		return nil
	}
	delete(s.owners.ids, s.key(from))
	if had {
		s.owners.ids[s.key(to)] = o
	} else {
		delete(s.owners.ids, s.key(to))
	}
	return s.owners.save()
}

// forgetOwner drops what is recorded for hp and everything below it.
func (s *System) forgetOwner(hp string) error {
	if s.owners == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.key(hp)
	changed := false
	for p := range s.owners.ids {
		if p == k || strings.HasPrefix(p, k+"/") {
			delete(s.owners.ids, p)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return s.owners.save()
}
