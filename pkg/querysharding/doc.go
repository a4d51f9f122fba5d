// Package querysharding runs PromQL queries in shards of series: the
// query-frontend's query sharding. It is a shared package, not a role: the
// frontend calls Sharder.Exec for each part of a split query, and the
// querier removes the shard matcher from selectors (SelectShard).
//
// # Shards
//
// Shard i (0-based) of n holds the series whose labels.StableHash of the
// whole label set is i modulo n: the hash Prometheus' TSDB shards by, in its
// head (tsdb.Options.EnableSharding) and its blocks' index reader. A
// selector asks for one shard with the matcher
//
//	__query_shard__="<i+1>_of_<n>"
//
// (ShardLabel, 1-based as people count). The querier removes it and sets
// storage.SelectHints.ShardIndex and ShardCount, which ingesters and
// store-gateways honour (over gRPC too: docs/wire-protocol.md), so the
// shards read disjoint series and together every series.
//
// # What shards
//
// An aggregation shards when its result can be computed from the same
// aggregation of each shard: sum, min, max and group (the same operation
// over the shards' results), count and count_values (the sum of the
// shards' counts), avg (the shards' averages weighted by their counts, which
// does not overflow where avg does not), and topk and bottomk (the top k
// of the shards' top k), with by or without, and a parameter that reads no
// series. Its argument must be series-local: each of its series computed
// from one stored series alone, so that the shards' series are the whole's
// series. Selectors are; so are the functions that map series to series
// (rate, increase, *_over_time, abs, label_replace, histogram_count, ...),
// subqueries of such expressions, and arithmetic or comparisons with a
// scalar that reads no series. Not: aggregations, operations between two
// vectors (their series may match across shards), histogram_quantile and
// histogram_fraction (a classic histogram's buckets are series of their
// own), absent, vector, scalar, info and the sorts.
//
// The rest of the query is evaluated by the frontend, with Prometheus'
// engine, over the results of sub-queries: the outer expression reads each
// sub-query's result with a selector of its own. The parts of the rest
// that read series are instant vectors that run downstream whole, once; a
// query in which nothing shards, or a range vector outside any sharded
// aggregation reads series, is not sharded at all (Exec says so, and the
// caller runs it as it is). For example, in 3 shards
//
//	sum by (job) (rate(x[5m])) / on (job) group_left max by (job) (y)
//
// runs sum by (job) (rate(x{__query_shard__="1_of_3"}[5m])), ..., and
// max by (job) (y{__query_shard__="1_of_3"}), ..., and evaluates
//
//	sum by (job) ({__partial__="0"}) / on (job) group_left max by (job) ({__partial__="1"})
//
// over their results, each series labelled with its shard (__shard__) so
// that the shards' series do not collide.
//
// # Execution API
//
//	s := querysharding.New(querysharding.Options{Engine: <the queriers' EngineOpts>, Parallelism: p})
//	v, annos, sharded, err := s.Exec(ctx, qs, start, end, step, shards, run)
//
// Exec runs the range query qs over [start, end] every step (an instant
// query at start when step is 0) in shards. When sharded is false it did
// nothing: qs has no part that shards, or shards < 2; run qs as it is.
// Otherwise it calls, concurrently (at most Parallelism at once),
//
//	run(ctx, subquery) (parser.Value, annotations.Annotations, error)
//
// for every sub-query, which must evaluate the PromQL subquery downstream
// over the same start, end and step (the same time, for an instant query)
// and return a promql.Matrix (a promql.Vector for an instant query) that
// it does not recycle afterwards. The value is the query's: a promql.Matrix
// for a range query; a promql.Vector, Scalar, Matrix or String for an
// instant one. annos are the sub-queries' and the outer evaluation's.
// Sharder.Shardable lists the sub-queries without running them.
//
// A caller that speaks the HTTP API's answers, as the query-frontend does
// (model.Matrix, warnings and infos as texts), uses
//
//	m, warnings, infos, sharded, err := s.ExecModel(ctx, qs, start, end, step, shards, run)
//	run(ctx, subquery) (model.Matrix, warnings, infos []string, error)
//
// with the same contract; the warnings' positions point into qs. Floats
// cross the API's JSON exactly, native histograms do not (it gives bucket
// bounds, not schemas, spans or custom bounds of empty buckets): when a
// sub-query answers histograms, ExecModel returns sharded false and the
// caller runs the query whole. Sharder.Engine wraps a promql.QueryEngine
// instead, for one process.
//
// # Exactness
//
// The answers equal the unsharded query's exactly for selectors, counts,
// min, max, group, count_values, topk and bottomk (where values tie, topk
// may pick another of the tied series), and within float rounding for sum
// and avg. Known differences, all of them where Prometheus' own answer
// depends on its order of evaluation:
//   - Kahan summation compensates within a shard only: values of vastly
//     different magnitudes that cancel (1e100 + 2 - 1e100) sum to another
//     value when the large ones fall in different shards.
//   - A group that mixes floats and histograms at one step: Prometheus drops
//     it with a warning; sharded, the warning comes, but a shard whose part
//     of the group is not mixed still gives a value.
//   - label_replace and label_join in an aggregation's argument can make
//     two series of different shards equal: unsharded that is an error
//     ("vector cannot contain metrics with the same labelset"), sharded
//     they are aggregated.
//   - histogram_count(sum(...)) does not warn of conflicting counter
//     resets, which only its HistogramStatsIterator makes up.
//
// Annotations keep their text; their positions, which point into the
// sub-query or the outer expression that was evaluated, are moved to the
// query's node that it was printed from. That works for the annotations
// Prometheus' engine returns and for plain errors whose text ends with the
// position, as the query API's warnings do ("... (1:24)").
//
// Imports: none.
package querysharding
