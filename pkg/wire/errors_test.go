package wire_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/wire"
)

// Errorf wraps as fmt.Errorf does; the kind is the outer error's.
func TestErrorfWraps(t *testing.T) {
	limit := wire.Errorf(wire.KindLimit, "err-weft-x", "too many")
	err := wire.Errorf(wire.KindUnavailable, "", "cannot read: %w", limit)
	require.Equal(t, "cannot read: too many (err-weft-x)", err.Error())
	require.Equal(t, wire.KindUnavailable, wire.KindOf(err))
	require.Equal(t, wire.KindUnavailable, wire.KindOf(fmt.Errorf("query: %w", err)))
	require.ErrorIs(t, err, limit)
	var inner *wire.Error
	require.ErrorAs(t, errors.Unwrap(err), &inner)
	require.Equal(t, wire.KindLimit, inner.Kind)

	err = wire.Errorf(wire.KindUnavailable, "", "cannot read: %w and %w", context.Canceled, errors.ErrUnsupported)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, errors.ErrUnsupported)

	plain := wire.Errorf(wire.KindBadData, "", "bad %v", context.Canceled)
	require.Equal(t, &wire.Error{Kind: wire.KindBadData, Msg: "bad context canceled"}, plain, "%v does not wrap")
	require.NotErrorIs(t, plain, context.Canceled)
}
