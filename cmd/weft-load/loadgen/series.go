package loadgen

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/prometheus/prometheus/model/labels"
)

// LabelsPerSeries is the number of labels (including __name__) of every series of a
// SeriesSet.
const LabelsPerSeries = 10

// metricKind says how a template's values evolve over rounds.
type metricKind uint8

const (
	kindCounter metricKind = iota
	kindGauge
	kindHistBucket // cumulative bucket of the per-instance histogram
	kindHistCount
	kindHistSum
)

// Common label positions in instance.vals; the order is the label names' sort order.
const (
	cCluster = iota
	cEnv
	cInstance
	cJob
	cNamespace
	cPod
	cRegion
	numCommon
)

var commonNames = [numCommon]string{"cluster", "env", "instance", "job", "namespace", "pod", "region"}

// slot is one label of a template, in sorted label-name order. Either static (the
// value is the template's) or common (the value is the instance's commonNames[common]).
type slot struct {
	name     string
	nameSym  uint32
	value    string // static only
	valueSym uint32 // static only
	common   int    // -1 for static
}

// template is one series of a node: the metric name, its two dimension labels and
// how its values behave. Every instance has the same list of templates.
type template struct {
	name   string
	kind   metricKind
	scale  float64 // counter: mean increase per round; gauge: mean level
	amp    float64 // gauge: relative amplitude of the wave (0 = constant)
	quant  float64 // values are multiples of quant (0 = not quantized)
	cdf    float64 // histogram bucket: fraction of observations <= le
	isCntr bool    // the metric type is counter (for v2 metadata)
	slots  [LabelsPerSeries]slot
	// frags[k] is the remote-write 1.0 encoding of slot k as a TimeSeries.labels field
	// when the slot is static; nil for common slots (see instance.frags).
	frags [LabelsPerSeries][]byte
	// fragsLen is the total length of the static fragments.
	fragsLen int
}

// instance holds the per-node common label values, interned, with their symbols.
type instance struct {
	vals  [numCommon]string
	syms  [numCommon]uint32
	frags [numCommon][]byte // remote-write 1.0 TimeSeries.labels field encodings
	// fragsLen is the total length of frags.
	fragsLen int
}

// SeriesSet is a deterministic set of node-exporter-like series. Series i belongs to
// node i/TemplatesPerInstance and is that node's template i%TemplatesPerInstance.
// A SeriesSet is immutable after NewSeriesSet and safe for concurrent use.
type SeriesSet struct {
	n         int
	templates []template
	instances []instance
	symbols   []string // global symbol table; symbols[0] == ""
}

// TemplatesPerInstance is the number of series each simulated node exposes.
var TemplatesPerInstance = len(buildTemplates(nil))

// NewSeriesSet returns the first n series of the deterministic series universe.
// Building costs O(n/TemplatesPerInstance); labels are produced on demand.
func NewSeriesSet(n int) *SeriesSet {
	if n < 0 {
		n = 0
	}
	s := &SeriesSet{n: n}
	syms := map[string]uint32{}
	intern := func(str string) uint32 {
		if id, ok := syms[str]; ok {
			return id
		}
		id := uint32(len(s.symbols))
		syms[str] = id
		s.symbols = append(s.symbols, str)
		return id
	}
	intern("")
	s.templates = buildTemplates(intern)
	p := len(s.templates)
	numInst := (n + p - 1) / p
	s.instances = make([]instance, numInst)
	for k := range s.instances {
		in := &s.instances[k]
		in.vals = instanceValues(k)
		for c := range in.vals {
			in.syms[c] = intern(in.vals[c])
			in.frags[c] = appendLabelField(nil, commonNames[c], in.vals[c])
			in.fragsLen += len(in.frags[c])
		}
	}
	return s
}

var (
	jobs       = []string{"node", "node-exporter", "kubernetes-nodes", "infra-nodes", "edge-nodes"}
	regions    = []string{"us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1", "ap-northeast-1"}
	envs       = []string{"prod", "staging", "dev"}
	namespaces = []string{"monitoring", "kube-system", "observability", "infra"}
)

// nodesPerCluster is how many nodes share a cluster label.
const nodesPerCluster = 100

