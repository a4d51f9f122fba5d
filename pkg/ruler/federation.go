package ruler

import (
	"context"

	"github.com/weft-io/weft/pkg/federation"
)

// TenantLabel names, in the results of a federated group's queries, the
// tenant each series comes from (pkg/federation).
const TenantLabel = federation.TenantLabel

type sourcesKey struct{}

// withSources returns ctx carrying the source tenants of the group being
// evaluated; the query function then reads them instead of the owner.
func withSources(ctx context.Context, sources []string) context.Context {
	if len(sources) == 0 {
		return ctx
	}
	return context.WithValue(ctx, sourcesKey{}, sources)
}

func sourcesFrom(ctx context.Context) []string {
	s, _ := ctx.Value(sourcesKey{}).([]string)
	return s
}
