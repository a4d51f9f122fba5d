package alertmanager

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/cluster"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-io/weft/pkg/protocodec"
)

// Keys of the replicated states of a tenant's Alertmanager, as the
// upstream cluster names them.
const (
	keyNotificationLog = "nfl"
	keySilences        = "sil"
)

// statePart is one piece of replicated state: a whole state (a snapshot)
// or an update, both merged the same way.
type statePart struct {
	key  string
	data []byte
}

// stateMsg is the message of the replication service and of the state
// file in the bucket: field 1 the tenant, fields 2 the parts (each with
// field 1 the key and field 2 the data).
type stateMsg struct {
	tenant string
	parts  []statePart
}

func (m *stateMsg) marshal() []byte {
	b := protocodec.AppendStringField(nil, 1, m.tenant)
	for _, p := range m.parts {
		var start int
		b, start = protocodec.BeginMessage(b, 2)
		b = protocodec.AppendStringField(b, 1, p.key)
		b = protocodec.AppendTag(b, 2, protowire.BytesType)
		b = protocodec.AppendBytes(b, p.data)
		b = protocodec.EndMessage(b, start)
	}
	return b
}

func (m *stateMsg) unmarshal(b []byte) error {
	*m = stateMsg{}
	var f protocodec.Field
	for len(b) > 0 {
		var err error
		if b, err = protocodec.NextField(b, &f); err != nil || !f.IsBytes() {
			return fmt.Errorf("cannot decode the state message: bad field (%v)", err)
		}
		switch f.Num {
		case 1:
			m.tenant = string(f.B)
		case 2:
			p, err := unmarshalStatePart(f.B)
			if err != nil {
				return err
			}
			m.parts = append(m.parts, p)
		}
	}
	return nil
}

func unmarshalStatePart(b []byte) (statePart, error) {
	var (
		p statePart
		f protocodec.Field
	)
	for len(b) > 0 {
		var err error
		if b, err = protocodec.NextField(b, &f); err != nil || !f.IsBytes() {
			return p, fmt.Errorf("cannot decode a state part: bad field (%v)", err)
		}
		switch f.Num {
		case 1:
			p.key = string(f.B)
		case 2:
			p.data = slices.Clone(f.B)
		}
	}
	return p, nil
}

// transport carries state between the replicas of a tenant (gRPC between
// processes; direct calls in tests).
type transport interface {
	// update sends one part of tenant's state to the replica at addr.
	update(ctx context.Context, addr, tenantID string, p statePart) error
	// readState returns the whole state of tenant's Alertmanager on the
	// replica at addr.
	readState(ctx context.Context, addr, tenantID string) ([]statePart, error)
	// forward has the replica at addr serve an API request of tenant.
	forward(ctx context.Context, addr, tenantID string, req *httpMsg) (*httpMsg, error)
}

// httpMsg is an API request forwarded to another replica (method, path
// under Prefix, query, content type, body), or its answer (status, content
// type, body).
type httpMsg struct {
	method, path, query, contentType string
	status                           int
	body                             []byte
}

func (m *httpMsg) marshal(tenantID string) []byte {
	var b []byte
	for i, s := range []string{tenantID, m.method, m.path, m.query, m.contentType} {
		b = protocodec.AppendStringField(b, protowire.Number(i+1), s)
	}
	b = protocodec.AppendVarintField(b, 6, uint64(m.status))
	b = protocodec.AppendTag(b, 7, protowire.BytesType)
	return protocodec.AppendBytes(b, m.body)
}

func (m *httpMsg) unmarshal(b []byte) (tenantID string, err error) {
	*m = httpMsg{}
	var f protocodec.Field
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return "", fmt.Errorf("cannot decode the request: %w", err)
		}
		if f.Num == 6 && f.IsVarint() {
			m.status = int(f.U)
			continue
		}
		if !f.IsBytes() {
			continue
		}
		switch f.Num {
		case 1:
			tenantID = string(f.B)
		case 2:
			m.method = string(f.B)
		case 3:
			m.path = string(f.B)
		case 4:
			m.query = string(f.B)
		case 5:
			m.contentType = string(f.B)
		case 7:
			m.body = slices.Clone(f.B)
		}
	}
	return tenantID, nil
}

// write writes the answer m to w.
func (m *httpMsg) write(w http.ResponseWriter) {
	if m.contentType != "" {
		w.Header().Set("Content-Type", m.contentType)
	}
	w.WriteHeader(m.status)
	_, _ = w.Write(m.body)
}

// replicaSet returns the addresses of the replicas that run a tenant, in
// ring order, and the index of this replica among them (-1: not one).
type replicaSet func() (addrs []string, self int, err error)

