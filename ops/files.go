package ops

import (
	"context"
	"errors"
)

func init() {
	Register("files.put", func() Op { return new(FilePut) })
	Register("files.directory", func() Op { return new(FileDirectory) })
	Register("files.link", func() Op { return new(FileLink) })
	Register("files.absent", func() Op { return new(FileAbsent) })
	Register("files.line", func() Op { return new(FileLine) })
	Register("files.sync", func() Op { return new(FileSync) })
}

// FilePut is a regular file with the given content, mode and owner.
// A recipe's src= is read when the recipe compiles, so Content is all there is.
type FilePut struct {
	Path    string `json:"path"`
	Content Data   `json:"content"`
	Mode    Mode   `json:"mode"`
	Owner   string `json:"owner"`
	Group   string `json:"group"`
}

// FileDirectory is a directory with the given mode and owner.
type FileDirectory struct {
	Path  string `json:"path"`
	Mode  Mode   `json:"mode"`
	Owner string `json:"owner"`
	Group string `json:"group"`
}

// FileLink is a symbolic link.
type FileLink struct {
	Path   string `json:"path"`
	Target string `json:"target"`
}

// FileAbsent is a path that does not exist (a whole tree is removed).
type FileAbsent struct {
	Path string `json:"path"`
}

// FileLine is one line present in (or absent from) a text file. With Match
// (a regular expression), the lines matching it are replaced by Line
// (present) or removed (absent); without, Line is appended when missing.
type FileLine struct {
	Path    string `json:"path"`
	Line    string `json:"line"`
	Match   string `json:"match,omitempty"`
	Present bool   `json:"present"`
}

// FileSync makes Dest a copy of a local directory, read when the recipe
// compiled (so a baked image and its first boot carry the same content).
type FileSync struct {
	Src    string      `json:"src"` // where the files came from, for humans
	Dest   string      `json:"dest"`
	Owner  string      `json:"owner"`
	Group  string      `json:"group"`
	Delete bool        `json:"delete"`
	Files  []SyncEntry `json:"files"`
}

// SyncEntry is one entry of a synced tree, by slash-separated path relative
// to the tree's top. Exactly one of Dir, Link or (a regular file) Content.
type SyncEntry struct {
	Path    string `json:"path"`
	Mode    Mode   `json:"mode"`
	Dir     bool   `json:"dir,omitempty"`
	Link    string `json:"link,omitempty"`
	Content Data   `json:"content,omitempty"`
}

var errNotImplemented = errors.New("not implemented yet")

func (o *FilePut) Kind() string          { return "files.put" }
func (o *FilePut) Summary() string       { return o.Path }
func (o *FileDirectory) Kind() string    { return "files.directory" }
func (o *FileDirectory) Summary() string { return o.Path }
func (o *FileLink) Kind() string         { return "files.link" }
func (o *FileLink) Summary() string      { return o.Path + " -> " + o.Target }
func (o *FileAbsent) Kind() string       { return "files.absent" }
func (o *FileAbsent) Summary() string    { return o.Path }
func (o *FileLine) Kind() string         { return "files.line" }
func (o *FileLine) Summary() string      { return o.Path }
func (o *FileSync) Kind() string         { return "files.sync" }
func (o *FileSync) Summary() string      { return o.Src + " -> " + o.Dest }

func (o *FilePut) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *FileDirectory) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *FileLink) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *FileAbsent) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *FileLine) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
func (o *FileSync) Plan(ctx context.Context, env *Env) ([]*Change, error) {
	return nil, errNotImplemented
}
