package compactor

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config of the compactor. DataDir is set by the app (from -data.dir) unless
// -compactor.data-dir names another directory.
type Config struct {
	// DataDir is the scratch directory where blocks are downloaded and
	// compacted. Its content is deleted when the compactor starts.
	DataDir string `yaml:"data_dir"`
	// BlockRanges are the compaction levels; the first is the range of the
	// blocks the ingesters ship, each next one a multiple of the previous.
	// A tenant with a retention period uses only the levels up to a tenth
	// of it (rangesFor).
	BlockRanges DurationList `yaml:"block_ranges"`
	// CompactionInterval is how often every tenant is compacted.
	CompactionInterval time.Duration `yaml:"compaction_interval"`
	// CleanupInterval is how often retention, block deletion, tenant
	// deletion and the bucket index run without a compaction.
	CleanupInterval time.Duration `yaml:"cleanup_interval"`
	// DeletionDelay is how long a block marked for deletion stays in the
	// bucket, so that queries that already chose it still find it.
	DeletionDelay time.Duration `yaml:"deletion_delay"`
	// CompactionConcurrency is how many compaction jobs of one tenant run
	// at once.
	CompactionConcurrency int `yaml:"compaction_concurrency"`
	// ConsistencyDelay is the minimum age (from the block's ULID) of a block
	// before it is compacted, so that every replica's copy had time to
	// arrive and eventually consistent listings have caught up.
	ConsistencyDelay time.Duration `yaml:"consistency_delay"`
	// TenantDeletionDelay is how long after MarkTenantForDeletion the
	// tenant's objects are deleted.
	TenantDeletionDelay time.Duration `yaml:"tenant_deletion_delay"`
	// PartialBlockDeletionDelay is how long every object of a block
	// without meta.json must have been left untouched before the block is
	// deleted as an abandoned upload; 0 keeps such blocks.
	PartialBlockDeletionDelay time.Duration `yaml:"partial_block_deletion_delay"`
}

// RegisterFlags registers the compactor flags with their defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.DataDir, "compactor.data-dir", "", "Scratch directory of the compactor (blocks being compacted). Empty means <data.dir>/compactor/work. Its content is deleted at start.")
	// The 7-day level: every block repeats the index of its series, so
	// months of history in 24h blocks cost about 8% more bytes per sample
	// than Prometheus' larger blocks at a sparse scrape interval, and a
	// long query opens 7 times more blocks.
	c.BlockRanges = DurationList{2 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}
	f.Var(&c.BlockRanges, "compactor.block-ranges", "Comma-separated compaction ranges. The first is the range of the blocks ingesters ship; each next one must be a multiple of the previous. A tenant with a retention period uses only the ranges up to a tenth of it, as Prometheus does, so that its blocks are deleted soon after they pass the retention.")
	f.DurationVar(&c.CompactionInterval, "compactor.compaction-interval", time.Hour, "How often each tenant's blocks are compacted.")
	f.DurationVar(&c.CleanupInterval, "compactor.cleanup-interval", 15*time.Minute, "How often retention, deletion of marked blocks, tenant deletion and the bucket index run between compactions.")
	f.DurationVar(&c.DeletionDelay, "compactor.deletion-delay", 12*time.Hour, "How long a block marked for deletion stays in the bucket before it is deleted. Queriers stop using a marked block well before this.")
	f.IntVar(&c.CompactionConcurrency, "compactor.compaction-concurrency", 1, "How many compaction jobs of one tenant run at once.")
	f.DurationVar(&c.ConsistencyDelay, "compactor.consistency-delay", 30*time.Minute, "Minimum age of a block (from its ULID) before it is compacted, so that every replica's copy had time to arrive.")
	f.DurationVar(&c.TenantDeletionDelay, "compactor.tenant-deletion-delay", 12*time.Hour, "How long after a tenant is marked for deletion its blocks are deleted.")
	f.DurationVar(&c.PartialBlockDeletionDelay, "compactor.partial-block-deletion-delay", 24*time.Hour, "How long the objects of a block without meta.json (an upload abandoned by a process that died or gave up) must stay untouched before the block is deleted. An upload that is retried writes its objects again, so it is never taken for abandoned. 0 keeps such blocks.")
}

