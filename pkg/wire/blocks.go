package wire

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/oklog/ulid/v2"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-io/weft/pkg/protocodec"
)

// BlockReport collects the IDs of the blocks that stores read to answer one
// call (a Select, LabelNames or LabelValues), so that the querier can check
// that every block covering the call's range was read by a store-gateway.
//
// The caller puts an empty report in the call's context (WithBlockReport);
// each store that reads blocks adds their IDs to the report of the context
// it was called with (BlockReportFrom(ctx).Add): a store-gateway in the same
// process directly, a remote one through StoreClient, which decodes them
// from the answer's queried-blocks field. The reports of several stores (a
// fan-out over store-gateways) add up. The report of a Select is complete
// once its series set is exhausted (a remote store sends the IDs in the
// last message of the stream), that of a label call once it has returned.
//
// A BlockReport is safe for concurrent use, and its methods do nothing on a
// nil report: a store need not check whether its caller asked.
type BlockReport struct {
	mu  sync.Mutex
	ids []ulid.ULID // guarded by mu
	// failed is the first failure of a store that the reader tolerated
	// (the block check decides), so that the check can name the cause of
	// the blocks it misses; guarded by mu.
	failed error
}

type blockReportKey struct{}

// WithBlockReport returns a context that carries a new, empty report, and
// the report.
func WithBlockReport(ctx context.Context) (context.Context, *BlockReport) {
	r := &BlockReport{}
	return context.WithValue(ctx, blockReportKey{}, r), r
}

// BlockReportFrom returns the report that ctx carries, nil when it carries
// none.
func BlockReportFrom(ctx context.Context) *BlockReport {
	r, _ := ctx.Value(blockReportKey{}).(*BlockReport)
	return r
}

// Add records that the blocks ids were read. ids is not retained.
func (r *BlockReport) Add(ids ...ulid.ULID) {
	if r == nil || len(ids) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, ids...)
}

// Blocks returns the blocks reported so far, sorted, each once.
func (r *BlockReport) Blocks() []ulid.ULID {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	slices.SortFunc(r.ids, func(a, b ulid.ULID) int { return a.Compare(b) })
	r.ids = slices.Compact(r.ids)
	return slices.Clone(r.ids)
}

// Fail records that a store failed (and was left out of the answer); only
// the first failure is kept.
func (r *BlockReport) Fail(err error) {
	if r == nil || err == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed == nil {
		r.failed = err
	}
}

// Failure returns the first failure recorded by Fail, nil when none.
func (r *BlockReport) Failure() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// Field numbers of the queried blocks in the answers of weft.Store.
const (
	fieldSelectQueriedBlocks protowire.Number = 13 // in a Select stream message
	fieldLabelsQueriedBlocks protowire.Number = 3  // in a LabelsResponse
)

// appendQueriedBlocks appends ids as a repeated bytes field num, each ID as
// its 16 bytes.
func appendQueriedBlocks(b []byte, num protowire.Number, ids []ulid.ULID) []byte {
	for i := range ids {
		b = protocodec.AppendTag(b, num, protowire.BytesType)
		b = protocodec.AppendBytes(b, ids[i][:])
	}
	return b
}

// decodeQueriedBlock decodes one element of a queried-blocks field.
func decodeQueriedBlock(b []byte) (ulid.ULID, error) {
	var id ulid.ULID
	if len(b) != len(id) {
		return id, fmt.Errorf("queried block ID of %d bytes, want %d", len(b), len(id))
	}
	copy(id[:], b)
	return id, nil
}

// fieldStore is the field of every weft.Store request that names the store
// to read (StoreIngester, StoreGateway).
const fieldStore protowire.Number = 13

// appendStoreName appends the name of the store a request asks; an empty
// name is left out.
func appendStoreName(b []byte, name string) []byte {
	if name == "" {
		return b
	}
	b = protocodec.AppendTag(b, fieldStore, protowire.BytesType)
	return protocodec.AppendString(b, name)
}

// storeNameOf returns the store a request names, "" when it names none.
func storeNameOf(b []byte) (string, error) {
	var name string
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", protowire.ParseError(n)
		}
		b = b[n:]
		if num == fieldStore && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return "", protowire.ParseError(n)
			}
			name, b = string(v), b[n:]
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return "", protowire.ParseError(n)
		}
		b = b[n:]
	}
	return name, nil
}

// BlockHolder is a store that keeps blocks on local disk (an ingester) and
// can say which it holds for a tenant: a querier reads from the bucket the
// recent blocks that no live ingester holds.
type BlockHolder interface {
	HeldBlocks(ctx context.Context, tenant string) ([]ulid.ULID, error)
}

// HeldBlocksRequest = {13: store, 15: tenant}; its answer is
// {1: repeated block (16-byte ULID)}.
func appendHeldBlocksRequest(b []byte, tenant string) []byte {
	return protocodec.AppendStringField(b, fieldTenant, tenant)
}

func decodeHeldBlocksRequest(b []byte) (tenant string, err error) {
	var f protocodec.Field
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return "", err
		}
		if f.Num == fieldTenant {
			tenant = string(f.B)
		}
	}
	return tenant, nil
}
