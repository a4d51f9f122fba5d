package integration

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/tlsconfig/tlstest"
)

// The distributed setup with every connection over TLS, with certificates
// the test makes: pushes and queries over HTTPS, gRPC between roles with
// mutual TLS verified by the CA, memberlist gossip over TLS, and a
// query-frontend in front of the querier's https URL. A querier
// given another CA cannot read the ingesters, and says why.
func TestTLSDistributed(t *testing.T) {
	const tenant = "tls-tenant"
	ctx := testContext(t, 2*time.Minute)
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "weft")
	other := tlstest.NewCA(t, dir, "other")
	cert, key := ca.Issue(t, dir, "node")
	pem, err := os.ReadFile(ca.CertFile)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pem))

	c := newCluster(t, 7,
		"-distributor.replication-factor=2",
		"-ingester.ring.heartbeat-period=1s",
		"-http.tls-cert-file="+cert, "-http.tls-key-file="+key,
		"-grpc.tls-cert-file="+cert, "-grpc.tls-key-file="+key,
		"-grpc.tls-client-ca-file="+ca.CertFile, "-grpc.tls-client-auth=RequireAndVerifyClientCert",
		"-grpc.tls-ca-file="+ca.CertFile, "-grpc.tls-client-cert-file="+cert, "-grpc.tls-client-key-file="+key,
		"-memberlist.tls-enabled", "-memberlist.tls-cert-file="+cert, "-memberlist.tls-key-file="+key, "-memberlist.tls-ca-file="+ca.CertFile,
	)
	c.tls = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	c.startIngester("ing-1")
	c.startIngester("ing-2")
	dist := c.start("distributor", "distributor")
	qr := c.start("querier", "querier")
	waitRing(t, 30*time.Second, "both ingesters ACTIVE", allActive("ing-1", "ing-2"), dist, qr)

	n := numbered{metric: "tls_test", nSeries: 10, base: time.Now().Add(-time.Minute).Truncate(time.Second).UnixMilli(), step: 1000}
	for round := 0; round < 3; round++ {
		require.NoError(t, dist.Client(tenant).Push(ctx, n.request(round)))
	}
	v, err := qr.Client(tenant).Query(ctx, "count(tls_test)", time.Now())
	require.NoError(t, err)
	vec, ok := v.(model.Vector)
	require.True(t, ok, "%v", v)
	require.Len(t, vec, 1)
	require.Equal(t, float64(n.nSeries), float64(vec[0].Value))

	// A query-frontend in front of the querier's https URL verifies it
	// with the same CA.
	fe := c.start("query-frontend", "query-frontend", "-query-frontend.downstream-url="+qr.URL())
	v, err = fe.Client(tenant).Query(ctx, "count(tls_test)", time.Now())
	require.NoError(t, err)
	require.Equal(t, float64(n.nSeries), float64(v.(model.Vector)[0].Value))

	// Plain HTTP to the HTTPS server is refused.
	resp, err := http.Get("http://" + dist.HTTPAddr + "/ready")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// A querier that trusts another CA finds the ingesters in the ring
	// (gossip uses the right one) but cannot read them.
	wrong := c.start("querier-wrong-ca", "querier", "-grpc.tls-ca-file="+other.CertFile)
	waitRing(t, 30*time.Second, "both ingesters ACTIVE", allActive("ing-1", "ing-2"), wrong)
	// The query fails with a 5xx that names the cause, and so does the
	// labels API.
	_, err = wrong.Client(tenant).Query(ctx, "count(tls_test)", time.Now())
	var ae *apiError
	require.ErrorAs(t, err, &ae)
	require.GreaterOrEqual(t, ae.StatusCode, 500, "%v", err)
	require.True(t, strings.Contains(err.Error(), "certificate signed by unknown authority"), "%v", err)
	_, err = wrong.Client(tenant).Labels(ctx, nil, time.Now().Add(-time.Hour), time.Now())
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "certificate signed by unknown authority"), "%v", err)
	t.Log("the querier with another CA answers: ", fmt.Sprint(err))

	// A querier without a client certificate is refused by the ingesters,
	// which require one.
	anon := c.start("querier-no-cert", "querier", "-grpc.tls-client-cert-file=", "-grpc.tls-client-key-file=")
	waitRing(t, 30*time.Second, "both ingesters ACTIVE", allActive("ing-1", "ing-2"), anon)
	// With TLS 1.3 the server checks the client's certificate after the
	// client's side of the handshake is done: the refusal reaches the
	// client as the server's "certificate required" alert, or, when the
	// client wrote first, as a broken pipe. Every attempt must fail, and
	// the alert must name the cause within a few attempts.
	named := false
	for attempt := 0; attempt < 10 && !named; attempt++ {
		_, err = anon.Client(tenant).Labels(ctx, nil, time.Now().Add(-time.Hour), time.Now())
		require.Error(t, err)
		named = strings.Contains(err.Error(), "certificate required")
		if !named {
			time.Sleep(200 * time.Millisecond)
		}
	}
	require.True(t, named, "no refusal named the missing client certificate; last: %v", err)
	t.Log("the querier without a client certificate answers: ", fmt.Sprint(err))
}
