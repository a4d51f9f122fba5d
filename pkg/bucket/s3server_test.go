package bucket

import (
	"testing"

	"github.com/weft-io/weft/internal/s3test"
)

// s3Server is the real S3 server of the tests (internal/s3test).
type s3Server struct{ *s3test.Server }

// startS3Server starts a server for the test and stops it at cleanup.
func startS3Server(t testing.TB) *s3Server { return &s3Server{s3test.Start(t)} }

func (s *s3Server) stop()                { s.Stop() }
func (s *s3Server) restart(t testing.TB) { s.Restart(t) }

// createBucket creates a bucket on the server and returns the weft config
// that reaches it.
func (s *s3Server) createBucket(t testing.TB, name string) Config {
	t.Helper()
	s.CreateBucket(t, name)
	c := defaultConfig(t)
	c.Backend = S3
	c.S3.Endpoint = s.Addr
	c.S3.BucketName = name
	c.S3.AccessKeyID = s3test.AccessKey
	c.S3.SecretAccessKey = s3test.SecretKey
	c.S3.Insecure = true
	return c
}
