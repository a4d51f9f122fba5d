//go:build !unix

package ingester

import "errors"

// freeDiskBytes cannot tell the free space here: the ingester then lets
// the writes find a full disk.
func freeDiskBytes(string) (int64, error) {
	return 0, errors.New("free disk space is not known on this system")
}
