package limits

import (
	"flag"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

func defaults(t *testing.T) Limits {
	var l Limits
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	l.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	require.NoError(t, l.Validate())
	return l
}

func TestRuntimeConfigStartsFromDefaults(t *testing.T) {
	d := defaults(t)
	rc, err := ParseRuntimeConfig([]byte(`
overrides:
  team-a:
    ingestion_rate: 10
    max_query_length: 1d
`), d)
	require.NoError(t, err)
	o := NewOverrides(d, func() *RuntimeConfig { return rc })
	a := o.For("team-a")
	require.Equal(t, 10.0, a.IngestionRate)
	require.Equal(t, model.Duration(24*time.Hour), a.MaxQueryLength)
	require.Equal(t, d.IngestionBurstSize, a.IngestionBurstSize, "unnamed limits keep their defaults")
	require.Equal(t, d.IngestionRate, o.For("team-b").IngestionRate)
}

func TestRuntimeConfigRejectsBadInput(t *testing.T) {
	d := defaults(t)
	f := func(doc string) {
		t.Helper()
		_, err := ParseRuntimeConfig([]byte(doc), d)
		require.Error(t, err, doc)
	}
	f("overrides:\n  a:\n    no_such_limit: 1\n")
	f("overridez: {}\n")
	f("overrides:\n  a:\n    ingestion_rate: -1\n")
	f("overrides:\n  a:\n    max_query_length: forever\n")
	f("overrides:\n  a:\n    accept_ha_samples: true\n    ha_replica_label: cluster\n")
	f("overrides:\n  a:\n    accept_ha_samples: true\n    ha_cluster_label: \"\"\n")
	f("overrides:\n  a:\n    accept_ha_samples: true\n    ha_tracker_failover_timeout: 0s\n")
	f("overrides:\n  a:\n    ha_max_clusters: -1\n")
}

func TestEmptyRuntimeConfig(t *testing.T) {
	rc, err := ParseRuntimeConfig(nil, defaults(t))
	require.NoError(t, err)
	require.Empty(t, rc.Overrides)
}

// OTLP attribute lists are YAML lists, as in Prometheus' otlp section, or
// comma-separated strings, as the flag takes them; OTLP settings are checked.
func TestOTLPLimits(t *testing.T) {
	var def Limits
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	def.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	rc, err := ParseRuntimeConfig([]byte(`overrides:
  a:
    otlp_promote_resource_attributes: [deployment.environment.name, " k8s.cluster.name "]
  b:
    otlp_promote_resource_attributes: "x, y"
    otlp_delta_temporality: convert
`), def)
	require.NoError(t, err)
	require.Equal(t, AttributeList{"deployment.environment.name", "k8s.cluster.name"}, rc.Overrides["a"].OTLPPromoteResourceAttributes)
	require.Equal(t, AttributeList{"x", "y"}, rc.Overrides["b"].OTLPPromoteResourceAttributes)
	require.Equal(t, OTLPDeltaConvert, rc.Overrides["b"].OTLPDeltaTemporality)
	require.Equal(t, OTLPDeltaReject, rc.Overrides["a"].OTLPDeltaTemporality)
	for _, bad := range []string{
		"{otlp_delta_temporality: keep}",
		"{otlp_translation_strategy: Dots}",
		"{otlp_max_request_bytes: -1}",
		"{otlp_ignore_resource_attributes: [a]}",
		"{otlp_promote_all_resource_attributes: true, otlp_promote_resource_attributes: [a]}",
	} {
		_, err := ParseRuntimeConfig([]byte("overrides:\n  a: "+bad+"\n"), def)
		require.ErrorContains(t, err, "invalid overrides", bad)
	}
}
