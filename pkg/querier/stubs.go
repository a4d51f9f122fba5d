package querier

import (
	"errors"
	"net/url"

	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/scrape"
)

// noTargets answers the scrape and alertmanager discovery endpoints: weft
// scrapes nothing itself, its data arrives by remote write.
type noTargets struct{}

func (noTargets) ScrapePools() []string                       { return nil }
func (noTargets) TargetsActive() map[string][]*scrape.Target  { return nil }
func (noTargets) TargetsDropped() map[string][]*scrape.Target { return nil }
func (noTargets) TargetsDroppedCounts() map[string]int        { return nil }
func (noTargets) ScrapePoolConfig(string) (*config.ScrapeConfig, error) {
	return nil, errors.New("weft has no scrape pools")
}
func (noTargets) Alertmanagers() []*url.URL        { return nil }
func (noTargets) DroppedAlertmanagers() []*url.URL { return nil }

// noRules serves empty rules and alerts where no ruler answers them.
type noRules struct{}

func (noRules) RuleGroups() []*rules.Group           { return nil }
func (noRules) AlertingRules() []*rules.AlertingRule { return nil }
