package distributor

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	prw "github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"github.com/prometheus/prometheus/util/annotations"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/wire"
)

// OTLP media types (OTLP/HTTP: binary protobuf or the JSON mapping).
const (
	otlpProto = "application/x-protobuf"
	otlpJSON  = "application/json"
)

// Stable IDs of the errors of the OTLP endpoint (docs/errors.md).
const (
	errIDOTLPMalformed        = "err-weft-otlp-malformed"
	errIDOTLPTooLarge         = "err-weft-otlp-request-too-large"
	errIDOTLPDeltaTemporality = "err-weft-otlp-delta-temporality"
	errIDOTLPUntranslatable   = "err-weft-otlp-untranslatable-metric"
	errIDOTLPTimestampSpan    = "err-weft-otlp-timestamp-span"
)

// Reasons of weft_distributor_discarded_samples_total for points the OTLP
// translation refuses (counted in OTLP data points).
const (
	reasonOTLPDelta          = "otlp_delta_temporality"
	reasonOTLPUntranslatable = "otlp_untranslatable_metric"
)

// otlpLookbackDelta is the PromQL lookback delta the translator spaces
// target_info samples by, as Prometheus passes its own; weft's queriers use
// Prometheus' default.
const otlpLookbackDelta = 5 * time.Minute

// otlpRetryAfter is the Retry-After of a 503: a hint to an OTLP exporter,
// which backs off exponentially from it.
const otlpRetryAfter = time.Second

// ServeOTLP handles POST /otlp/v1/metrics: an OTLP/HTTP metrics export,
// binary protobuf or JSON, gzip-compressed or not. The metrics are
// translated by Prometheus' own OTLP translator with the tenant's settings
// and pushed like a remote-write request. Answers follow the OTLP/HTTP
// specification: 200 with an ExportMetricsServiceResponse (partial_success
// naming what was refused), 400 for what can never succeed, 429 and 503 with
// Retry-After when a retry can help; error bodies are google.rpc.Status.
func (d *Distributor) ServeOTLP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code := d.serveOTLPLimited(w, r)
	d.requestsC.WithLabelValues("otlp", strconv.Itoa(code)).Inc()
	d.latency.Observe(time.Since(start).Seconds())
}

// otlpError is an error of the OTLP endpoint with the status it is answered
// with, when Classify would not pick it, and a Retry-After.
type otlpError struct {
	code       int
	retryAfter time.Duration
	err        error
}

func (e *otlpError) Error() string { return e.err.Error() }
func (e *otlpError) Unwrap() error { return e.err }

// serveOTLPLimited is serveOTLP within the instance limits: requests in
// flight, and their declared lengths (an OTLP body without one is not
// counted).
func (d *Distributor) serveOTLPLimited(w http.ResponseWriter, r *http.Request) int {
	done, err := d.inflight.startRequest()
	if err != nil {
		return d.failOTLP(w, r, err)
	}
	defer done()
	n := max(r.ContentLength, 0)
	if err := d.inflight.reserveBytes(n); err != nil {
		return d.failOTLP(w, r, err)
	}
	defer d.inflight.releaseBytes(n)
	return d.serveOTLP(w, r)
}

