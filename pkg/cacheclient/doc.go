// Package cacheclient builds the cache clients that several components
// share: an in-process LRU bounded in bytes and dskit's memcached client
// with its configuration. What is cached, and under which keys, is the
// business of each user (the bucket's block objects, the query-frontend's
// results).
//
// Imports: pkg/logutil.
package cacheclient
