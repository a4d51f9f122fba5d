//go:build slicelabels || dedupelabels

package protocodec

// CloneLabelStrings says whether LabelString copies. The slicelabels and
// dedupelabels implementations keep the strings they are given (in the label
// slice or the symbol table), so those must not alias a message buffer that
// the next request overwrites.
const CloneLabelStrings = true