func (d *Distributor) serveOTLP(w http.ResponseWriter, r *http.Request) int {
	if r.Method != http.MethodPost {
		return d.failOTLP(w, r, httpapi.Errorf(http.StatusMethodNotAllowed, "OTLP export needs POST"))
	}
	id, err := d.resolver.FromRequest(r)
	if err != nil {
		return d.failOTLP(w, r, err)
	}
	isJSON, err := otlpMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return d.failOTLP(w, r, err)
	}
	lim := d.limits.For(id)
	body, err := d.readOTLPBody(r, id, lim)
	if err != nil {
		return d.failOTLP(w, r, err)
	}
	ereq := pmetricotlp.NewExportRequest()
	if isJSON {
		err = ereq.UnmarshalJSON(body)
	} else {
		err = ereq.UnmarshalProto(body)
	}
	if err != nil {
		return d.failOTLP(w, r, wire.Errorf(wire.KindBadData, errIDOTLPMalformed, "cannot decode OTLP metrics request: %v", err))
	}
	md := ereq.Metrics()

	var out otlpOutcome
	if lim.OTLPDeltaTemporality == limits.OTLPDeltaConvert {
		converted, n, refused, err := d.convertDelta(r.Context(), id, md)
		if err != nil {
			return d.failOTLP(w, r, err)
		}
		md = converted
		out.refusePoints(n, refused)
	} else {
		out.refusePoints(d.refuseDelta(id, md))
	}
	if err := checkTargetInfoSpan(md); err != nil {
		return d.failOTLP(w, r, err)
	}
	req := &wire.PushRequest{}
	if err := d.translate(r.Context(), id, lim, md, req, &out); err != nil {
		return d.failOTLP(w, r, err)
	}
	if err := d.pushOTLP(r, id, lim, req, &out); err != nil {
		return d.failOTLP(w, r, err)
	}
	if out.rejected > 0 && out.accepted == 0 && !out.storageRefused {
		// Every point is refused for what it is: the request can never
		// succeed, so it is not a partial success but bad data.
		return d.failOTLP(w, r, wire.Errorf(wire.KindBadData, out.firstID, "tenant %s: every data point was refused: %s", id, out.message()))
	}
	resp := pmetricotlp.NewExportResponse()
	if out.rejected > 0 {
		ps := resp.PartialSuccess()
		ps.SetRejectedDataPoints(int64(out.rejected))
		ps.SetErrorMessage(out.message())
	}
	var b []byte
	if isJSON {
		b, err = resp.MarshalJSON()
	} else {
		b, err = resp.MarshalProto()
	}
	if err != nil {
		return d.failOTLP(w, r, fmt.Errorf("cannot encode OTLP response: %w", err))
	}
	w.Header().Set("Content-Type", responseType(isJSON))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return http.StatusOK
}

// failOTLP answers err (WriteOTLPError) and logs what is the server's
// fault.
func (d *Distributor) failOTLP(w http.ResponseWriter, r *http.Request, err error) int {
	code := WriteOTLPError(w, r, err)
	if code >= 500 && !isInstanceLimit(err) {
		d.logger.Warn("OTLP push failed", "status", code, "err", err)
	}
	return code
}

// otlpMediaType reports whether ct is OTLP's JSON (else binary protobuf).
func otlpMediaType(ct string) (isJSON bool, err error) {
	mt, _, perr := mime.ParseMediaType(ct)
	switch {
	case perr != nil && ct != "":
		return false, httpapi.Errorf(http.StatusUnsupportedMediaType, "cannot parse Content-Type %q: %v", ct, perr)
	case mt == otlpProto:
		return false, nil
	case mt == otlpJSON:
		return true, nil
	}
	return false, httpapi.Errorf(http.StatusUnsupportedMediaType, "unsupported Content-Type %q: OTLP/HTTP sends %s or %s", ct, otlpProto, otlpJSON)
}

func responseType(isJSON bool) string {
	if isJSON {
		return otlpJSON
	}
	return otlpProto
}

// readOTLPBody reads the body, decompressed, refusing one larger than the
// tenant's limit before decoding any of it.
func (d *Distributor) readOTLPBody(r *http.Request, id string, lim *limits.Limits) ([]byte, error) {
	limit := d.cfg.MaxRecvMsgSize
	flag := "-distributor.max-recv-msg-size"
	if l := lim.OTLPMaxRequestBytes; l > 0 && l < limit {
		limit, flag = l, "otlp_max_request_bytes / -distributor.otlp-max-request-bytes"
	}
	tooLarge := func() error {
		return &otlpError{code: http.StatusRequestEntityTooLarge, err: wire.Errorf(wire.KindBadData, errIDOTLPTooLarge,
			"tenant %s: OTLP request is larger than the limit of %d bytes after decompression; nothing was stored (send smaller batches, or raise %s)", id, limit, flag)}
	}
	var gz bool
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		gz = true
	default:
		return nil, httpapi.Errorf(http.StatusUnsupportedMediaType, "unsupported Content-Encoding %q: OTLP/HTTP uses gzip or none", enc)
	}
	if (!gz && r.ContentLength > int64(limit)) || r.ContentLength > int64(d.cfg.MaxRecvMsgSize) {
		return nil, tooLarge()
	}
	// The body as sent is bounded by the process-wide limit, compressed
	// or not; decompressed, by the tenant's.
	var in io.Reader = io.LimitReader(r.Body, int64(d.cfg.MaxRecvMsgSize)+1)
	if gz {
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, wire.Errorf(wire.KindBadData, errIDOTLPMalformed, "cannot decompress gzip body: %v", err)
		}
		defer zr.Close()
		in = zr
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(in, int64(limit)+1))
	if err != nil {
		if gz && !errors.Is(err, context.Canceled) {
			return nil, wire.Errorf(wire.KindBadData, errIDOTLPMalformed, "cannot decompress gzip body: %v", err)
		}
		return nil, httpapi.Errorf(http.StatusBadRequest, "cannot read request body: %w", err)
	}
	if n > int64(limit) {
		return nil, tooLarge()
	}
	return buf.Bytes(), nil
}

// otlpOutcome is what became of the data points of one request.
type otlpOutcome struct {
	accepted int // Prometheus samples (and histogram samples) stored
	rejected int // OTLP data points refused before translation, samples after
	// storageRefused says the storage refused some samples after others
	// may have been stored: the request is then a partial success even if
	// the count of accepted samples is unknown.
	storageRefused bool
	firstID        string
	msgs           []string
}

// refusePoints records n points refused with the message of err.
func (o *otlpOutcome) refusePoints(n int, err *wire.Error) {
	if n == 0 || err == nil {
		return
	}
	o.rejected += n
	if o.firstID == "" {
		o.firstID = err.ID
	}
	o.msgs = append(o.msgs, err.Error())
}

// message is the partial_success error_message: the first few reasons.
func (o *otlpOutcome) message() string {
	const maxMsgs = 5
	if len(o.msgs) <= maxMsgs {
		return strings.Join(o.msgs, "; ")
	}
	return strings.Join(o.msgs[:maxMsgs], "; ") + fmt.Sprintf("; and %d more", len(o.msgs)-maxMsgs)
}

// refuseDelta removes the metrics of delta temporality from md, for a
// tenant that refuses them (Prometheus 3's default), and returns how many
// data points were removed and why.
func (d *Distributor) refuseDelta(id string, md pmetric.Metrics) (int, *wire.Error) {
	var (
		n     int
		names []string
	)
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sms.At(j).Metrics().RemoveIf(func(m pmetric.Metric) bool {
				if !isDelta(m) {
					return false
				}
				n += dataPoints(m)
				if len(names) < 5 {
					names = append(names, strconv.Quote(m.Name()))
				}
				return true
			})
		}
	}
	if n == 0 {
		return 0, nil
	}
	d.discarded.WithLabelValues(id, reasonOTLPDelta).Add(float64(n))
	return n, wire.Errorf(wire.KindBadData, errIDOTLPDeltaTemporality,
		"tenant %s refuses delta temporality: %d data points of metrics %s were refused (configure the exporter for cumulative temporality, or set otlp_delta_temporality: convert / -distributor.otlp-delta-temporality=convert to convert them)",
		id, n, strings.Join(names, ", "))
}

func isDelta(m pmetric.Metric) bool {
	switch m.Type() {
	case pmetric.MetricTypeSum:
		return m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityDelta
	case pmetric.MetricTypeHistogram:
		return m.Histogram().AggregationTemporality() == pmetric.AggregationTemporalityDelta
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().AggregationTemporality() == pmetric.AggregationTemporalityDelta
	}
	return false
}

func dataPoints(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}

// otlpMaxTargetInfoSamples bounds the target_info samples one request can
// make. Prometheus' translator writes a target_info sample every half
// lookback delta between the earliest and the latest data point of each
// resource: without a bound, a few hundred bytes with one point at 0 and
// one now would make it build ~12 million samples. 50000 allows a resource
// spanning ~87 days, far beyond what the ingesters accept.
const otlpMaxTargetInfoSamples = 50000

// checkTargetInfoSpan refuses a request whose data point timestamps would
// make the translator build more than otlpMaxTargetInfoSamples target_info
// samples, before it builds any (see otlpMaxTargetInfoSamples).
func checkTargetInfoSpan(md pmetric.Metrics) error {
	interval := uint64(otlpLookbackDelta / 2)
	var total uint64
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		minTS, maxTS := pcommon.Timestamp(math.MaxUint64), pcommon.Timestamp(0)
		see := func(ts pcommon.Timestamp) { minTS, maxTS = min(minTS, ts), max(maxTS, ts) }
		sms := rms.At(i).ScopeMetrics()
		for j := range sms.Len() {
			ms := sms.At(j).Metrics()
			for k := range ms.Len() {
				eachTimestamp(ms.At(k), see)
			}
		}
		if minTS > maxTS {
			continue // no data points
		}
		total += uint64(maxTS-minTS)/interval + 1
		if total > otlpMaxTargetInfoSamples {
			return wire.Errorf(wire.KindBadData, errIDOTLPTimestampSpan,
				"the data points of a resource span from %s to %s: target_info would need more than %d samples, one every %s; nothing was stored (send points of a narrower time range, with timestamps set)",
				minTS.AsTime().UTC().Format(time.RFC3339), maxTS.AsTime().UTC().Format(time.RFC3339), otlpMaxTargetInfoSamples, time.Duration(interval))
		}
	}
	return nil
}

// eachTimestamp calls f with the timestamp of each data point of m.
func eachTimestamp(m pmetric.Metric, f func(pcommon.Timestamp)) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		ps := m.Gauge().DataPoints()
		for i := range ps.Len() {
			f(ps.At(i).Timestamp())
		}
	case pmetric.MetricTypeSum:
		ps := m.Sum().DataPoints()
		for i := range ps.Len() {
			f(ps.At(i).Timestamp())
		}
	case pmetric.MetricTypeHistogram:
		ps := m.Histogram().DataPoints()
		for i := range ps.Len() {
			f(ps.At(i).Timestamp())
		}
	case pmetric.MetricTypeExponentialHistogram:
		ps := m.ExponentialHistogram().DataPoints()
		for i := range ps.Len() {
			f(ps.At(i).Timestamp())
		}
	case pmetric.MetricTypeSummary:
		ps := m.Summary().DataPoints()
		for i := range ps.Len() {
			f(ps.At(i).Timestamp())
		}
	}
}

// translationSettings are Prometheus' translator settings for a tenant, as
// Prometheus builds them from its otlp config section.
func translationSettings(lim *limits.Limits) prw.Settings {
	strategy := otlptranslator.TranslationStrategyOption(lim.OTLPTranslationStrategy)
	return prw.Settings{
		AddMetricSuffixes: strategy.ShouldAddSuffixes(),
		AllowUTF8:         !strategy.ShouldEscape(),
		PromoteResourceAttributes: prw.NewPromoteResourceAttributes(config.OTLPConfig{
			PromoteAllResourceAttributes: lim.OTLPPromoteAllResourceAttributes,
			PromoteResourceAttributes:    lim.OTLPPromoteResourceAttributes,
			IgnoreResourceAttributes:     lim.OTLPIgnoreResourceAttributes,
		}),
		KeepIdentifyingResourceAttributes: lim.OTLPKeepIdentifyingResourceAttributes,
		ConvertHistogramsToNHCB:           lim.OTLPConvertHistogramsToNHCB,
		PromoteScopeMetadata:              lim.OTLPPromoteScopeMetadata,
		// Delta points never reach the translator: they are refused or
		// converted to cumulative before (Prometheus' native delta
		// ingestion, which stores them as they are, is not offered).
		AllowDeltaTemporality:                false,
		LookbackDelta:                        otlpLookbackDelta,
		LabelNameUnderscoreSanitization:      lim.OTLPLabelNameUnderscoreSanitization,
		LabelNamePreserveMultipleUnderscores: lim.OTLPLabelNamePreserveMultipleUnderscores,
	}
}

