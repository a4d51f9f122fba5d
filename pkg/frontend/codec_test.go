package frontend

import (
	"encoding/json"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// testMatrix has what answers may hold: awkward floats, infinities,
// escapes and non-ASCII in labels, histograms with and without buckets,
// negative and sub-second timestamps.
func testMatrix() model.Matrix {
	return model.Matrix{
		{Metric: model.Metric{"__name__": "a", "l": "quote\" back\\ nl\n tab\t ctl\x01 é 日本 \u2028"},
			Values: []model.SamplePair{{Timestamp: -1500, Value: 0.1 + 0.2}, {Timestamp: 0, Value: model.SampleValue(math.Inf(1))},
				{Timestamp: 1, Value: model.SampleValue(math.Inf(-1))}, {Timestamp: 1435781451781, Value: 1e-300}, {Timestamp: 1435781452000, Value: model.SampleValue(math.Copysign(0, -1))}}},
		{Metric: model.Metric{},
			Histograms: []model.SampleHistogramPair{
				{Timestamp: 10, Histogram: &model.SampleHistogram{Count: 3, Sum: 1.5}},
				{Timestamp: 20, Histogram: &model.SampleHistogram{Count: 10.5, Sum: -2.25, Buckets: model.HistogramBuckets{
					{Boundaries: 3, Lower: -0.001, Upper: 0.001, Count: 2}, {Boundaries: 0, Lower: 1, Upper: 1.0905077326652577, Count: 8.5}}}},
			}},
		{Metric: model.Metric{"x": "y"}, Values: []model.SamplePair{{Timestamp: 5, Value: 7}},
			Histograms: []model.SampleHistogramPair{{Timestamp: 6, Histogram: &model.SampleHistogram{Count: 1, Sum: 1}}}},
	}
}

// The fast decoder reads what encoding/json reads from the answers the
// frontend writes, and from the querier's own answers.
func TestDecodeFastEqualsEncodingJSON(t *testing.T) {
	f := func(body []byte) {
		t.Helper()
		fast, err := decodeFast(body)
		require.NoError(t, err, string(body))
		var slow apiResponse
		require.NoError(t, json.Unmarshal(body, &slow))
		if slow.Data.Result == nil {
			slow.Data.Result = model.Matrix{}
		}
		require.Equal(t, &Result{Matrix: slow.Data.Result, Warnings: slow.Warnings, Infos: slow.Infos}, fast)
	}
	f(AppendResponse(nil, &Result{Matrix: testMatrix(), Warnings: []string{"w \"1\""}, Infos: []string{"i"}}))
	f(AppendResponse(nil, &Result{}))
	f([]byte(` { "status" : "success" , "data" : { "result" : [ ] , "resultType" : "matrix" , "extra": {"a":[1,true,null,"s"]} } , "warnings":["\u00e9\ud83d\ude00"] } `))

	db := openTSDB(t)
	lim := testLimits(t, nil)
	q := newQuerier(t, db, lim)
	for _, qs := range []string{`x_total`, `h`, `rate(y[5m])`, `label_replace(y, "l", "a\"b\\c\u00e9", "", "")`, `nothing`} {
		got := do(t, q, "t", http.MethodGet, "/query_range", rangeParams(qs, 10*time.Hour, 11*time.Hour, 15*time.Second), nil)
		f(got.body)
	}

	// What it does not read goes to encoding/json, which reports it.
	for _, body := range []string{
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1e3,"1"]]}]}}`,
		`{"status":"error","errorType":"bad_data","error":"x"}`,
		`{"status":"success","data":{"resultType":"vector","result":[]}}`,
		`{"status":"success"`,
	} {
		_, err := decodeFast([]byte(body))
		require.Error(t, err, body)
	}
	_, err := DecodeResult([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
	require.ErrorContains(t, err, "not matrix")
}

// Cache entries give back exactly what was stored, NaN payloads
// included, and a corrupt or truncated entry is an error, not a panic.
func TestExtentsCodec(t *testing.T) {
	m := testMatrix()
	nan := math.Float64frombits(0x7ff8000000000abc)
	m[0].Values = append(m[0].Values, model.SamplePair{Timestamp: 1435781453000, Value: model.SampleValue(nan)})
	es := []extent{{Start: -1500, End: 1435781453000, Matrix: m}, {Start: 1435781460000, End: 1435781460000, Matrix: model.Matrix{}}}
	v := encodeExtents("q", es)
	got, err := decodeExtents("q", v)
	require.NoError(t, err)
	require.Len(t, got, 2)
	gotNaN := got[0].Matrix[0].Values[5].Value
	require.Equal(t, math.Float64bits(nan), math.Float64bits(float64(gotNaN)))
	got[0].Matrix[0].Values = got[0].Matrix[0].Values[:5]
	es[0].Matrix[0].Values = es[0].Matrix[0].Values[:5]
	require.Equal(t, es, got)

	other, err := decodeExtents("another query", v)
	require.NoError(t, err)
	require.Nil(t, other, "a hash collision is a miss")
	for i := range v {
		_, _ = decodeExtents("q", v[:i]) // must not panic
	}
	_, err = decodeExtents("q", v[:len(v)/2])
	require.Error(t, err)
}
