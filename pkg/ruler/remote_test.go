package ruler

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/weft-io/weft/pkg/tenant"
)

// fakeRuler serves the rules service over gRPC on loopback with a handler
// that answers the given groups and alerts of each tenant, and records
// what it was asked.
func fakeRuler(t *testing.T, groups, alerts map[string][]string, asked chan<- string) string {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(tenant.Header)
		asked <- id + " " + r.URL.Path + "?" + r.URL.RawQuery
		if r.URL.Query().Get("type") == "bad" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"status":"error","errorType":"bad_data","error":"not supported value \"bad\""}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/rules") {
			fmt.Fprintf(w, `{"status":"success","data":{"groups":[%s]}}`, strings.Join(groups[id], ","))
			return
		}
		fmt.Fprintf(w, `{"status":"success","data":{"alerts":[%s]}}`, strings.Join(alerts[id], ","))
	})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer()
	RegisterGRPC(s, h, "/prometheus/api/v1")
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

func group(file, name string) string {
	return fmt.Sprintf(`{"name":%q,"file":%q,"rules":[{"name":"r","health":"ok"}],"interval":1}`, name, file)
}

// A querier's /rules and /alerts ask every ruler of the ring and merge
// their answers: groups in Prometheus' order, paged after the merge,
// alerts of every ruler; a ruler that does not answer is a warning, and a
// request the rulers refuse is refused.
func TestFanOut(t *testing.T) {
	asked := make(chan string, 100)
	r1 := fakeRuler(t, map[string][]string{"a": {group("ns2", "g1"), group("ns1", "g2")}, "b": {group("nsb", "gb")}},
		map[string][]string{"a": {`{"labels":{"alertname":"A1"},"state":"firing"}`}}, asked)
	r2 := fakeRuler(t, map[string][]string{"a": {group("ns1", "g1"), group("ns2", "g1")}},
		map[string][]string{"a": {`{"labels":{"alertname":"A2"},"state":"pending"}`}}, asked)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadAddr := dead.Addr().String()
	dead.Close()

	addrs := []string{r1, r2}
	f := NewFanOut(func() ([]string, error) { return addrs, nil },
		func(r *http.Request) (string, error) { return r.Header.Get(tenant.Header), nil }, 5*time.Second, nil)
	defer f.Close()
	get := func(kind, tenantID, query string) (int, promResponse) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/"+kind+"?"+query, nil)
		req.Header.Set(tenant.Header, tenantID)
		rec := httptest.NewRecorder()
		f.Handler(kind).ServeHTTP(rec, req)
		var resp promResponse
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp), rec.Body.String())
		return rec.Code, resp
	}
	names := func(resp promResponse) (out []string, next string) {
		var d rulesData
		require.NoError(t, json.Unmarshal(resp.Data, &d))
		for _, g := range d.Groups {
			var x struct{ File, Name string }
			require.NoError(t, json.Unmarshal(g, &x))
			out = append(out, x.File+"/"+x.Name)
		}
		return out, d.GroupNextToken
	}

	code, resp := get(KindRules, "a", "type=alert")
	require.Equal(t, http.StatusOK, code)
	got, next := names(resp)
	// ns2/g1 reported by both (a move in progress) is listed once.
	require.Equal(t, []string{"ns1/g1", "ns1/g2", "ns2/g1"}, got)
	require.Empty(t, next)
	require.Empty(t, resp.Warnings)
	require.Equal(t, "a /prometheus/api/v1/rules?type=alert", <-asked)
	require.Equal(t, "a /prometheus/api/v1/rules?type=alert", <-asked)

	// Pages are cut after the merge; the rulers are asked for everything.
	code, resp = get(KindRules, "a", "group_limit=2")
	require.Equal(t, http.StatusOK, code)
	got, next = names(resp)
	require.Equal(t, []string{"ns1/g1", "ns1/g2"}, got)
	require.Equal(t, groupToken("ns2", "g1"), next)
	require.Equal(t, "a /prometheus/api/v1/rules?", <-asked)
	<-asked
	code, resp = get(KindRules, "a", "group_limit=2&group_next_token="+next)
	require.Equal(t, http.StatusOK, code)
	got, next = names(resp)
	require.Equal(t, []string{"ns2/g1"}, got)
	require.Empty(t, next)
	<-asked
	<-asked
	code, _ = get(KindRules, "a", "group_limit=2&group_next_token=nope")
	require.Equal(t, http.StatusBadRequest, code)
	<-asked
	<-asked
	code, _ = get(KindRules, "a", "group_next_token=x")
	require.Equal(t, http.StatusBadRequest, code)

	// Tenants apart.
	code, resp = get(KindRules, "b", "")
	require.Equal(t, http.StatusOK, code)
	got, _ = names(resp)
	require.Equal(t, []string{"nsb/gb"}, got)
	<-asked
	<-asked

	code, resp = get(KindAlerts, "a", "")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"alerts":[{"labels":{"alertname":"A1"},"state":"firing"},{"labels":{"alertname":"A2"},"state":"pending"}]}`, string(resp.Data))
	<-asked
	<-asked
	code, resp = get(KindAlerts, "b", "")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"alerts":[]}`, string(resp.Data))
	<-asked
	<-asked

	// A bad filter: the rulers' 400.
	code, resp = get(KindRules, "a", "type=bad")
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "error", resp.Status)
	<-asked
	<-asked

	// A dead ruler still in the ring: the others' groups, and a warning.
	addrs = []string{r1, deadAddr}
	code, resp = get(KindRules, "a", "")
	require.Equal(t, http.StatusOK, code)
	got, _ = names(resp)
	require.Equal(t, []string{"ns1/g2", "ns2/g1"}, got)
	require.Len(t, resp.Warnings, 1)
	require.Contains(t, resp.Warnings[0], deadAddr)
	<-asked

	// No ruler answers: 503. No ruler at all: nothing.
	addrs = []string{deadAddr}
	code, _ = get(KindAlerts, "a", "")
	require.Equal(t, http.StatusServiceUnavailable, code)
	addrs = nil
	code, resp = get(KindRules, "a", "")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"groups":[]}`, string(resp.Data))
}
