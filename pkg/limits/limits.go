package limits

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Limits are the limits of one tenant. The same struct is the YAML of the
// `limits` section of the config file and of each tenant in the runtime file.
type Limits struct {
	// Write path.
	IngestionRate            float64        `yaml:"ingestion_rate" json:"ingestion_rate"`
	IngestionBurstSize       int            `yaml:"ingestion_burst_size" json:"ingestion_burst_size"`
	MaxSeriesPerTenant       int            `yaml:"max_series_per_tenant" json:"max_series_per_tenant"`
	MaxSeriesPerMetric       int            `yaml:"max_series_per_metric" json:"max_series_per_metric"`
	MaxLabelNamesPerSeries   int            `yaml:"max_label_names_per_series" json:"max_label_names_per_series"`
	MaxLabelNameLength       int            `yaml:"max_label_name_length" json:"max_label_name_length"`
	MaxLabelValueLength      int            `yaml:"max_label_value_length" json:"max_label_value_length"`
	MaxMetadataLength        int            `yaml:"max_metadata_length" json:"max_metadata_length"`
	CreationGracePeriod      model.Duration `yaml:"creation_grace_period" json:"creation_grace_period"`
	PastGracePeriod          model.Duration `yaml:"past_grace_period" json:"past_grace_period"`
	OutOfOrderTimeWindow     model.Duration `yaml:"out_of_order_time_window" json:"out_of_order_time_window"`
	MaxExemplarsPerTenant    int            `yaml:"max_exemplars_per_tenant" json:"max_exemplars_per_tenant"`
	IngestionTenantShardSize int            `yaml:"ingestion_tenant_shard_size" json:"ingestion_tenant_shard_size"`
	// HA pairs: the distributor keeps the samples of one elected replica
	// per cluster.
	AcceptHASamples          bool           `yaml:"accept_ha_samples" json:"accept_ha_samples"`
	HAClusterLabel           string         `yaml:"ha_cluster_label" json:"ha_cluster_label"`
	HAReplicaLabel           string         `yaml:"ha_replica_label" json:"ha_replica_label"`
	HAMaxClusters            int            `yaml:"ha_max_clusters" json:"ha_max_clusters"`
	HATrackerFailoverTimeout model.Duration `yaml:"ha_tracker_failover_timeout" json:"ha_tracker_failover_timeout"`
	MaxFetchedSeriesPerQuery int            `yaml:"max_fetched_series_per_query" json:"max_fetched_series_per_query"`
	MaxSamplesPerQuery       int            `yaml:"max_samples_per_query" json:"max_samples_per_query"`
	MaxQueryLength           model.Duration `yaml:"max_query_length" json:"max_query_length"`
	MaxQueryLookback         model.Duration `yaml:"max_query_lookback" json:"max_query_lookback"`
	// OTLP (POST /otlp/v1/metrics): Prometheus 3's otlp config section, per
	// tenant, plus the size of a request and what to do with delta
	// temporality.
	OTLPMaxRequestBytes                      int           `yaml:"otlp_max_request_bytes" json:"otlp_max_request_bytes"`
	OTLPPromoteResourceAttributes            AttributeList `yaml:"otlp_promote_resource_attributes" json:"otlp_promote_resource_attributes"`
	OTLPPromoteAllResourceAttributes         bool          `yaml:"otlp_promote_all_resource_attributes" json:"otlp_promote_all_resource_attributes"`
	OTLPIgnoreResourceAttributes             AttributeList `yaml:"otlp_ignore_resource_attributes" json:"otlp_ignore_resource_attributes"`
	OTLPKeepIdentifyingResourceAttributes    bool          `yaml:"otlp_keep_identifying_resource_attributes" json:"otlp_keep_identifying_resource_attributes"`
	OTLPTranslationStrategy                  string        `yaml:"otlp_translation_strategy" json:"otlp_translation_strategy"`
	OTLPConvertHistogramsToNHCB              bool          `yaml:"otlp_convert_histograms_to_nhcb" json:"otlp_convert_histograms_to_nhcb"`
	OTLPPromoteScopeMetadata                 bool          `yaml:"otlp_promote_scope_metadata" json:"otlp_promote_scope_metadata"`
	OTLPLabelNameUnderscoreSanitization      bool          `yaml:"otlp_label_name_underscore_sanitization" json:"otlp_label_name_underscore_sanitization"`
	OTLPLabelNamePreserveMultipleUnderscores bool          `yaml:"otlp_label_name_preserve_multiple_underscores" json:"otlp_label_name_preserve_multiple_underscores"`
	OTLPDeltaTemporality                     string        `yaml:"otlp_delta_temporality" json:"otlp_delta_temporality"`
	// Read path: per query, and the query-frontend and scheduler.
	MaxFetchedChunkBytesPerQuery    int            `yaml:"max_fetched_chunk_bytes_per_query" json:"max_fetched_chunk_bytes_per_query"`
	QueryTimeout                    model.Duration `yaml:"query_timeout" json:"query_timeout"`
	QueryLogSlowerThan              model.Duration `yaml:"query_log_slower_than" json:"query_log_slower_than"`
	MaxQueryParallelism             int            `yaml:"max_query_parallelism" json:"max_query_parallelism"`
	MaxOutstandingRequestsPerTenant int            `yaml:"max_outstanding_requests_per_tenant" json:"max_outstanding_requests_per_tenant"`
	MaxQueriersPerTenant            int            `yaml:"max_queriers_per_tenant" json:"max_queriers_per_tenant"`
	MaxQueryCapacity                float64        `yaml:"max_query_capacity" json:"max_query_capacity"`
	QueryShardingTotalShards        int            `yaml:"query_sharding_total_shards" json:"query_sharding_total_shards"`
	MaxCacheFreshness               model.Duration `yaml:"max_cache_freshness" json:"max_cache_freshness"`
	ResultsCacheEnabled             bool           `yaml:"results_cache_enabled" json:"results_cache_enabled"`
	CompactorBlocksRetention        model.Duration `yaml:"compactor_blocks_retention_period" json:"compactor_blocks_retention_period"`
	// Cardinality analysis (/api/v1/cardinality/...).
	CardinalityAnalysisEnabled                 bool `yaml:"cardinality_analysis_enabled" json:"cardinality_analysis_enabled"`
	CardinalityAnalysisMaxLabelNamesPerRequest int  `yaml:"cardinality_analysis_max_label_names_per_request" json:"cardinality_analysis_max_label_names_per_request"`

	// Ruler.
	RulerMaxRuleGroupsPerTenant  int            `yaml:"ruler_max_rule_groups_per_tenant" json:"ruler_max_rule_groups_per_tenant"`
	RulerMaxRulesPerRuleGroup    int            `yaml:"ruler_max_rules_per_rule_group" json:"ruler_max_rules_per_rule_group"`
	RulerMinEvaluationInterval   model.Duration `yaml:"ruler_min_evaluation_interval" json:"ruler_min_evaluation_interval"`
	RulerEvaluationDelay         model.Duration `yaml:"ruler_evaluation_delay" json:"ruler_evaluation_delay"`
	RulerTenantFederationEnabled bool           `yaml:"ruler_tenant_federation_enabled" json:"ruler_tenant_federation_enabled"`
	// Alertmanager.
	AlertmanagerMaxAlertsCount                 int     `yaml:"alertmanager_max_alerts_count" json:"alertmanager_max_alerts_count"`
	AlertmanagerMaxDispatcherAggregationGroups int     `yaml:"alertmanager_max_dispatcher_aggregation_groups" json:"alertmanager_max_dispatcher_aggregation_groups"`
	AlertmanagerMaxConfigSizeBytes             int     `yaml:"alertmanager_max_config_size_bytes" json:"alertmanager_max_config_size_bytes"`
	AlertmanagerMaxTemplateSizeBytes           int     `yaml:"alertmanager_max_template_size_bytes" json:"alertmanager_max_template_size_bytes"`
	AlertmanagerMaxTemplatesCount              int     `yaml:"alertmanager_max_templates_count" json:"alertmanager_max_templates_count"`
	AlertmanagerNotificationRateLimit          float64 `yaml:"alertmanager_notification_rate_limit" json:"alertmanager_notification_rate_limit"`
	AlertmanagerReceiversBlockPrivateAddresses bool    `yaml:"alertmanager_receivers_block_private_addresses" json:"alertmanager_receivers_block_private_addresses"`
	// Notebooks (the ui role).
	MaxNotebooksPerTenant int `yaml:"max_notebooks_per_tenant" json:"max_notebooks_per_tenant"`
	MaxNotebookBytes      int `yaml:"max_notebook_bytes" json:"max_notebook_bytes"`
	NotebookVersionsKept  int `yaml:"notebook_versions_kept" json:"notebook_versions_kept"`
}

