//go:build slicelabels || dedupelabels

package wire

// labelString copies b: with these label implementations the built labels
// keep the strings that were added.
func labelString(b []byte) string { return string(b) }
