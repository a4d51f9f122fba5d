// Package alertmanager is the alertmanager role: one Prometheus Alertmanager
// (github.com/prometheus/alertmanager as a library: dispatcher, inhibitor,
// silences, notification log, notification pipeline and the v2 API) per
// tenant that has a configuration. Configurations are uploaded through
// Cortex's and Mimir's API (/api/v1/alerts), validated and kept in the
// bucket. A tenant's Alertmanager runs on several replicas, which share the
// notification log and the silences over weft's gRPC (no gossip port) and
// save them in the bucket, so the cluster notifies once and a silence holds
// on every replica and across restarts. It never imports another component.
//
// Imports: pkg/grpcclient, pkg/httpapi, pkg/limits, pkg/logutil,
// pkg/protocodec.
package alertmanager
