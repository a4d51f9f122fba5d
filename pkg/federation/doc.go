// Package federation reads several tenants as one: the ruler's federated
// rule groups (source_tenants) and, with -tenant-federation.enabled, the
// query API's "a|b" in X-Scope-OrgID. Each series carries its tenant in
// the __tenant_id__ label.
//
// Imports: pkg/tenant.
package federation