func instanceValues(k int) [numCommon]string {
	var v [numCommon]string
	cl := k / nodesPerCluster
	v[cCluster] = "cluster-" + strconv.Itoa(cl)
	v[cEnv] = envs[(cl/len(regions))%len(envs)]
	v[cInstance] = "host-" + strconv.Itoa(k) + ":9100"
	v[cJob] = jobs[k%len(jobs)]
	v[cNamespace] = namespaces[k%len(namespaces)]
	v[cPod] = "node-exporter-" + strconv.FormatUint(mix(uint64(k)+0x9e37)%(36*36*36*36*36), 36)
	v[cRegion] = regions[cl%len(regions)]
	return v
}

// InstanceName returns the instance label of node k, as used by the series of that
// node (for example to write queries that filter on an existing instance).
func InstanceName(k int) string { return "host-" + strconv.Itoa(k) + ":9100" }

// buildTemplates returns the per-node series list. intern may be nil (only the length
// is wanted then).
func buildTemplates(intern func(string) uint32) []template {
	if intern == nil {
		intern = func(string) uint32 { return 0 }
	}
	var ts []template
	add := func(name string, kind metricKind, scale, amp, quant float64, d1, v1, d2, v2 string) {
		t := template{name: name, kind: kind, scale: scale, amp: amp, quant: quant, isCntr: kind == kindCounter}
		type kv struct{ n, v string }
		static := []kv{{"__name__", name}, {d1, v1}, {d2, v2}}
		var all []slot
		for _, st := range static {
			all = append(all, slot{name: st.n, nameSym: intern(st.n), value: st.v, valueSym: intern(st.v), common: -1})
		}
		for c, cn := range commonNames {
			all = append(all, slot{name: cn, nameSym: intern(cn), common: c})
		}
		sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
		copy(t.slots[:], all)
		for k, sl := range t.slots {
			if sl.common < 0 {
				t.frags[k] = appendLabelField(nil, sl.name, sl.value)
				t.fragsLen += len(t.frags[k])
			}
		}
		ts = append(ts, t)
	}
	const c = "container"
	const ne = "node-exporter"
	// CPU: 2 cpus x 4 modes, guest time, frequency.
	for _, cpu := range []string{"0", "1"} {
		for _, mode := range []string{"idle", "user", "system", "iowait"} {
			sc := map[string]float64{"idle": 13, "user": 1.5, "system": 0.4, "iowait": 0.1}[mode]
			add("node_cpu_seconds_total", kindCounter, sc, 0, 0.01, "cpu", cpu, "mode", mode)
		}
		for _, mode := range []string{"user", "nice"} {
			add("node_cpu_guest_seconds_total", kindCounter, 0.05, 0, 0.01, "cpu", cpu, "mode", mode)
		}
		add("node_cpu_scaling_frequency_hertz", kindGauge, 2.4e9, 0.3, 1e6, "cpu", cpu, c, ne)
	}
	// Memory.
	for _, m := range []struct {
		n      string
		scale  float64
		amp    float64
		isCntr bool
	}{
		{"MemTotal", 16 << 30, 0, false}, {"MemFree", 2 << 30, 0.3, false}, {"MemAvailable", 8 << 30, 0.2, false},
		{"Buffers", 512 << 20, 0.1, false}, {"Cached", 6 << 30, 0.1, false}, {"SwapTotal", 2 << 30, 0, false},
		{"SwapFree", 1900 << 20, 0.01, false}, {"Active", 7 << 30, 0.1, false}, {"Inactive", 4 << 30, 0.1, false},
		{"Dirty", 8 << 20, 0.8, false}, {"Slab", 700 << 20, 0.05, false}, {"Shmem", 300 << 20, 0.05, false},
	} {
		add("node_memory_"+m.n+"_bytes", kindGauge, m.scale, m.amp, 4096, c, ne, "service", ne)
	}
	// Load.
	add("node_load1", kindGauge, 1.2, 0.8, 0.01, c, ne, "service", ne)
	add("node_load5", kindGauge, 1.1, 0.5, 0.01, c, ne, "service", ne)
	add("node_load15", kindGauge, 1.0, 0.3, 0.01, c, ne, "service", ne)
	// Network: 2 devices.
	for _, dev := range []string{"eth0", "eth1"} {
		for _, m := range []struct {
			n     string
			scale float64
		}{
			{"receive_bytes", 15e6}, {"transmit_bytes", 9e6}, {"receive_packets", 12e3}, {"transmit_packets", 9e3},
			{"receive_errs", 0.02}, {"transmit_errs", 0.01}, {"receive_drop", 0.1}, {"transmit_drop", 0.05},
		} {
			add("node_network_"+m.n+"_total", kindCounter, m.scale, 0, 1, c, ne, "device", dev)
		}
	}
	// Disk: 2 devices.
	for _, dev := range []string{"sda", "nvme0n1"} {
		for _, m := range []struct {
			n     string
			scale float64
			quant float64
		}{
			{"reads_completed_total", 150, 1}, {"writes_completed_total", 400, 1}, {"read_bytes_total", 6e6, 512},
			{"written_bytes_total", 14e6, 512}, {"io_time_seconds_total", 1.2, 0.001}, {"read_time_seconds_total", 0.3, 0.001},
			{"write_time_seconds_total", 0.9, 0.001},
		} {
			add("node_disk_"+m.n, kindCounter, m.scale, 0, m.quant, c, ne, "device", dev)
		}
	}
	// Filesystems: 2 mounts.
	for _, fs := range []struct{ dev, mp string }{{"/dev/sda1", "/"}, {"/dev/nvme0n1p1", "/var/lib"}} {
		add("node_filesystem_avail_bytes", kindGauge, 40<<30, 0.05, 4096, "device", fs.dev, "mountpoint", fs.mp)
		add("node_filesystem_size_bytes", kindGauge, 100<<30, 0, 4096, "device", fs.dev, "mountpoint", fs.mp)
		add("node_filesystem_free_bytes", kindGauge, 45<<30, 0.05, 4096, "device", fs.dev, "mountpoint", fs.mp)
		add("node_filesystem_files", kindGauge, 6.5e6, 0, 1, "device", fs.dev, "mountpoint", fs.mp)
		add("node_filesystem_files_free", kindGauge, 5.9e6, 0.01, 1, "device", fs.dev, "mountpoint", fs.mp)
	}
	// Miscellaneous.
	for _, m := range []struct {
		n     string
		kind  metricKind
		scale float64
		amp   float64
		quant float64
	}{
		{"node_context_switches_total", kindCounter, 60e3, 0, 1},
		{"node_intr_total", kindCounter, 40e3, 0, 1},
		{"node_forks_total", kindCounter, 150, 0, 1},
		{"node_vmstat_pgfault", kindCounter, 90e3, 0, 1},
		{"node_vmstat_pgmajfault", kindCounter, 2, 0, 1},
		{"node_procs_running", kindGauge, 3, 0.9, 1},
		{"node_procs_blocked", kindGauge, 1, 0.9, 1},
		{"node_boot_time_seconds", kindGauge, 1.7e9, 0, 1},
		{"node_entropy_available_bits", kindGauge, 3500, 0.1, 1},
		{"node_filefd_allocated", kindGauge, 9000, 0.1, 1},
		{"node_sockstat_TCP_inuse", kindGauge, 120, 0.3, 1},
		{"node_netstat_Tcp_CurrEstab", kindGauge, 80, 0.3, 1},
		{"node_timex_offset_seconds", kindGauge, 0.0005, 0.9, 1e-6},
	} {
		add(m.n, m.kind, m.scale, m.amp, m.quant, c, ne, "service", ne)
	}
	// A classic histogram: cumulative buckets, _sum and _count.
	const h = "http_request_duration_seconds"
	for _, b := range []struct {
		le  string
		cdf float64
	}{{"0.005", 0.12}, {"0.01", 0.3}, {"0.05", 0.7}, {"0.1", 0.85}, {"0.5", 0.96}, {"1", 0.985}, {"5", 0.998}, {"+Inf", 1}} {
		add(h+"_bucket", kindHistBucket, 0, 0, 1, "handler", "/metrics", "le", b.le)
		ts[len(ts)-1].cdf = b.cdf
		ts[len(ts)-1].isCntr = true
	}
	add(h+"_sum", kindHistSum, 0, 0, 0.001, c, ne, "handler", "/metrics")
	ts[len(ts)-1].isCntr = true
	add(h+"_count", kindHistCount, 0, 0, 1, c, ne, "handler", "/metrics")
	ts[len(ts)-1].isCntr = true
	return ts
}

