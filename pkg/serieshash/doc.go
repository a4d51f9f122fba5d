// Package serieshash caches the shard hashes of a TSDB block's series, so
// that the shards of a sharded query do not each decode every matching
// series' labels to hash them. The store-gateway keeps a cache per loaded
// block, the ingester per local block; both share one memory budget per
// process role.
//
// Imports: none.
package serieshash
