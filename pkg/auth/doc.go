// Package auth is weft's built-in authentication: with -auth.type=tokens,
// every request but the open status pages must present a bearer token or
// basic-auth credentials listed in a YAML file (-auth.tokens-file), which
// gives them tenants and scopes (write, read, rules, admin). The file is
// polled and reloaded live; a file that does not load keeps the previous
// one in force. With -auth.type=header, the default, weft trusts
// X-Scope-OrgID as it always did (a gateway in front authenticates).
//
// The Authenticator sets X-Scope-OrgID on the requests it lets through,
// so that the handlers behind it (pkg/tenant's Resolver) need not know
// about credentials.
//
// Imports: pkg/httpapi, pkg/tenant.
package auth