// Len returns the number of series.
func (s *SeriesSet) Len() int { return s.n }

// Instances returns the number of simulated nodes (distinct instance labels).
func (s *SeriesSet) Instances() int { return len(s.instances) }

// MetricNames returns the distinct metric names, in template order.
func (s *SeriesSet) MetricNames() []string {
	var names []string
	seen := map[string]bool{}
	for _, t := range s.templates {
		if !seen[t.name] {
			seen[t.name] = true
			names = append(names, t.name)
		}
	}
	return names
}

// AppendLabels appends the sorted labels of series i to dst as (name, value) pairs
// and returns it. The strings are shared with the SeriesSet and must not be modified.
func (s *SeriesSet) AppendLabels(dst []labels.Label, i int) []labels.Label {
	t := &s.templates[i%len(s.templates)]
	in := &s.instances[i/len(s.templates)]
	for k := range t.slots {
		sl := &t.slots[k]
		v := sl.value
		if sl.common >= 0 {
			v = in.vals[sl.common]
		}
		dst = append(dst, labels.Label{Name: sl.name, Value: v})
	}
	return dst
}

// Labels returns the labels of series i. It allocates; hot paths use a Builder.
func (s *SeriesSet) Labels(i int) labels.Labels {
	return labels.New(s.AppendLabels(make([]labels.Label, 0, LabelsPerSeries), i)...)
}

