// Package notebook keeps each tenant's notebooks and serves their HTTP API
// (/api/v1/notebooks): versioned lists of markdown and PromQL cells with a
// shared time range and variables, their export to a Grafana dashboard and
// of one PromQL cell to a rule group the ruler's config API accepts. It is
// the backend of the ui role.
//
// Notebooks live in the bucket under the tenant's prefix, one immutable
// object per version:
//
//	<tenant>/notebooks/<ULID>/<version, 10 digits>.json
//
// The block readers skip the directory, which is not a block ULID; a
// tenant's deletion removes it with everything else of the tenant.
//
// Imports: pkg/httpapi, pkg/limits.
package notebook
