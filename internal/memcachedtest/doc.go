// Package memcachedtest runs a real memcached (the Debian package
// memcached) on a loopback port for tests of the caches that use it. It is
// imported by tests only.
//
// Imports: internal/testport.
package memcachedtest