// IsCounter reports whether series i is a counter (monotonic within a run).
func (s *SeriesSet) IsCounter(i int) bool { return s.templates[i%len(s.templates)].isCntr }

// Value returns the sample value of series i in the given round (round >= 0). It is a
// pure function: counters are non-decreasing in round, gauges wander around a level
// specific to the series, histogram buckets are cumulative over le.
func (s *SeriesSet) Value(i, round int) float64 {
	p := len(s.templates)
	t := &s.templates[i%p]
	r := float64(round)
	h := mix(uint64(i) + 0x51ed27)
	var v float64
	switch t.kind {
	case kindCounter:
		incr := t.scale * (0.5 + unit(h))
		base := t.scale * 1000 * unit(h>>17)
		// The jitter is in [0, incr/2), so consecutive values differ by >= incr/2.
		v = base + incr*(r+0.5*unit(mix(h^uint64(round))))
	case kindGauge:
		level := t.scale * (0.75 + 0.5*unit(h))
		if t.amp != 0 {
			phase := unit(h>>11) * 2 * math.Pi
			noise := unit(mix(h^uint64(round))) - 0.5
			v = level * (1 + t.amp*(0.8*math.Sin(r*0.07+phase)+0.2*noise))
			if v < 0 {
				v = 0
			}
		} else {
			v = level
		}
	case kindHistBucket, kindHistCount, kindHistSum:
		// All series of one node's histogram share the observation count of a round,
		// so buckets are cumulative and consistent with _count.
		inst := uint64(i / p)
		hi := mix(inst + 0xb0c7e7)
		perRound := 20 + 40*unit(hi)
		count := perRound * (1000*unit(hi>>9) + r + 0.5*unit(mix(hi^uint64(round))))
		switch t.kind {
		case kindHistBucket:
			v = math.Floor(count * t.cdf)
		case kindHistCount:
			v = math.Floor(count)
		default:
			v = count * 0.042
		}
	}
	if t.quant > 0 {
		v = math.Floor(v/t.quant) * t.quant
	}
	return v
}

// Describe returns a one-line summary of the set, for logs.
func (s *SeriesSet) Describe() string {
	return fmt.Sprintf("%d series, %d nodes x %d series, %d metric names, %d labels per series",
		s.n, len(s.instances), len(s.templates), len(s.MetricNames()), LabelsPerSeries)
}

// mix is splitmix64's finalizer: a cheap, well-distributed 64-bit hash.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }
