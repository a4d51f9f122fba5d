package distributor

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/wire"
)

func defaultLimits(t testing.TB) *limits.Limits {
	var l limits.Limits
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	l.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"-validation.past-grace-period=1h"}))
	return &l
}

// unsorted builds labels in the order given, as a decoder does.
func unsorted(kv ...string) labels.Labels {
	var b labels.ScratchBuilder
	for i := 0; i+1 < len(kv); i += 2 {
		b.Add(kv[i], kv[i+1])
	}
	return b.Labels()
}

func TestValidateSeries(t *testing.T) {
	now := time.Now()
	f := func(scheme model.ValidationScheme, ls labels.Labels, wantReason string) {
		t.Helper()
		v := newValidator(defaultLimits(t), scheme, "t", now)
		reason, err := v.series(&wire.Series{Labels: ls})
		require.Equal(t, wantReason, reason, ls.String())
		if wantReason == "" {
			require.Nil(t, err)
			return
		}
		require.Equal(t, wire.KindBadData, err.Kind)
		require.Equal(t, errID(wantReason), err.ID)
		require.Contains(t, err.Msg, "tenant t: ")
	}
	f(model.UTF8Validation, unsorted("__name__", "up", "job", "a"), "")
	f(model.UTF8Validation, unsorted("__name__", "http.requests", "k8s.pod", "a"), "")
	f(model.LegacyValidation, unsorted("__name__", "http.requests"), reasonInvalidMetricName)
	f(model.LegacyValidation, unsorted("__name__", "m", "k8s.pod", "a"), reasonInvalidLabelName)
	f(model.UTF8Validation, unsorted("job", "a"), reasonMissingMetricName)
	f(model.UTF8Validation, labels.EmptyLabels(), reasonMissingMetricName)
	f(model.UTF8Validation, unsorted("__name__", "m", "b", "1", "a", "2"), reasonUnsortedLabels)
	f(model.UTF8Validation, unsorted("__name__", "m", "a", "1", "a", "2"), reasonDuplicateLabelNames)
	// The order is the fault, whatever else is wrong: a metric name
	// after other labels is still found.
	f(model.UTF8Validation, unsorted("job", "a", "__name__", "up"), reasonUnsortedLabels)
	f(model.UTF8Validation, unsorted("b", "1", "a", "2"), reasonUnsortedLabels)
	f(model.UTF8Validation, unsorted("__name__", "m", "z", "\xff", "a", "1"), reasonUnsortedLabels)
	f(model.UTF8Validation, unsorted("__name__", "m", "a", "\xff", "b", strings.Repeat("v", 2049)), reasonInvalidLabelValue)
	f(model.UTF8Validation, unsorted("__name__", "m\xff"), reasonInvalidMetricName)
	f(model.UTF8Validation, unsorted("__name__", "m", "a", "\xff"), reasonInvalidLabelValue)
	f(model.UTF8Validation, unsorted("__name__", "m", strings.Repeat("n", 1025), "v"), reasonLabelNameTooLong)
	f(model.UTF8Validation, unsorted("__name__", "m", "a", strings.Repeat("v", 2049)), reasonLabelValueTooLong)
	many := []string{"__name__", "m"}
	for i := 0; i < 30; i++ {
		many = append(many, "l"+string(rune('a'+i/26))+string(rune('a'+i%26)), "v")
	}
	f(model.UTF8Validation, unsorted(many...), reasonTooManyLabels)
}

func TestValidateTimestamps(t *testing.T) {
	now := time.Now()
	v := newValidator(defaultLimits(t), model.UTF8Validation, "t", now)
	ls := labels.FromStrings("__name__", "m")
	f := func(ts time.Time, want string) {
		t.Helper()
		reason, _ := v.timestamp(ls, ts.UnixMilli())
		require.Equal(t, want, reason)
	}
	f(now, "")
	f(now.Add(9*time.Minute), "")
	f(now.Add(11*time.Minute), reasonTooFarInFuture)
	f(now.Add(-59*time.Minute), "")
	f(now.Add(-61*time.Minute), reasonTooOld)
}

// A valid series costs no allocation to validate: validation runs once per
// series of every push.
func TestValidateDoesNotAllocate(t *testing.T) {
	v := newValidator(defaultLimits(t), model.UTF8Validation, "t", time.Now())
	s := &wire.Series{Labels: labels.FromStrings("__name__", "node_cpu_seconds_total", "cpu", "0", "instance", "host-1:9100", "job", "node", "mode", "idle")}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := v.series(s); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

// BenchmarkValidateSeries validates one typical valid series: it runs once
// per series of every push.
func BenchmarkValidateSeries(b *testing.B) {
	v := newValidator(defaultLimits(b), model.UTF8Validation, "t", time.Now())
	s := &wire.Series{Labels: labels.FromStrings("__name__", "node_cpu_seconds_total", "cpu", "0", "instance", "host-1:9100", "job", "node", "mode", "idle")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.series(s); err != nil {
			b.Fatal(err)
		}
	}
}
