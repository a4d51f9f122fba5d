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
// The distributed tests (distributed_test.go, with the cluster harness in
// cluster_test.go) run each role as its own process: ingesters in a ring
// kept in memberlist (or in an etcd the test starts, /usr/bin/etcd from the
// Debian package etcd-server), a distributor and a querier, and kill and
// restart them under load. partition_test.go gives each process a network
// namespace of its own (ip(8), as root) to cut one off, and stops one with
// SIGSTOP.
//
// TestBucketOutage (outage_test.go) runs the distributed setup on a real
// S3 server, versitygw from internal/s3test (scripts/s3server.sh installs
// it), and kills the server for 5 minutes (WEFT_OUTAGE_DURATION shortens
// it while developing) while pushes, shipping and compaction go on.
//
// Everything lives in _test.go files; this file only documents the package.
// It may import any weft package, but the tests deliberately use none: they
// see weft as a black box.
package integration