// RegisterFlags registers the default limits as flags.
func (l *Limits) RegisterFlags(f *flag.FlagSet) {
	f.Float64Var(&l.IngestionRate, "distributor.ingestion-rate-limit", 100000, "Per-tenant ingestion rate limit in samples per second (samples and histograms count) for the whole cluster: each of the N healthy distributors of the distributor ring enforces 1/N of it. 0 disables it.")
	f.IntVar(&l.IngestionBurstSize, "distributor.ingestion-burst-size", 1000000, "Per-tenant burst size in samples allowed above the ingestion rate, for the whole cluster (each of N distributors allows 1/N): keep it at least N times the largest push.")
	f.IntVar(&l.MaxSeriesPerTenant, "ingester.max-series-per-tenant", 1500000, "Maximum number of in-memory series per tenant. 0 disables it.")
	f.IntVar(&l.MaxSeriesPerMetric, "ingester.max-series-per-metric", 0, "Maximum number of in-memory series per metric name per tenant. 0 disables it.")
	f.IntVar(&l.MaxLabelNamesPerSeries, "validation.max-label-names-per-series", 30, "Maximum number of labels of a series.")
	f.IntVar(&l.MaxLabelNameLength, "validation.max-length-label-name", 1024, "Maximum length of a label name in bytes.")
	f.IntVar(&l.MaxLabelValueLength, "validation.max-length-label-value", 2048, "Maximum length of a label value in bytes.")
	f.IntVar(&l.MaxMetadataLength, "validation.max-metadata-length", 1024, "Maximum length of metadata help and unit in bytes.")
	l.CreationGracePeriod = model.Duration(10 * time.Minute)
	f.Var(&l.CreationGracePeriod, "validation.create-grace-period", "Samples with timestamps more than this far in the future are rejected.")
	f.Var(&l.PastGracePeriod, "validation.past-grace-period", "Samples older than this are rejected. 0 disables the check (the TSDB still rejects samples older than its head allows).")
	f.Var(&l.OutOfOrderTimeWindow, "ingester.out-of-order-time-window", "How far back out-of-order samples are accepted. 0 rejects every out-of-order sample. A change in the runtime file applies to running ingesters within 10s.")
	f.IntVar(&l.MaxExemplarsPerTenant, "ingester.max-exemplars-per-tenant", 100000, "Size of the per-tenant in-memory exemplar store. 0 disables exemplar storage. A change in the runtime file applies to running ingesters within 10s; lowering it drops the oldest exemplars.")
	f.IntVar(&l.IngestionTenantShardSize, "distributor.ingestion-tenant-shard-size", 0, "Number of ingesters a tenant's series are sharded over (shuffle sharding). 0 uses every ingester.")
	f.BoolVar(&l.AcceptHASamples, "distributor.accept-ha-samples", false, "Deduplicate the tenant's HA pairs: of the pushes whose series carry both the ha_cluster_label and the ha_replica_label, keep only those of the elected replica of each cluster, answer the others 202, and store series without the replica label (docs/ha-pairs.md).")
	f.StringVar(&l.HAClusterLabel, "distributor.ha-cluster-label", "cluster", "Label that names the HA cluster (the pair) a push comes from, with accept_ha_samples.")
	f.StringVar(&l.HAReplicaLabel, "distributor.ha-replica-label", "__replica__", "Label that names the replica of the HA cluster a push comes from, with accept_ha_samples; it is removed from stored series.")
	f.IntVar(&l.HAMaxClusters, "distributor.ha-max-clusters", 100, "Maximum number of HA clusters the tenant may push from, with accept_ha_samples; a push from one more cluster is answered 429. 0 disables it.")
	l.HATrackerFailoverTimeout = model.Duration(30 * time.Second)
	f.Var(&l.HATrackerFailoverTimeout, "distributor.ha-tracker-failover-timeout", "With accept_ha_samples, how long the elected replica of a cluster may send nothing before the next replica that pushes is elected in its place.")
	f.IntVar(&l.MaxFetchedSeriesPerQuery, "querier.max-fetched-series-per-query", 0, "Maximum number of series one query may touch. 0 disables it.")
	f.IntVar(&l.MaxSamplesPerQuery, "querier.max-samples", 50000000, "Maximum number of samples one query may read. 0 disables it.")
	f.Var(&l.MaxQueryLength, "querier.max-query-length", "Maximum time range of a range query or selector. 0 disables it.")
	f.Var(&l.MaxQueryLookback, "querier.max-query-lookback", "How far back a query may look. 0 disables it.")
	f.IntVar(&l.OTLPMaxRequestBytes, "distributor.otlp-max-request-bytes", 0, "Largest OTLP request of the tenant, in bytes after gzip decompression; a larger one is refused with 413 and nothing of it is stored. 0 uses -distributor.max-recv-msg-size, which also bounds it.")
	f.Var(&l.OTLPPromoteResourceAttributes, "distributor.otlp-promote-resource-attributes", "Comma-separated OTLP resource attributes promoted to labels of every series of the resource (Prometheus' otlp.promote_resource_attributes). service.name, service.namespace and service.instance.id always become job and instance.")
	f.BoolVar(&l.OTLPPromoteAllResourceAttributes, "distributor.otlp-promote-all-resource-attributes", false, "Promote every OTLP resource attribute to a label, except those of -distributor.otlp-ignore-resource-attributes (Prometheus' otlp.promote_all_resource_attributes).")
	f.Var(&l.OTLPIgnoreResourceAttributes, "distributor.otlp-ignore-resource-attributes", "Comma-separated OTLP resource attributes not promoted when -distributor.otlp-promote-all-resource-attributes is on.")
	f.BoolVar(&l.OTLPKeepIdentifyingResourceAttributes, "distributor.otlp-keep-identifying-resource-attributes", false, "Also keep service.name, service.namespace and service.instance.id as labels of target_info (Prometheus' otlp.keep_identifying_resource_attributes).")
	f.StringVar(&l.OTLPTranslationStrategy, "distributor.otlp-translation-strategy", "UnderscoreEscapingWithSuffixes", "How OTLP metric and label names become Prometheus names (Prometheus' otlp.translation_strategy): UnderscoreEscapingWithSuffixes (Prometheus 3's default), UnderscoreEscapingWithoutSuffixes, NoUTF8EscapingWithSuffixes or NoTranslation.")
	f.BoolVar(&l.OTLPConvertHistogramsToNHCB, "distributor.otlp-convert-histograms-to-nhcb", false, "Store OTLP explicit-bucket histograms as native histograms with custom buckets instead of classic _bucket/_sum/_count series.")
	f.BoolVar(&l.OTLPPromoteScopeMetadata, "distributor.otlp-promote-scope-metadata", false, "Add the OTLP instrumentation scope's name, version, schema URL and attributes as otel_scope_* labels.")
	l.OTLPLabelNameUnderscoreSanitization = true
	f.BoolVar(&l.OTLPLabelNameUnderscoreSanitization, "distributor.otlp-label-name-underscore-sanitization", true, "When names are escaped, rename a label name that starts with a single underscore, _foo, to key_foo (Prometheus' default).")
	l.OTLPLabelNamePreserveMultipleUnderscores = true
	f.BoolVar(&l.OTLPLabelNamePreserveMultipleUnderscores, "distributor.otlp-label-name-preserve-multiple-underscores", true, "When names are escaped, keep runs of underscores in label names instead of collapsing them (Prometheus' default).")
	f.StringVar(&l.OTLPDeltaTemporality, "distributor.otlp-delta-temporality", "reject", "What to do with OTLP sums and histograms of delta temporality: reject (Prometheus 3's default: the points are refused and counted in partial_success) or convert (to cumulative, in the distributor's memory, as Prometheus' otlp-deltatocumulative feature).")
	f.IntVar(&l.MaxFetchedChunkBytesPerQuery, "querier.max-fetched-chunk-bytes-per-query", 0, "Maximum bytes of chunks one query may fetch from ingesters and store-gateways. 0 disables it.")
	f.Var(&l.QueryTimeout, "querier.query-timeout", "Maximum time one query of the tenant may run; 0 uses -querier.timeout. It cannot exceed -querier.timeout.")
	l.QueryLogSlowerThan = model.Duration(5 * time.Second)
	f.Var(&l.QueryLogSlowerThan, "querier.query-log-slower-than", "Log each query of the tenant that takes longer than this, with the series, samples and bytes it fetched. 0 disables the log.")
	f.IntVar(&l.MaxQueryParallelism, "query-frontend.max-query-parallelism", 14, "Maximum number of split and sharded parts of one query the query-frontend runs at once.")
	f.IntVar(&l.MaxOutstandingRequestsPerTenant, "query-scheduler.max-outstanding-requests-per-tenant", 100, "Maximum number of queries of the tenant queued in the query-scheduler; more are answered with 429.")
	f.IntVar(&l.MaxQueriersPerTenant, "query-scheduler.max-queriers-per-tenant", 0, "Number of queriers that run the tenant's queries (shuffle sharding). 0 uses every querier.")
	f.Float64Var(&l.MaxQueryCapacity, "query-scheduler.max-query-capacity", 0.5, "Share (above 0, at most 1) of the querier workers connected to a query-scheduler that the tenant's queries may occupy at once, at least one worker; the rest stay free for the other tenants' queries, which then start at once while this tenant floods. 1 lets one tenant occupy every worker.")
	f.IntVar(&l.QueryShardingTotalShards, "query-frontend.query-sharding-total-shards", 0, "Number of shards the query-frontend splits a shardable query into (sum, count, min, max, avg, topk, ...); each shard reads a disjoint set of series. 0 or 1 disables sharding.")
	l.MaxCacheFreshness = model.Duration(10 * time.Minute)
	f.Var(&l.MaxCacheFreshness, "query-frontend.max-cache-freshness", "Results newer than this are never cached, because late samples may still change them.")
	l.ResultsCacheEnabled = true
	f.BoolVar(&l.ResultsCacheEnabled, "query-frontend.results-cache-enabled", true, "Cache the tenant's range query results in the query-frontend.")
	f.Var(&l.CompactorBlocksRetention, "compactor.blocks-retention-period", "Delete blocks older than this. 0 keeps them forever.")
	l.CardinalityAnalysisEnabled = true
	f.BoolVar(&l.CardinalityAnalysisEnabled, "querier.cardinality-analysis-enabled", true, "Serve the tenant's cardinality analysis API (/api/v1/cardinality/label_names and label_values), which reads every ingester of the tenant.")
	f.IntVar(&l.CardinalityAnalysisMaxLabelNamesPerRequest, "querier.cardinality-analysis-max-label-names-per-request", 500, "Maximum number of label_names[] one request to /api/v1/cardinality/label_values may ask for.")
	f.IntVar(&l.RulerMaxRuleGroupsPerTenant, "ruler.max-rule-groups-per-tenant", 70, "Maximum number of rule groups a tenant may store. 0 disables it.")
	f.IntVar(&l.RulerMaxRulesPerRuleGroup, "ruler.max-rules-per-rule-group", 20, "Maximum number of rules in one rule group. 0 disables it.")
	l.RulerMinEvaluationInterval = model.Duration(time.Second)
	f.Var(&l.RulerMinEvaluationInterval, "ruler.min-evaluation-interval", "Shortest evaluation interval a rule group may ask for; an upload asking for less is refused, and a group stored before the limit was raised runs at the limit.")
	f.Var(&l.RulerEvaluationDelay, "ruler.evaluation-delay", "How far back in time rules are evaluated (each group's query_offset, when the group sets none), so that samples still in flight are seen.")
	f.BoolVar(&l.RulerTenantFederationEnabled, "ruler.tenant-federation-enabled", false, "Allow rule groups with source_tenants, whose queries read the series of several tenants.")
	f.IntVar(&l.AlertmanagerMaxAlertsCount, "alertmanager.max-alerts-count", 0, "Maximum number of alerts a tenant's Alertmanager holds; new alerts beyond it are dropped (counted in weft_alertmanager_alerts_dropped_total). 0 disables it.")
	f.IntVar(&l.AlertmanagerMaxDispatcherAggregationGroups, "alertmanager.max-dispatcher-aggregation-groups", 0, "Maximum number of aggregation groups of a tenant's Alertmanager; alerts that would open another group are not routed. 0 disables it.")
	f.IntVar(&l.AlertmanagerMaxConfigSizeBytes, "alertmanager.max-config-size-bytes", 1<<20, "Maximum size of a tenant's Alertmanager configuration (alertmanager_config) in bytes. 0 disables it.")
	f.IntVar(&l.AlertmanagerMaxTemplateSizeBytes, "alertmanager.max-template-size-bytes", 1<<20, "Maximum size of one template file of a tenant's Alertmanager configuration in bytes. 0 disables it.")
	f.IntVar(&l.AlertmanagerMaxTemplatesCount, "alertmanager.max-templates-count", 100, "Maximum number of template files of a tenant's Alertmanager configuration. 0 disables it.")
	f.Float64Var(&l.AlertmanagerNotificationRateLimit, "alertmanager.notification-rate-limit", 0, "Notifications per second each integration (one webhook, one e-mail receiver, ...) of a tenant may send, with a burst of the same size (at least 1); a notification over it fails and is not retried. 0 disables it.")
	f.IntVar(&l.MaxNotebooksPerTenant, "ui.max-notebooks-per-tenant", 1000, "Maximum number of notebooks a tenant may store; creating one more is answered with 429. 0 disables it.")
	f.IntVar(&l.MaxNotebookBytes, "ui.max-notebook-bytes", 1<<20, "Maximum size of one notebook in bytes, as sent and as stored in JSON; a larger one is refused with 400. 0 disables it.")
	f.IntVar(&l.NotebookVersionsKept, "ui.notebook-versions-kept", 20, "Number of versions of each notebook kept in the bucket, the current one included; older ones are deleted on save.")
	f.BoolVar(&l.AlertmanagerReceiversBlockPrivateAddresses, "alertmanager.receivers-block-private-addresses", false, "Refuse receiver URLs on loopback, private, link-local or unspecified addresses: at upload, for the addresses in the configuration, and when a notification dials, for every address a host name resolves to.")
}

