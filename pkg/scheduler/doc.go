// Package scheduler is the query-scheduler: a fair queue of the tenants'
// queries between the query-frontends and the queriers.
//
// A frontend hands each query, an HTTP request of its tenant, to a
// scheduler (RoundTripper over an Enqueuer: the *Scheduler of its own
// process, or a *Client of remote ones over gRPC) and waits for the
// answer. The scheduler keeps one FIFO per tenant; querier workers (Worker)
// hold streams to every scheduler, one per query they may run at once,
// and take the next request of the next tenant in round-robin order, so
// that one tenant's thousand queued queries do not delay another's single
// one. Per tenant (pkg/limits): max_outstanding_requests_per_tenant
// queued queries, beyond which the query is refused with 429;
// max_queriers_per_tenant queriers (shuffle sharding by querier ID); and
// max_query_capacity, the share of the workers its queries may occupy at
// once, which keeps workers free for the other tenants while one floods.
//
// When a query's client goes away, the query leaves the queue, or the
// scheduler tells the worker running it, which cancels the handler's
// context. A worker runs requests through the querier's http.Handler, so
// the querier knows nothing of the scheduler.
//
// The gRPC service (RegisterGRPC) carries frames encoded with
// pkg/protocodec in a google.protobuf.BytesValue; in the all-in-one the
// worker and the frontend call the scheduler directly, with no encoding.
//
// Imports: pkg/grpcclient, pkg/httpapi, pkg/limits, pkg/logutil,
// pkg/protocodec, pkg/wire.
package scheduler
