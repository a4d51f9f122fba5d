package alertmanager

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The replication messages decode to what was encoded, empty fields
// included, and a truncated message is an error, not a partial state.
func TestStateMessagesRoundTrip(t *testing.T) {
	m := stateMsg{tenant: "team-a", parts: []statePart{{key: keyNotificationLog, data: []byte{1, 2, 3}}, {key: keySilences}}}
	b := m.marshal()
	var got stateMsg
	require.NoError(t, got.unmarshal(b))
	require.Equal(t, m.tenant, got.tenant)
	require.Len(t, got.parts, 2)
	require.Equal(t, m.parts[0], got.parts[0])
	require.Equal(t, keySilences, got.parts[1].key)
	require.Empty(t, got.parts[1].data)
	require.Error(t, got.unmarshal(b[:len(b)-1]))

	h := httpMsg{method: "POST", path: "/api/v2/alerts", query: "a=b", contentType: "application/json", status: 202, body: []byte(`[]`)}
	var gh httpMsg
	tenantID, err := gh.unmarshal(h.marshal("team-b"))
	require.NoError(t, err)
	require.Equal(t, "team-b", tenantID)
	require.Equal(t, h, gh)
}
