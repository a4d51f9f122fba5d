package remotewrite

import "unsafe"

// unsafeString returns b as a string without copying. The string aliases b:
// it may only be used while b is not overwritten, that is until the next
// request is decompressed into the Decoder's buffer.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
