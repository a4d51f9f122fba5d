// Package s3test runs a real S3-compatible server (versitygw with its
// posix backend, installed by scripts/s3server.sh) on a loopback port for
// the tests that need one: pkg/bucket's and the integration tests. The
// server can be killed and started again on the same port and data, to
// inject a real outage. It is imported by tests only.
//
// Imports: internal/testport.
package s3test
