package ingester

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/wire"
)

func TestMetadataLogReplaysWhatWasWrittenWithoutAClose(t *testing.T) {
	dir := t.TempDir()
	s, err := openMetadataStore(dir)
	require.NoError(t, err)
	require.NoError(t, s.set([]wire.Metadata{
		{MetricFamily: "b_total", Type: "counter", Help: "B."},
		{MetricFamily: "a", Type: "gauge", Help: "A.", Unit: "seconds"},
	}))
	require.NoError(t, s.set([]wire.Metadata{{MetricFamily: "b_total", Type: "counter", Help: "B, changed."}}))
	// No close: as after a kill -9, the log holds what each set wrote.
	r, err := openMetadataStore(dir)
	require.NoError(t, err)
	defer r.close()
	require.Equal(t, []wire.Metadata{
		{MetricFamily: "a", Type: "gauge", Help: "A.", Unit: "seconds"},
		{MetricFamily: "b_total", Type: "counter", Help: "B, changed."},
	}, r.get("", 0))
	require.NoError(t, s.close())
	require.NoError(t, s.close(), "close is safe twice")
}

func TestMetadataLogDropsATornLastLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, metadataLogName)
	require.NoError(t, os.WriteFile(p, []byte(`{"metric":"a","type":"gauge"}`+"\n"+`{"metric":"b","ty`), 0o644))
	s, err := openMetadataStore(dir)
	require.NoError(t, err)
	require.NoError(t, s.set([]wire.Metadata{{MetricFamily: "c", Type: "counter"}}))
	require.NoError(t, s.close())
	s, err = openMetadataStore(dir)
	require.NoError(t, err)
	defer s.close()
	require.Equal(t, []wire.Metadata{{MetricFamily: "a", Type: "gauge"}, {MetricFamily: "c", Type: "counter"}}, s.get("", 0))
}

func TestMetadataLogWritesOnlyChangesAndIsRewrittenWhenMostlySuperseded(t *testing.T) {
	dir := t.TempDir()
	s, err := openMetadataStore(dir)
	require.NoError(t, err)
	defer s.close()
	md := []wire.Metadata{{MetricFamily: "a", Type: "gauge"}}
	for range 10 {
		require.NoError(t, s.set(md))
	}
	b, err := os.ReadFile(filepath.Join(dir, metadataLogName))
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(string(b), "\n"), "an unchanged family is not written again")

	for i := range 3 * metadataLogSlack {
		require.NoError(t, s.set([]wire.Metadata{{MetricFamily: "a", Type: "gauge", Help: fmt.Sprint(i)}}))
	}
	b, err = os.ReadFile(filepath.Join(dir, metadataLogName))
	require.NoError(t, err)
	require.LessOrEqual(t, strings.Count(string(b), "\n"), metadataLogSlack+3)
	r, err := openMetadataStore(dir)
	require.NoError(t, err)
	defer r.close()
	require.Equal(t, []wire.Metadata{{MetricFamily: "a", Type: "gauge", Help: fmt.Sprint(3*metadataLogSlack - 1)}}, r.get("a", 0))
}

func TestIngesterMetadataSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	ing := startIngester(t, testConfig(t, dir), testOverrides(t), nil)
	// A metadata-only push, as remote write 1.0 sends it.
	_, err := ing.Push(context.Background(), "t1", &wire.PushRequest{Metadata: []wire.Metadata{{MetricFamily: "up", Type: "gauge", Help: "Up."}}})
	require.NoError(t, err)
	require.NoError(t, stopIngester(ing))

	ing = startIngester(t, testConfig(t, dir), testOverrides(t), nil)
	md, err := ing.Metadata(context.Background(), "t1", "", 0)
	require.NoError(t, err)
	require.Equal(t, []wire.Metadata{{MetricFamily: "up", Type: "gauge", Help: "Up."}}, md)
}