// replication is one tenant's share of the cluster of Alertmanagers: it
// sends the updates of the notification log and the silences to the
// tenant's other replicas, gets their state when it starts, and tells the
// notification pipeline its position. It implements the upstream
// cluster.ClusterPeer (for the status API) and notify.Peer, so that the
// library's pipeline and API work as they do over gossip.
type replication struct {
	tenant   string
	self     string
	replicas replicaSet
	tr       transport
	logger   *slog.Logger
	metrics  *metrics

	states map[string]cluster.State // set before start, read-only after
	queue  chan statePart
	ready  chan struct{}
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	// started is set by start; close waits for the sender only then.
	started bool
}

func newReplication(tenantID, self string, replicas replicaSet, tr transport, m *metrics, logger *slog.Logger) *replication {
	return &replication{
		tenant: tenantID, self: self, replicas: replicas, tr: tr, logger: logger, metrics: m,
		states: map[string]cluster.State{},
		queue:  make(chan statePart, 4096),
		ready:  make(chan struct{}),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
}

// addState registers a state before start and returns the channel its
// updates are broadcast on.
func (r *replication) addState(key string, s cluster.State) cluster.ClusterChannel {
	r.states[key] = s
	return channel{key: key, r: r}
}

// channel broadcasts the updates of one state.
type channel struct {
	key string
	r   *replication
}

// Broadcast queues b for the other replicas. The states call it under
// their locks, so it never blocks: when the queue is full the update is
// dropped (and counted); the next full sync of a starting replica, or the
// delay of the replicas after the first, covers it.
func (c channel) Broadcast(b []byte) {
	select {
	case c.r.queue <- statePart{key: c.key, data: b}:
	default:
		c.r.metrics.replicationDropped.Inc()
	}
}

// start gets the state of the other replicas in the background, then
// sends updates until stop.
func (r *replication) start(settleTimeout time.Duration) {
	r.started = true
	go func() {
		defer close(r.done)
		r.settle(settleTimeout)
		for {
			select {
			case <-r.stop:
				return
			case p := <-r.queue:
				r.send(p)
			}
		}
	}()
}

// settle merges the state of every other replica that answers within
// timeout; the pipeline notifies only after it, so that a replica that
// starts does not send again what the others sent.
func (r *replication) settle(timeout time.Duration) {
	defer close(r.ready)
	addrs, self, err := r.replicas()
	if err != nil {
		r.logger.Warn("cannot list the replicas to settle with", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, addr := range addrs {
		if i == self {
			continue
		}
		wg.Go(func() {
			parts, err := r.tr.readState(ctx, addr, r.tenant)
			if err != nil {
				r.logger.Debug("cannot read the state of a replica", "replica", addr, "err", err)
				return
			}
			r.merge(parts)
		})
	}
	wg.Wait()
}

// merge merges parts into the states; unknown keys are ignored.
func (r *replication) merge(parts []statePart) {
	for _, p := range parts {
		s, ok := r.states[p.key]
		if !ok {
			continue
		}
		if err := s.Merge(p.data); err != nil {
			r.logger.Warn("cannot merge replicated state", "key", p.key, "err", err)
		}
	}
}

// send sends p to every other replica, each within a short timeout: an
// unreachable replica must not hold the others' updates back.
func (r *replication) send(p statePart) {
	addrs, self, err := r.replicas()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i, addr := range addrs {
		if i == self {
			continue
		}
		wg.Go(func() {
			if err := r.tr.update(ctx, addr, r.tenant, p); err != nil {
				r.metrics.replicationFailed.Inc()
				r.logger.Debug("cannot send state to a replica", "replica", addr, "err", err)
				return
			}
			r.metrics.replicationSent.Inc()
		})
	}
	wg.Wait()
}

// close stops sending; updates still queued are dropped (the other
// replicas have them from the notifications they made themselves, or get
// them from the bucket).
func (r *replication) close() {
	r.once.Do(func() { close(r.stop) })
	if r.started {
		<-r.done
	}
}

// Position is this replica's index among the tenant's replicas: the
// pipeline waits Position times the peer timeout before it notifies.
func (r *replication) Position() int {
	_, self, err := r.replicas()
	if err != nil || self < 0 {
		return 0
	}
	return self
}

// WaitReady returns once the state of the other replicas was merged.
func (r *replication) WaitReady(ctx context.Context) error {
	select {
	case <-r.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Name implements cluster.ClusterPeer.
func (r *replication) Name() string { return r.self }

// Status implements cluster.ClusterPeer.
func (r *replication) Status() string {
	select {
	case <-r.ready:
		return "ready"
	default:
		return "settling"
	}
}

// Peers implements cluster.ClusterPeer: the tenant's replicas.
func (r *replication) Peers() []cluster.ClusterMember {
	addrs, _, _ := r.replicas()
	out := make([]cluster.ClusterMember, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, member(a))
	}
	return out
}

// member is a replica as the status API shows it.
type member string

func (m member) Name() string    { return string(m) }
func (m member) Address() string { return string(m) }
