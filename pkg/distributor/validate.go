package distributor

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/wire"
)

// Reasons a sample is discarded; the "reason" label of
// weft_distributor_discarded_samples_total.
const (
	reasonMissingMetricName   = "missing_metric_name"
	reasonInvalidMetricName   = "invalid_metric_name"
	reasonInvalidLabelName    = "invalid_label_name"
	reasonInvalidLabelValue   = "invalid_label_value"
	reasonDuplicateLabelNames = "duplicate_label_names"
	reasonUnsortedLabels      = "unsorted_labels"
	reasonTooManyLabels       = "max_label_names_per_series"
	reasonLabelNameTooLong    = "label_name_too_long"
	reasonLabelValueTooLong   = "label_value_too_long"
	reasonTooFarInFuture      = "sample_too_far_in_future"
	reasonTooOld              = "sample_too_old"
	reasonMetadataTooLong     = "metadata_too_long"
	reasonRateLimited         = "rate_limited"
)

// Stable IDs of the errors the distributor answers that are not built from
// a validation reason (docs/errors.md).
const (
	errIDRateLimited     = "err-weft-ingestion-rate-limited"
	errIDRequestTooLarge = "err-weft-request-too-large"
)

// validationReasons lists every reason a validator refuses data for. Each
// has the stable error ID errID(reason), assembled at run time: this list is
// what declares those IDs, and ErrorIDs hands it to the test that checks
// docs/errors.md; a test of this package checks that validator.errf is
// given no reason outside it.
func validationReasons() []string {
	return []string{
		reasonMissingMetricName, reasonInvalidMetricName, reasonInvalidLabelName,
		reasonInvalidLabelValue, reasonDuplicateLabelNames, reasonUnsortedLabels,
		reasonTooManyLabels, reasonLabelNameTooLong, reasonLabelValueTooLong,
		reasonTooFarInFuture, reasonTooOld, reasonMetadataTooLong,
	}
}

// errID is the stable error ID of a validation reason:
// err-weft-<reason with dashes>.
func errID(reason string) string {
	return "err-weft-" + strings.ReplaceAll(reason, "_", "-")
}

// ErrorIDs returns the stable error IDs the distributor assembles at run
// time from its validation reasons, so that a test can check that
// docs/errors.md documents each: the IDs written out in the source are found
// by reading it, these are not.
func ErrorIDs() []string {
	var ids []string
	for _, r := range validationReasons() {
		ids = append(ids, errID(r))
	}
	return ids
}

// validator checks series against one tenant's limits at one instant.
type validator struct {
	lim    *limits.Limits
	scheme model.ValidationScheme
	maxT   int64 // samples after this are too far in the future
	minT   int64 // samples before this are too old (math.MinInt64 when off)
	tenant string
}

func newValidator(lim *limits.Limits, scheme model.ValidationScheme, tenantID string, now time.Time) validator {
	v := validator{lim: lim, scheme: scheme, tenant: tenantID}
	v.maxT = now.Add(time.Duration(lim.CreationGracePeriod)).UnixMilli()
	v.minT = -1 << 63
	if lim.PastGracePeriod > 0 {
		v.minT = now.Add(-time.Duration(lim.PastGracePeriod)).UnixMilli()
	}
	return v
}

