// Package httpapi writes answers in the Prometheus HTTP API envelope so
// that every /api/v1 path of weft, not only the query API, speaks the format
// Prometheus clients and Grafana already parse.
//
// Imports: none.
package httpapi
