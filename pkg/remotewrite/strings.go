package remotewrite

import (
	"strings"
	"unsafe"
)

// unsafeString returns b as a string without copying. The string aliases b:
// it may only be used while b is not overwritten, that is until the next
// request is decompressed into the Decoder's buffer.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// labelString returns b as a string to hand to labels.ScratchBuilder.Add (or
// to keep in the 2.0 symbols table): without a copy when the labels
// implementation copies anyway.
func labelString(b []byte) string {
	if cloneLabelStrings {
		return strings.Clone(unsafeString(b))
	}
	return unsafeString(b)
}