// series validates the labels of s as sent, in one pass; it does not
// allocate unless it fails. Names out of order or repeated are reported
// before any other fault, because they hide the others: labels.Get assumes
// sorted names and would not find the __name__ of {job="a", __name__="up"},
// so checking the name first would report "no metric name" for a series
// whose only fault is its order.
func (v *validator) series(s *wire.Series) (string, *wire.Error) {
	ls := s.Labels
	var (
		prev, name  string
		first       = true
		orderReason string // reasonUnsortedLabels or reasonDuplicateLabelNames
		orderName   string // the label name out of place
		badReason   string // the first fault of one label
		bad         labels.Label
	)
	ls.Range(func(l labels.Label) {
		if orderReason != "" {
			return
		}
		switch {
		case !first && l.Name == prev:
			orderReason, orderName = reasonDuplicateLabelNames, l.Name
			return
		case !first && l.Name < prev:
			orderReason, orderName = reasonUnsortedLabels, l.Name
			return
		}
		if l.Name == labels.MetricName {
			name = l.Value
		}
		if badReason == "" {
			badReason, bad = v.label(l), l
		}
		prev, first = l.Name, false
	})
	switch orderReason {
	case reasonDuplicateLabelNames:
		return orderReason, v.errf(reasonDuplicateLabelNames, "series %s has the label name %q more than once", ls, orderName)
	case reasonUnsortedLabels:
		return orderReason, v.errf(reasonUnsortedLabels, "series %s: labels are not sorted: %q comes after %q (remote write requires labels sorted by name)", ls, orderName, prev)
	}
	if name == "" {
		return reasonMissingMetricName, v.errf(reasonMissingMetricName, "series %s has no metric name", ls)
	}
	if n := ls.Len(); n > v.lim.MaxLabelNamesPerSeries {
		return reasonTooManyLabels, v.errf(reasonTooManyLabels, "series %s has %d labels, more than the limit of %d (raise max_label_names_per_series / -validation.max-label-names-per-series)", ls, n, v.lim.MaxLabelNamesPerSeries)
	}
	switch badReason {
	case reasonInvalidMetricName:
		return badReason, v.errf(reasonInvalidMetricName, "series %s has the invalid metric name %q", ls, bad.Value)
	case reasonInvalidLabelName:
		return badReason, v.errf(reasonInvalidLabelName, "series %s has the invalid label name %q", ls, bad.Name)
	case reasonLabelNameTooLong:
		return badReason, v.errf(reasonLabelNameTooLong, "series %s has a label name of %d bytes, longer than the limit of %d (raise max_label_name_length / -validation.max-length-label-name)", ls, len(bad.Name), v.lim.MaxLabelNameLength)
	case reasonLabelValueTooLong:
		return badReason, v.errf(reasonLabelValueTooLong, "series %s has a value of %d bytes for label %q, longer than the limit of %d (raise max_label_value_length / -validation.max-length-label-value)", ls, len(bad.Value), bad.Name, v.lim.MaxLabelValueLength)
	case reasonInvalidLabelValue:
		return badReason, v.errf(reasonInvalidLabelValue, "series %s has a value for label %q that is not valid UTF-8", ls, bad.Name)
	}
	return "", nil
}

// label returns the reason l is refused for, or "".
func (v *validator) label(l labels.Label) string {
	switch {
	case l.Name == labels.MetricName && !v.scheme.IsValidMetricName(l.Value):
		return reasonInvalidMetricName
	case l.Name != labels.MetricName && !v.scheme.IsValidLabelName(l.Name):
		return reasonInvalidLabelName
	case len(l.Name) > v.lim.MaxLabelNameLength:
		return reasonLabelNameTooLong
	case len(l.Value) > v.lim.MaxLabelValueLength:
		return reasonLabelValueTooLong
	case !utf8.ValidString(l.Value):
		return reasonInvalidLabelValue
	}
	return ""
}

// timestamp validates one sample timestamp of series ls.
func (v *validator) timestamp(ls labels.Labels, t int64) (string, *wire.Error) {
	if t > v.maxT {
		return reasonTooFarInFuture, v.errf(reasonTooFarInFuture, "sample at %s for series %s is too far in the future (raise creation_grace_period / -validation.create-grace-period)", time.UnixMilli(t).UTC().Format(time.RFC3339), ls)
	}
	if t < v.minT {
		return reasonTooOld, v.errf(reasonTooOld, "sample at %s for series %s is older than the past grace period (raise past_grace_period / -validation.past-grace-period)", time.UnixMilli(t).UTC().Format(time.RFC3339), ls)
	}
	return "", nil
}

func (v *validator) metadata(m *wire.Metadata) (string, *wire.Error) {
	if len(m.Help) > v.lim.MaxMetadataLength || len(m.Unit) > v.lim.MaxMetadataLength || len(m.MetricFamily) > v.lim.MaxMetadataLength {
		return reasonMetadataTooLong, v.errf(reasonMetadataTooLong, "metadata of metric %s is longer than the limit of %d bytes (raise max_metadata_length / -validation.max-metadata-length)", m.MetricFamily, v.lim.MaxMetadataLength)
	}
	return "", nil
}

func (v *validator) errf(reason, format string, args ...any) *wire.Error {
	e := wire.Errorf(wire.KindBadData, errID(reason), format, args...)
	e.Msg = "tenant " + v.tenant + ": " + e.Msg
	return e
}
