package storegateway

import (
	"fmt"
	"strings"

	"github.com/prometheus/prometheus/tsdb/encoding"
	"github.com/prometheus/prometheus/tsdb/index"
)

// symbolTable is an index's symbol table, decoded once when its header is
// opened. Series entries refer to their label names and values by symbol
// number, and every series a query reads (and every series sharding
// hashes) looks up about 20 of them: Prometheus' index.Symbols keeps the
// position of every 32nd symbol only, so each lookup walks up to 31
// entries of the table and copies the string it finds. Here a lookup is
// two slice reads and a substring of data, with no allocation; the
// strings do not refer to the mmapped header file, so labels built from
// them stay valid after the block is unloaded.
//
// It costs the heap the symbols' own bytes (at most the symbol section of
// the header file, which max-loaded-bytes bounds) and 4 bytes per symbol,
// and is dropped with the block.
type symbolTable struct {
	data string   // the symbols, one after the other
	offs []uint32 // symbol i is data[offs[i]:offs[i+1]]
}

// newSymbolTable decodes the symbol table at offset off of bs, checking
// its CRC32.
func newSymbolTable(bs index.ByteSlice, off int) (*symbolTable, error) {
	d := encoding.NewDecbufAt(bs, off, castagnoli)
	n := d.Be32int()
	if d.Err() != nil {
		return nil, d.Err()
	}
	// The section's length bounds the symbols' total length, and a
	// symbol takes at least one byte: no count beyond it is possible.
	if n > d.Len() {
		return nil, fmt.Errorf("%d symbols in a table of %d bytes", n, d.Len())
	}
	var data strings.Builder
	data.Grow(d.Len())
	t := &symbolTable{offs: make([]uint32, 0, n+1)}
	for range n {
		t.offs = append(t.offs, uint32(data.Len()))
		data.Write(d.UvarintBytes())
	}
	if d.Err() != nil {
		return nil, d.Err()
	}
	t.offs = append(t.offs, uint32(data.Len()))
	t.data = data.String()
	return t, nil
}

// lookup returns symbol o (its number: index formats 2 and 3).
func (t *symbolTable) lookup(o uint32) (string, error) {
	if int(o) >= len(t.offs)-1 {
		return "", fmt.Errorf("unknown symbol %d", o)
	}
	return t.data[t.offs[o]:t.offs[o+1]], nil
}

// len returns the number of symbols.
func (t *symbolTable) len() int { return len(t.offs) - 1 }

// iter returns the symbols in order.
func (t *symbolTable) iter() index.StringIter { return &symbolIter{t: t, i: -1} }

type symbolIter struct {
	t *symbolTable
	i int
}

func (it *symbolIter) Next() bool {
	if it.i+1 >= it.t.len() {
		return false
	}
	it.i++
	return true
}

func (it *symbolIter) At() string {
	s, _ := it.t.lookup(uint32(it.i))
	return s
}

func (it *symbolIter) Err() error { return nil }
