package app

import (
	"fmt"
	"strings"
)

// TargetAll runs every role in one process.
const TargetAll = "all"

// Role names.
const (
	RoleDistributor  = "distributor"
	RoleIngester     = "ingester"
	RoleQuerier      = "querier"
	RoleStoreGateway = "store-gateway"
	RoleCompactor    = "compactor"
)

// roles is the role table: what each role is and which roles "all" runs.
// Start order follows the slice; stop order is its reverse, so a role stops
// only after every role that calls it (the distributor before the ingester
// it pushes to).
var roles = []struct {
	name string
	doc  string
}{
	{RoleStoreGateway, "serves the blocks of the bucket"},
	{RoleCompactor, "dedupes and compacts blocks, applies retention and deletions, keeps the bucket index"},
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
		case t == "storegateway":
			set[RoleStoreGateway] = true
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
	return set, nil
}

// allInOne reports whether set holds every role: then the roles call each
// other directly, with no ring and no loopback gRPC.
func allInOne(set map[string]bool) bool { return len(set) == len(roles) }
