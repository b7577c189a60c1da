//go:build unix

package reconcile

import (
	"fmt"
	"io/fs"
	"syscall"
)

func fileOwner(fi fs.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
	}
	return ""
}
