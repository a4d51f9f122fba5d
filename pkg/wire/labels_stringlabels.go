//go:build !slicelabels && !dedupelabels

package wire

import "unsafe"

// labelString returns a string for a label name or value that is passed to
// labels.ScratchBuilder.Add: with stringlabels, Labels() copies every
// string into the new set, so the bytes need not outlive it and no string
// is allocated per label.
func labelString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
