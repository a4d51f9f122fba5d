// Package layout holds, in its test, the rules of weft's import graph, so
// that the layout the README and the package docs describe stays the one the
// code has. It has no code of its own; `go test ./internal/layout` checks,
// from the non-test files of every package of the module:
//
//   - every package under pkg/, internal/ and cmd/<command>/ (except the
//     commands' main packages) has a doc.go whose package comment has one
//     paragraph "Imports: pkg/a, pkg/b." (or "Imports: none.") listing exactly
//     the weft packages it imports, as `go list -f '{{.Imports}}'` shows
//     them, libraries left out;
//   - components (pkg/distributor, pkg/ingester, pkg/querier, ...) never
//     import each other, and the shared packages import no component;
//   - only the commands import pkg/app, and a command imports only pkg/app
//     and the packages under its own directory;
//   - nothing outside cmd/ imports a package under cmd/.
//
// Test files are free: a component's tests may use another component or the
// load generator.
//
// Imports: none.
package layout