// translate converts md into req with Prometheus' translator. A metric the
// translator refuses is removed and the rest translated again, so that no
// part of a refused metric is stored; its data points are counted in out.
func (d *Distributor) translate(ctx context.Context, id string, lim *limits.Limits, md pmetric.Metrics, req *wire.PushRequest, out *otlpOutcome) error {
	settings := translationSettings(lim)
	conv := d.converters.Get().(*prw.PrometheusConverter)
	defer func() {
		conv.Reset(nil)
		d.converters.Put(conv)
	}()
	c := newCollector(req)
	conv.Reset(c)
	annots, err := conv.FromMetrics(ctx, md, settings)
	if err == nil {
		d.countWarnings(annots)
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// Slow path: find the refused metrics one by one.
	probe := settings
	probe.DisableTargetInfo = true
	var (
		refused int
		msgs    []string
	)
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sm := sms.At(j)
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				one := pmetric.NewMetrics()
				orm := one.ResourceMetrics().AppendEmpty()
				rm.Resource().CopyTo(orm.Resource())
				osm := orm.ScopeMetrics().AppendEmpty()
				sm.Scope().CopyTo(osm.Scope())
				osm.SetSchemaUrl(sm.SchemaUrl())
				m.CopyTo(osm.Metrics().AppendEmpty())
				conv.Reset(newCollector(&wire.PushRequest{}))
				_, perr := conv.FromMetrics(ctx, one, probe)
				if perr == nil {
					return false
				}
				refused += max(dataPoints(m), 1)
				msgs = append(msgs, fmt.Sprintf("metric %q: %v", m.Name(), perr))
				return true
			})
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	req.Reset()
	c = newCollector(req)
	conv.Reset(c)
	annots, err2 := conv.FromMetrics(ctx, md, settings)
	d.countWarnings(annots)
	if err2 != nil {
		// Left: what only the whole request shows, such as target_info.
		msgs = append(msgs, err2.Error())
		refused = max(refused, 1)
	}
	if refused > 0 {
		d.discarded.WithLabelValues(id, reasonOTLPUntranslatable).Add(float64(refused))
		out.refusePoints(refused, wire.Errorf(wire.KindBadData, errIDOTLPUntranslatable,
			"tenant %s: %d data points could not be translated to Prometheus samples: %s", id, refused, strings.Join(msgs, "; ")))
	}
	return nil
}

func (d *Distributor) countWarnings(annots annotations.Annotations) {
	if len(annots) == 0 {
		return
	}
	for category, n := range prw.CountWarningsByCategory(annots) {
		d.otlpWarnings.WithLabelValues(string(category)).Add(float64(n))
	}
	ws, _ := annots.AsStrings("", 0, 0)
	d.logger.Debug("warnings translating OTLP metrics", "warnings", ws)
}

// pushOTLP pushes req like a remote-write request (validation, rate limit,
// ring and quorum) and sorts the outcome into out. It returns an error only
// when nothing is known to be stored and a retry may help (429, 503) or the
// failure is internal.
func (d *Distributor) pushOTLP(r *http.Request, id string, lim *limits.Limits, req *wire.PushRequest, out *otlpOutcome) error {
	s0, h0, _ := req.Counts()
	if len(req.Series) == 0 && len(req.Metadata) == 0 {
		return nil
	}
	// The request is not pooled: the ring pusher may read it after the
	// quorum answered, and nothing reuses it.
	res, err := d.push(r, id, req, func() {}, func() {})
	s1, h1, _ := req.Counts()
	pushed, stored := s1+h1, res.Samples+res.Histograms
	we, _ := errors.AsType[*wire.Error](err)
	if we != nil && we.ID == errIDRateLimited {
		// Nothing of the request is stored; a retry can pass.
		return &otlpError{code: http.StatusTooManyRequests, retryAfter: rateRetryAfter(lim, pushed*d.shares()), err: err}
	}
	if k := wire.KindOf(err); err != nil && k != wire.KindBadData && k != wire.KindLimit {
		// Unavailable or internal: a retry can help (duplicates of what
		// was stored are dropped).
		return err
	}
	// push answers the pusher's error when there is one, else the first
	// validation error: the pusher refused samples when it stored less than
	// it got.
	pusherErr := err != nil && pushed > 0 && stored < pushed
	if invalid := s0 + h0 - pushed; invalid > 0 {
		verr := we
		if pusherErr || verr == nil {
			verr = wire.Errorf(wire.KindBadData, "", "tenant %s: %d samples were invalid (counted in weft_distributor_discarded_samples_total)", id, invalid)
		}
		out.refusePoints(invalid, verr)
	}
	if !pusherErr {
		out.accepted += pushed
		return nil
	}
	// The storage refused some samples (out of order, per-series limits)
	// and stored the others: a partial success, which the client must not
	// retry. In distributed mode the ring does not say how many were
	// stored, and stored is 0.
	out.accepted += stored
	out.storageRefused = true
	if we != nil && out.firstID == "" {
		out.firstID = we.ID
	}
	out.rejected += pushed - stored
	out.msgs = append(out.msgs, err.Error())
	return nil
}

