// Package ring puts weft's roles on dskit's hash ring: it configures dskit's
// KV stores (memberlist gossip by default, etcd, Consul, or in-memory for
// tests), the lifecycler with which an ingester registers itself, and the
// ring client with which distributors and queriers find ingesters. It does
// not implement a ring or gossip of its own.
//
// One process holds one KV (NewKV), shared by all of its rings. An ingester
// runs an IngesterLifecycler (NewIngesterLifecycler); distributors and
// queriers read the ring through one Ring (NewIngesterRing). A series goes
// to ReplicasForToken(TenantShard(ring, tenant, shardSize), TokenFor(tenant,
// labels), dsring.Write, buf); a querier reads ReadReplicationSet. The
// ring's status page is Ring.ServeHTTP (/ring) and the gossip cluster's is
// KV.MemberlistHandler (/memberlist).
//
// Start order: KV, then the lifecycler and the ring client; stop in reverse.
//
// Imports: pkg/logutil.
package ring
