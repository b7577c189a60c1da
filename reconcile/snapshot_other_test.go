//go:build !unix

package reconcile

import "io/fs"

func fileOwner(fs.FileInfo) string { return "" }
