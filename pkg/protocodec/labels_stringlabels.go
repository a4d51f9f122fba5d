//go:build !slicelabels && !dedupelabels

package protocodec

// CloneLabelStrings says whether LabelString copies. The default
// (stringlabels) implementation copies every name and value into the one
// string that ScratchBuilder.Labels returns, so the strings handed to
// ScratchBuilder.Add may alias the message and a copy per label is saved.
const CloneLabelStrings = false
