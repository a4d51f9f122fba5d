// Package tlsconfig builds the TLS configurations of weft's servers (HTTP
// and gRPC) and of the clients between its roles, from certificate files
// that are reloaded without a restart.
//
// Imports: none.
package tlsconfig
