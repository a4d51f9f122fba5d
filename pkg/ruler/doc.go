// Package ruler evaluates each tenant's recording and alerting rules with
// Prometheus' own rules package (one rules.Manager per tenant) and serves
// the rule groups' config API as Cortex and Mimir serve it.
//
// Rule groups live in the bucket, one object per group, under the
// tenant's prefix:
//
//	<tenant>/rules/<base64url(namespace)>/<base64url(group)>
//
// each object a rule group in YAML (RuleGroup). The names are encoded
// (base64url, no padding) since a namespace or group name may hold any
// character. Block readers skip the directory, which is not a block ULID.
//
// Queries read through a queryable that serves the tenant of its context
// (the querier's path), results are pushed through a wire.Pusher (the
// distributor's), and alerts go to an Alertmanager with the tenant in
// X-Scope-OrgID. With a ring, each ruler evaluates only the groups the
// ring gives it; the app builds the ring and passes ownership as a
// function. Since each ruler then evaluates a share of a tenant's groups,
// its rules service (RegisterGRPC) answers Prometheus' /api/v1/rules and
// /alerts over gRPC, and a querier's FanOut asks every ruler and merges.
//
// Imports: pkg/federation, pkg/grpcclient, pkg/httpapi, pkg/limits, pkg/logutil,
// pkg/tenant, pkg/wire.
package ruler
