//go:build !slicelabels && !dedupelabels

package remotewrite

// cloneLabelStrings says whether strings handed to labels.ScratchBuilder.Add
// must be copies. The default (stringlabels) implementation copies every name
// and value into the one string that Labels() returns, so they may alias the
// decompressed body and the decoder saves a copy per label.
const cloneLabelStrings = false
