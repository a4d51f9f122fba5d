//go:build slicelabels || dedupelabels

package remotewrite

// cloneLabelStrings says whether strings handed to labels.ScratchBuilder.Add
// must be copies. The slicelabels and dedupelabels implementations keep the
// strings they are given (in the label slice or the symbol table), so they
// must not alias the decompressed body, which the next request overwrites.
const cloneLabelStrings = true
