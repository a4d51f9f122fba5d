// Package bucket configures the object storage bucket that holds every
// tenant's blocks, using thanos-io/objstore for the backends (filesystem,
// S3, GCS, Azure, Swift), and adds what weft needs on top of them: an
// optional prefix, metrics, retries with backoff (WithRetries) and atomic
// uploads on the filesystem backend. It owns the bucket layout:
// <tenant>/<block ULID>/... plus per-tenant prefixes. Components take the
// objstore.Bucket it returns.
//
// Imports: pkg/cacheclient, pkg/logutil.
package bucket
