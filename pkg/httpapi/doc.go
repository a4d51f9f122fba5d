// Package httpapi is weft's HTTP error edge. Errors stay typed until a
// handler answers with one; Classify then picks, in this one place, the
// HTTP status and the Prometheus errorType of every error weft answers
// (push, the query API and the admin endpoints), and WriteError and
// WriteData write Prometheus' HTTP API envelope, so that every /api/v1 path
// of weft, not only the query API, speaks the format Prometheus clients and
// Grafana already parse.
//
// Imports: pkg/tenant, pkg/wire.
package httpapi
