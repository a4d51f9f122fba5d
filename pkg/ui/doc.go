// Package ui serves weft's web UI: a single-page app (expression browser,
// notebooks, explain tree, metrics explorer, cardinality) built from web/ui
// by scripts/build-ui.sh into dist/, which is committed and embedded, so the
// binary serves the UI without npm. The app calls weft's own HTTP API with
// the tenant chosen in the browser.
//
// Imports: none.
package ui