// AttributeList is a list of OTLP attribute names: a YAML list, as in
// Prometheus' otlp config section, or one comma-separated string, as the
// flag takes it.
type AttributeList []string

// String implements flag.Value.
func (l AttributeList) String() string { return strings.Join(l, ",") }

// Set implements flag.Value: a comma-separated list; blanks are trimmed.
func (l *AttributeList) Set(s string) error {
	*l = nil
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			*l = append(*l, a)
		}
	}
	return nil
}

// UnmarshalYAML takes a list or a comma-separated string.
func (l *AttributeList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return l.Set(n.Value)
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*l = nil
	for _, a := range list {
		if a = strings.TrimSpace(a); a != "" {
			*l = append(*l, a)
		}
	}
	return nil
}

// Values of Limits.OTLPDeltaTemporality.
const (
	// OTLPDeltaReject refuses delta points, as Prometheus 3 does by default.
	OTLPDeltaReject = "reject"
	// OTLPDeltaConvert converts delta points to cumulative ones, as
	// Prometheus' otlp-deltatocumulative feature does.
	OTLPDeltaConvert = "convert"
)

// Validate reports a limit that cannot work.
func (l *Limits) Validate() error {
	var errs []error
	if l.IngestionRate < 0 {
		errs = append(errs, errors.New("ingestion_rate must not be negative"))
	}
	if l.IngestionRate > 0 && l.IngestionBurstSize <= 0 {
		errs = append(errs, errors.New("ingestion_burst_size must be positive when ingestion_rate is set"))
	}
	if l.RulerMaxRuleGroupsPerTenant < 0 || l.RulerMaxRulesPerRuleGroup < 0 || l.RulerMinEvaluationInterval < 0 || l.RulerEvaluationDelay < 0 {
		errs = append(errs, errors.New("ruler_max_rule_groups_per_tenant, ruler_max_rules_per_rule_group, ruler_min_evaluation_interval and ruler_evaluation_delay must not be negative"))
	}
	if l.MaxLabelNamesPerSeries <= 0 || l.MaxLabelNameLength <= 0 || l.MaxLabelValueLength <= 0 {
		errs = append(errs, errors.New("max_label_names_per_series, max_label_name_length and max_label_value_length must be positive"))
	}
	if l.MaxFetchedChunkBytesPerQuery < 0 || l.QueryTimeout < 0 || l.QueryLogSlowerThan < 0 || l.MaxQueryParallelism <= 0 ||
		l.MaxOutstandingRequestsPerTenant <= 0 || l.MaxQueriersPerTenant < 0 || l.QueryShardingTotalShards < 0 || l.MaxCacheFreshness < 0 {
		errs = append(errs, errors.New("max_query_parallelism and max_outstanding_requests_per_tenant must be positive; max_fetched_chunk_bytes_per_query, query_timeout, query_log_slower_than, max_queriers_per_tenant, query_sharding_total_shards and max_cache_freshness must not be negative"))
	}
	if l.MaxQueryCapacity <= 0 || l.MaxQueryCapacity > 1 {
		errs = append(errs, fmt.Errorf("max_query_capacity must be above 0 and at most 1, got %v", l.MaxQueryCapacity))
	}
	if l.MaxNotebooksPerTenant < 0 || l.MaxNotebookBytes < 0 || l.NotebookVersionsKept <= 0 {
		errs = append(errs, errors.New("max_notebooks_per_tenant and max_notebook_bytes must not be negative; notebook_versions_kept must be positive"))
	}
	if l.CardinalityAnalysisMaxLabelNamesPerRequest <= 0 {
		errs = append(errs, errors.New("cardinality_analysis_max_label_names_per_request must be positive"))
	}
	if l.OTLPMaxRequestBytes < 0 {
		errs = append(errs, errors.New("otlp_max_request_bytes must not be negative"))
	}
	switch l.OTLPTranslationStrategy {
	case "UnderscoreEscapingWithSuffixes", "UnderscoreEscapingWithoutSuffixes", "NoUTF8EscapingWithSuffixes", "NoTranslation":
	default:
		errs = append(errs, fmt.Errorf("otlp_translation_strategy must be UnderscoreEscapingWithSuffixes, UnderscoreEscapingWithoutSuffixes, NoUTF8EscapingWithSuffixes or NoTranslation, got %q", l.OTLPTranslationStrategy))
	}
	switch l.OTLPDeltaTemporality {
	case OTLPDeltaReject, OTLPDeltaConvert:
	default:
		errs = append(errs, fmt.Errorf("otlp_delta_temporality must be %s or %s, got %q", OTLPDeltaReject, OTLPDeltaConvert, l.OTLPDeltaTemporality))
	}
	if l.OTLPPromoteAllResourceAttributes && len(l.OTLPPromoteResourceAttributes) > 0 {
		errs = append(errs, errors.New("otlp_promote_all_resource_attributes and otlp_promote_resource_attributes cannot be set together"))
	}
	if !l.OTLPPromoteAllResourceAttributes && len(l.OTLPIgnoreResourceAttributes) > 0 {
		errs = append(errs, errors.New("otlp_ignore_resource_attributes needs otlp_promote_all_resource_attributes"))
	}
	if l.AcceptHASamples && (l.HAClusterLabel == "" || l.HAReplicaLabel == "" || l.HAClusterLabel == l.HAReplicaLabel || l.HATrackerFailoverTimeout <= 0) {
		errs = append(errs, errors.New("with accept_ha_samples, ha_cluster_label and ha_replica_label must be set and differ, and ha_tracker_failover_timeout must be positive"))
	}
	if l.HAMaxClusters < 0 {
		errs = append(errs, errors.New("ha_max_clusters must not be negative"))
	}
	if l.AlertmanagerNotificationRateLimit < 0 {
		errs = append(errs, errors.New("alertmanager_notification_rate_limit must not be negative"))
	}
	return errors.Join(errs...)
}

