// Package deps pins the modules weft builds on while the tree grows.
package deps

import (
	_ "github.com/golang/snappy"
	_ "github.com/grafana/dskit/kv/memberlist"
	_ "github.com/grafana/dskit/ring"
	_ "github.com/grafana/dskit/runtimeconfig"
	_ "github.com/grafana/dskit/services"
	_ "github.com/klauspost/compress/s2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/prometheus/prompb"
	_ "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	_ "github.com/prometheus/prometheus/promql"
	_ "github.com/prometheus/prometheus/promql/promqltest"
	_ "github.com/prometheus/prometheus/tsdb"
	_ "github.com/prometheus/prometheus/web/api/v1"
	_ "github.com/stretchr/testify/require"
	_ "github.com/thanos-io/objstore"
	_ "github.com/thanos-io/objstore/providers/filesystem"
	_ "github.com/thanos-io/objstore/providers/s3"
	_ "go.uber.org/goleak"
	_ "gopkg.in/yaml.v3"
)