// rateRetryAfter is how long until the tenant's rate limit lets n samples
// through (n times the number of distributors that share the rate), at least a second and at most a minute.
func rateRetryAfter(lim *limits.Limits, n int) time.Duration {
	if lim.IngestionRate <= 0 {
		return time.Second
	}
	s := math.Ceil(float64(n) / lim.IngestionRate)
	return time.Duration(min(max(s, 1), 60)) * time.Second
}

// WriteOTLPError answers err as OTLP/HTTP says: a google.rpc.Status body,
// encoded as the request was (JSON or protobuf), with the status Classify
// picks (a 413 for a body over the size limit) and Retry-After on 429 and
// 503. It returns the status.
func WriteOTLPError(w http.ResponseWriter, r *http.Request, err error) int {
	code, _ := httpapi.Classify(err)
	var retry time.Duration
	if oe, ok := errors.AsType[*otlpError](err); ok {
		code, retry = oe.code, oe.retryAfter
	}
	if code == http.StatusServiceUnavailable && retry == 0 {
		retry = otlpRetryAfter
	}
	if code == http.StatusTooManyRequests && retry == 0 {
		retry = time.Second
	}
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(retry/time.Second)))
	}
	st := &statuspb.Status{Code: int32(grpcCode(code)), Message: err.Error()}
	isJSON := false
	if mt, _, perr := mime.ParseMediaType(r.Header.Get("Content-Type")); perr == nil && mt == otlpJSON {
		isJSON = true
	}
	var b []byte
	if isJSON {
		b, _ = protojson.Marshal(st)
	} else {
		b, _ = proto.Marshal(st)
	}
	w.Header().Set("Content-Type", responseType(isJSON))
	w.WriteHeader(code)
	_, _ = w.Write(b)
	return code
}

// grpcCode is the google.rpc.Code of an HTTP status, as gRPC-HTTP mappings
// pair them.
func grpcCode(status int) codes.Code {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusMethodNotAllowed, http.StatusUnsupportedMediaType:
		return codes.Unimplemented
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case httpapi.StatusClientClosedRequest:
		return codes.Canceled
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	}
	return codes.Internal
}

// collector is a storage.AppenderV2 that gathers what the translator
// appends into a push request, one series per label set, with metadata
// once per metric family.
type collector struct {
	req    *wire.PushRequest
	series map[uint64][]int // label hash -> indexes in req.Series
	meta   map[string]struct{}
}

func newCollector(req *wire.PushRequest) *collector {
	return &collector{req: req, series: map[uint64][]int{}, meta: map[string]struct{}{}}
}

func (c *collector) Append(_ storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AOptions) (storage.SeriesRef, error) {
	hash := ls.Hash()
	idx := -1
	for _, i := range c.series[hash] {
		if labels.Equal(c.req.Series[i].Labels, ls) {
			idx = i
			break
		}
	}
	if idx < 0 {
		idx = len(c.req.Series)
		c.req.Series = append(c.req.Series, wire.Series{Labels: ls})
		c.series[hash] = append(c.series[hash], idx)
	}
	s := &c.req.Series[idx]
	switch {
	case fh != nil:
		s.Histograms = append(s.Histograms, wire.Histogram{T: t, FH: fh, ST: st})
	case h != nil:
		s.Histograms = append(s.Histograms, wire.Histogram{T: t, H: h, ST: st})
	default:
		s.Samples = append(s.Samples, wire.Sample{T: t, V: v, ST: st})
	}
	// The exemplar slice is the translator's to reuse: copy.
	for _, e := range opts.Exemplars {
		s.Exemplars = append(s.Exemplars, wire.Exemplar{Labels: e.Labels, T: e.Ts, V: e.Value})
	}
	if name := opts.MetricFamilyName; name != "" && !opts.Metadata.IsEmpty() {
		if _, ok := c.meta[name]; !ok {
			c.meta[name] = struct{}{}
			c.req.Metadata = append(c.req.Metadata, wire.Metadata{
				MetricFamily: strings.Clone(name), Type: string(opts.Metadata.Type),
				Help: opts.Metadata.Help, Unit: opts.Metadata.Unit,
			})
		}
	}
	return storage.SeriesRef(idx + 1), nil
}

func (*collector) Commit() error   { return nil }
func (*collector) Rollback() error { return nil }