// Validate reports settings that cannot work. An empty DataDir is valid
// here (the app fills it in from -data.dir); New refuses it.
func (c *Config) Validate() error {
	var errs []error
	if len(c.BlockRanges) == 0 {
		errs = append(errs, errors.New("compactor.block-ranges must name at least one range"))
	}
	for i, r := range c.BlockRanges {
		switch {
		case r < time.Minute || r%time.Minute != 0:
			errs = append(errs, fmt.Errorf("compactor.block-ranges: %s is not a whole number of minutes of at least 1m", r))
		case i > 0 && (r <= c.BlockRanges[i-1] || r%c.BlockRanges[i-1] != 0):
			errs = append(errs, fmt.Errorf("compactor.block-ranges: %s must be a larger multiple of %s", r, c.BlockRanges[i-1]))
		}
	}
	if c.CompactionInterval <= 0 || c.CleanupInterval <= 0 {
		errs = append(errs, errors.New("compactor.compaction-interval and compactor.cleanup-interval must be positive"))
	}
	if c.DeletionDelay < 0 || c.ConsistencyDelay < 0 || c.TenantDeletionDelay < 0 {
		errs = append(errs, errors.New("compactor.deletion-delay, compactor.consistency-delay and compactor.tenant-deletion-delay must not be negative"))
	}
	if c.CompactionConcurrency <= 0 {
		errs = append(errs, errors.New("compactor.compaction-concurrency must be positive"))
	}
	return errors.Join(errs...)
}

// rangesMillis returns the block ranges in milliseconds, as the TSDB wants.
func (c *Config) rangesMillis() []int64 {
	return c.rangesFor(0)
}

// rangesFor returns the compaction levels, in ms, of a tenant with the
// given retention (0: forever): the first level always, the others up to a
// tenth of the retention. A block is deleted only when all of it is past
// the retention, so a 7-day block of a tenant keeping 14 days would keep
// up to 7 days more than asked for.
func (c *Config) rangesFor(retention time.Duration) []int64 {
	out := make([]int64, 0, len(c.BlockRanges))
	for i, r := range c.BlockRanges {
		if i > 0 && retention > 0 && r > retention/10 {
			break
		}
		out = append(out, r.Milliseconds())
	}
	return out
}

// DurationList is a list of durations: a comma-separated flag, and in YAML
// either a sequence (["2h", "12h"]) or the same comma-separated string.
type DurationList []time.Duration

// String implements flag.Value.
func (d *DurationList) String() string {
	if d == nil {
		return ""
	}
	s := make([]string, len(*d))
	for i, v := range *d {
		s[i] = shortDuration(v)
	}
	return strings.Join(s, ",")
}

// Set implements flag.Value.
func (d *DurationList) Set(s string) error {
	var out DurationList
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		v, err := time.ParseDuration(p)
		if err != nil {
			return fmt.Errorf("cannot parse duration %q: %w", p, err)
		}
		out = append(out, v)
	}
	*d = out
	return nil
}

// UnmarshalYAML accepts a sequence of durations or a comma-separated string.
func (d *DurationList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return d.Set(n.Value)
	}
	var items []string
	if err := n.Decode(&items); err != nil {
		return err
	}
	return d.Set(strings.Join(items, ","))
}

// MarshalYAML writes a sequence of durations.
func (d DurationList) MarshalYAML() (any, error) {
	out := make([]string, len(d))
	for i, v := range d {
		out[i] = shortDuration(v)
	}
	return out, nil
}

// shortDuration prints 2h rather than 2h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
