// Package logutil builds weft's structured logger and adapts it to the
// go-kit logger interface that dskit and objstore still take.
//
// Imports: none.
package logutil
