package ring

import (
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	dsring "github.com/grafana/dskit/ring"
)

// RingStatus is the JSON view of a ring's status page.
type RingStatus struct {
	Now       time.Time        `json:"now"`
	Instances []InstanceStatus `json:"instances"`
}

// InstanceStatus is one instance of RingStatus.
type InstanceStatus struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Zone    string `json:"zone"`
	// State is the instance's own state: PENDING, JOINING, ACTIVE, LEAVING.
	State string `json:"state"`
	// Healthy is false when the last heartbeat is older than the heartbeat
	// timeout (the HTML page shows such instances as UNHEALTHY).
	Healthy             bool      `json:"healthy"`
	HeartbeatTimestamp  time.Time `json:"heartbeat_timestamp"`
	HeartbeatAgeSeconds float64   `json:"heartbeat_age_seconds"`
	RegisteredTimestamp time.Time `json:"registered_timestamp"`
	Tokens              int       `json:"tokens"`
	// OwnedPercent is the share of the token space this instance owns as
	// primary replica, 0-100. With zones it is the share within the
	// instance's zone: the instances of each zone sum to 100.
	OwnedPercent float64 `json:"owned_percent"`
}

// ServeHTTP serves the ring's status page, e.g. at /ring: dskit's HTML page
// for people (with a Forget button, which POSTs here and removes an instance
// from the ring); with ?format=json or Accept: application/json, a
// RingStatus for tools.
func (r *Ring) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead || !wantsJSON(req) {
		r.Ring.ServeHTTP(w, req)
		return
	}
	v, err := r.KVClient.Get(req.Context(), r.key)
	if err != nil {
		http.Error(w, "cannot read the ring: "+err.Error(), http.StatusInternalServerError)
		return
	}
	st := RingStatus{Now: time.Now().UTC(), Instances: []InstanceStatus{}}
	if desc, ok := v.(*dsring.Desc); ok && desc != nil {
		st.Instances = instanceStatuses(desc, r.heartbeatTimeout, st.Now)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

func wantsJSON(req *http.Request) bool {
	return req.URL.Query().Get("format") == "json" || strings.Contains(req.Header.Get("Accept"), "application/json")
}

func instanceStatuses(desc *dsring.Desc, heartbeatTimeout time.Duration, now time.Time) []InstanceStatus {
	owned := desc.CountTokens()
	out := make([]InstanceStatus, 0, len(desc.Ingesters))
	for id, inst := range desc.Ingesters {
		hb := time.Unix(inst.Timestamp, 0).UTC()
		s := InstanceStatus{
			ID:                  id,
			Address:             inst.Addr,
			Zone:                inst.Zone,
			State:               inst.State.String(),
			Healthy:             inst.IsHeartbeatHealthy(heartbeatTimeout, now),
			HeartbeatTimestamp:  hb,
			HeartbeatAgeSeconds: math.Max(0, now.Sub(hb).Seconds()),
			Tokens:              len(inst.Tokens),
			OwnedPercent:        float64(owned[id]) / float64(math.MaxUint32) * 100,
		}
		if t := inst.GetRegisteredAt(); !t.IsZero() {
			s.RegisteredTimestamp = t.UTC()
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
