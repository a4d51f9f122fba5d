// Package integration tests weft end to end the way users run it: TestMain
// builds the weft binary once, and each test starts it as a child process on
// loopback ports with its own data directory, talks to it only over HTTP
// (remote write in, the Prometheus query API out), stops it with SIGTERM or
// kills it with SIGKILL, and restarts it on the same directories.
//
// TestRealPrometheusEndToEnd runs the Debian package prometheus
// (/usr/bin/prometheus) as the remote-write client and as the reference
// PromQL implementation that weft's answers are compared against.
//
// Everything lives in _test.go files; this file only documents the package.
// It may import any weft package, but the tests deliberately use none: they
// see weft as a black box.
package integration
