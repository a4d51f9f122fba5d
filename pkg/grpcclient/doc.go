// Package grpcclient keeps the gRPC connections one weft process opens to
// its peers (ingesters, store-gateways, schedulers, rulers, Alertmanager
// replicas): one per address, dialled alike, reconnecting within a second
// of a peer's restart.
//
// Imports: none.
package grpcclient
