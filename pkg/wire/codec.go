package wire

import (
	"fmt"
	"sync"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// codecName is the gRPC content-subtype of weft's messages: calls carry
// "content-type: application/grpc+weft".
const codecName = "weft"

// The server looks a call's codec up by its content-subtype, so the codec is
// registered once here; it is stateless. Clients force it per call.
func init() { encoding.RegisterCodecV2(codec{}) }

// codec passes bytes that the messages encoded themselves (with protowire)
// through gRPC: Marshal hands an *outMsg's buffer to gRPC without copying,
// Unmarshal copies the received bytes into an *inMsg once. It refuses any
// other type, so a service that uses it cannot be called with proto messages
// by mistake.
type codec struct{}

func (codec) Name() string { return codecName }

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*outMsg)
	if !ok || m.b == nil {
		return nil, fmt.Errorf("cannot marshal %T with the weft codec", v)
	}
	b := m.b
	m.b = nil // gRPC owns the buffer now and returns it to bufPool when written
	return mem.BufferSlice{mem.NewBuffer(b, &bufPool)}, nil
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*inMsg)
	if !ok {
		return fmt.Errorf("cannot unmarshal into %T with the weft codec", v)
	}
	n := data.Len()
	if cap(m.b) < n {
		m.b = make([]byte, n)
	}
	m.b = m.b[:n]
	data.CopyTo(m.b)
	return nil
}

// outMsg is an encoded message to send. Its buffer comes from bufPool and
// belongs to gRPC once the message is sent.
type outMsg struct{ b *[]byte }

func newOutMsg() *outMsg { return &outMsg{b: bufPool.get()} }

// inMsg is a received message: the encoded bytes, owned by the receiver.
type inMsg struct{ b []byte }

// maxPooledBuf is the largest buffer kept for reuse: a select batch, with
// room for its last series.
const maxPooledBuf = 4 << 20

// bufPool recycles encode buffers; it is a mem.BufferPool so that gRPC
// returns each buffer when it has written the bytes.
var bufPool buffers

type buffers struct{ p sync.Pool }

func (p *buffers) get() *[]byte {
	if b, ok := p.p.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, 4096)
	return &b
}

// Get implements mem.BufferPool.
func (p *buffers) Get(length int) *[]byte {
	b := p.get()
	if cap(*b) < length {
		*b = make([]byte, length)
	}
	*b = (*b)[:length]
	return b
}

// Put implements mem.BufferPool.
func (p *buffers) Put(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	p.p.Put(b)
}
