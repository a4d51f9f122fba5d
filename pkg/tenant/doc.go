// Package tenant resolves and carries the tenant of a request. Every API of
// weft is per tenant: the tenant comes from the X-Scope-OrgID header, or is
// "anonymous" when multi-tenancy is disabled.
//
// Imports: none.
package tenant