// Overrides gives the effective limits of each tenant: the defaults, or the
// tenant's entry of the runtime file. It is safe for concurrent use.
type Overrides struct {
	defaults Limits
	source   func() *RuntimeConfig
}

// NewOverrides returns Overrides over defaults; source (may be nil) returns
// the current runtime config.
func NewOverrides(defaults Limits, source func() *RuntimeConfig) *Overrides {
	return &Overrides{defaults: defaults, source: source}
}

// For returns the limits of tenant. The result must not be modified.
func (o *Overrides) For(tenant string) *Limits {
	if o.source != nil {
		if rc := o.source(); rc != nil {
			if l, ok := rc.Overrides[tenant]; ok {
				return l
			}
		}
	}
	return &o.defaults
}

// Defaults returns the default limits.
func (o *Overrides) Defaults() *Limits { return &o.defaults }

// RuntimeConfig is the runtime file: per-tenant overrides, each starting
// from the defaults so a tenant's entry names only what differs.
type RuntimeConfig struct {
	Overrides map[string]*Limits `yaml:"overrides" json:"overrides"`
}

// ParseRuntimeConfig decodes a runtime file. Unknown keys and invalid limits
// are errors, so a bad edit keeps the previous config in force.
func ParseRuntimeConfig(data []byte, defaults Limits) (*RuntimeConfig, error) {
	var raw struct {
		Overrides map[string]yaml.Node `yaml:"overrides"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) { // an empty file means no overrides
		return nil, fmt.Errorf("cannot parse runtime config: %w", err)
	}
	rc := &RuntimeConfig{Overrides: make(map[string]*Limits, len(raw.Overrides))}
	for tenant, node := range raw.Overrides {
		l := defaults
		b, err := yaml.Marshal(&node)
		if err != nil {
			return nil, fmt.Errorf("cannot parse overrides of tenant %q: %w", tenant, err)
		}
		d := yaml.NewDecoder(bytes.NewReader(b))
		d.KnownFields(true)
		if err := d.Decode(&l); err != nil {
			return nil, fmt.Errorf("cannot parse overrides of tenant %q: %w", tenant, err)
		}
		if err := l.Validate(); err != nil {
			return nil, fmt.Errorf("invalid overrides of tenant %q: %w", tenant, err)
		}
		rc.Overrides[tenant] = &l
	}
	return rc, nil
}
