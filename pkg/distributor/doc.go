// Package distributor receives remote-write pushes: it resolves the tenant,
// decodes remote write 1.0 and 2.0, validates every series, applies the
// tenant's rate limit and hands the request to a wire.Pusher (the ingesters).
// It may import pkg/wire, pkg/remotewrite, pkg/limits, pkg/tenant,
// pkg/httpapi and libraries, never another component.
package distributor
