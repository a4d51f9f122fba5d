package app

import (
	"fmt"
	"sort"
	"strings"
)

// TargetAll runs every role in one process.
const TargetAll = "all"

// Role names.
const (
	RoleDistributor = "distributor"
	RoleIngester    = "ingester"
	RoleQuerier     = "querier"
)

// roles is the role table: what each role is and which roles "all" runs.
// Start order follows the slice; stop order is its reverse, so a role stops
// only after every role that calls it (the distributor before the ingester
// it pushes to).
var roles = []struct {
	name string
	doc  string
}{
	{RoleIngester, "keeps one TSDB per tenant, ships blocks to the bucket"},
	{RoleQuerier, "serves the Prometheus query API"},
	{RoleDistributor, "receives remote write, validates, applies limits"},
}

func roleNames() []string {
	out := []string{TargetAll}
	for _, r := range roles {
		out = append(out, r.name)
	}
	return out
}

// parseTarget returns the set of roles of a -target value.
func parseTarget(target string) (map[string]bool, error) {
	set := map[string]bool{}
	for _, t := range strings.Split(target, ",") {
		t = strings.TrimSpace(t)
		switch {
		case t == TargetAll:
			for _, r := range roles {
				set[r.name] = true
			}
		case t == "":
		default:
			known := false
			for _, r := range roles {
				known = known || r.name == t
			}
			if !known {
				return nil, fmt.Errorf("unknown target %q: use %s", t, strings.Join(roleNames(), ", "))
			}
			set[t] = true
		}
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("no target given: use %s", strings.Join(roleNames(), ", "))
	}
	// Until roles talk gRPC to each other, each role needs the others in the
	// same process.
	if len(set) != len(roles) {
		var have []string
		for r := range set {
			have = append(have, r)
		}
		sort.Strings(have)
		return nil, fmt.Errorf("target %q: running %s without the other roles needs the distributed mode, which is not built yet; use -target=all", target, strings.Join(have, ","))
	}
	return set, nil
}
