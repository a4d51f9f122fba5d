package storegateway

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/oklog/ulid/v2"

	"github.com/weft-io/weft/pkg/wire"
)

// Sections of a block that can be found corrupt, besides the sections of
// bucket reads (label "section" of weft_storegateway_corrupt_blocks_total).
const (
	sectionTombstones = "tombstones"
)

// corruptError is bytes of a block that do not read back as the TSDB wrote
// them: a meta.json that does not parse, an index too short or failing a
// checksum, a missing chunk segment, a ref past the end of its object. A
// retry reads the same bytes, unlike a failed bucket read, so it is told
// apart from one.
type corruptError struct {
	section string
	err     error
}

func (e *corruptError) Error() string { return e.err.Error() }

func (e *corruptError) Unwrap() error { return e.err }

// corruptf returns a *corruptError of section.
func corruptf(section, format string, args ...any) error {
	return &corruptError{section: section, err: fmt.Errorf(format, args...)}
}

// reportCorrupt turns err into the error a query gets when it is a
// *corruptError: the block is named, the error has the stable ID
// wire.ErrIDCorruptBlock and kind internal (a retry does not help: an
// operator must repair or delete the block), and the corruption is logged
// and counted in weft_storegateway_corrupt_blocks_total. Other errors are
// returned as they are.
func reportCorrupt(m *metrics, logger *slog.Logger, tenant string, id ulid.ULID, during string, err error) error {
	var ce *corruptError
	if !errors.As(err, &ce) {
		return err
	}
	if m != nil {
		m.corruptBlocks.WithLabelValues(ce.section).Inc()
	}
	if logger != nil {
		logger.Error("block is corrupt: queries over it fail until it is repaired or deleted (docs/store-gateway.md)",
			"tenant", tenant, "block", id.String(), "section", ce.section, "during", during, "err", err)
	}
	return wire.Errorf(wire.KindInternal, wire.ErrIDCorruptBlock,
		"block %s of tenant %s is corrupt (%s): %v; it must be repaired or deleted", id, tenant, ce.section, err)
}
