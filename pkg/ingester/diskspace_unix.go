//go:build unix

package ingester

import "syscall"

// freeDiskBytes returns the space of dir's file system that an
// unprivileged process may still use.
func freeDiskBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil // the field types differ between systems
}
