// Package tlstest makes certificates for tests: a CA, and server and client
// certificates it signs, written as PEM files.
//
// Imports: none.
package tlstest
