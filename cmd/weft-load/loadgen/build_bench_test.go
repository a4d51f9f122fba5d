package loadgen

import (
	"fmt"
	"testing"
)

// BenchmarkBuild measures building snappy payloads of 2,000 series (one sample each),
// the default request size. samples/s is per core: the generator must stay far above
// what a server can ingest (> 2M samples/s).
func BenchmarkBuild(b *testing.B) {
	const spr = 2000
	set := NewSeriesSet(100_000)
	for _, p := range []Protocol{ProtocolV1, ProtocolV2} {
		b.Run(fmt.Sprintf("protocol=%s", p), func(b *testing.B) {
			bld := set.NewBuilder()
			b.ReportAllocs()
			var bytes int
			chunks := set.Len() / spr
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				c := n % chunks
				payload, err := bld.Build(p, c*spr, (c+1)*spr, n/chunks, int64(n/chunks)*15000)
				if err != nil {
					b.Fatal(err)
				}
				bytes += len(payload)
			}
			b.ReportMetric(float64(b.N)*spr/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(float64(bytes)/float64(b.N)/spr, "bytes/sample")
		})
	}
}
