package scheduler

import (
	"fmt"
	"net/http"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-io/weft/pkg/protocodec"
	"github.com/weft-io/weft/pkg/wire"
)

// frameKind says what a frame carries.
type frameKind uint64

// Kinds of frames. On a querier worker's stream the scheduler sends
// requests and cancels, the worker a hello, responses and a bye; a
// frontend's Enqueue call sends a request and gets a response or an
// error.
const (
	kindRequest  frameKind = 1 // run req, identified by id
	kindCancel   frameKind = 2 // the client of request id left: stop it
	kindHello    frameKind = 3 // the worker's querier ID, first on its stream
	kindResponse frameKind = 4 // the answer to request id
	kindBye      frameKind = 5 // the worker takes no new request
	kindError    frameKind = 6 // the scheduler could not run the request
)

// frame is one message of the scheduler's gRPC services, and of the
// in-process pipe that stands for them in the all-in-one (where frames
// are passed as they are, never encoded).
type frame struct {
	kind      frameKind
	id        uint64
	querierID string
	req       *Request
	resp      *Response
	err       *wire.Error
}

// Field numbers of a frame's protobuf encoding:
//
//	frame { 1 kind, 2 id, 3 querier_id, 4 tenant, 5 method, 6 url,
//	        7 repeated header {1 name, 2 value}, 8 body, 9 status,
//	        10 queue_time_ns, 11 error_kind, 12 error_id, 13 error_msg }
const (
	fKind protowire.Number = iota + 1
	fID
	fQuerierID
	fTenant
	fMethod
	fURL
	fHeader
	fBody
	fStatus
	fQueueTime
	fErrKind
	fErrID
	fErrMsg
)

func appendHeader(b []byte, h http.Header) []byte {
	var kv []byte
	for name, values := range h {
		for _, v := range values {
			kv = protocodec.AppendStringField(kv[:0], 1, name)
			kv = protocodec.AppendStringField(kv, 2, v)
			b = protocodec.AppendTag(b, fHeader, protowire.BytesType)
			b = protocodec.AppendBytes(b, kv)
		}
	}
	return b
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protocodec.AppendTag(b, num, protowire.BytesType)
	return protocodec.AppendBytes(b, v)
}

// marshal encodes f.
func (f *frame) marshal() []byte {
	var b []byte
	if f.req != nil {
		b = make([]byte, 0, 64+len(f.req.URL)+len(f.req.Body))
	} else if f.resp != nil {
		b = make([]byte, 0, 64+len(f.resp.Body))
	}
	b = protocodec.AppendVarintField(b, fKind, uint64(f.kind))
	b = protocodec.AppendVarintField(b, fID, f.id)
	b = protocodec.AppendStringField(b, fQuerierID, f.querierID)
	if r := f.req; r != nil {
		b = protocodec.AppendStringField(b, fTenant, r.Tenant)
		b = protocodec.AppendStringField(b, fMethod, r.Method)
		b = protocodec.AppendStringField(b, fURL, r.URL)
		b = appendHeader(b, r.Header)
		b = appendBytesField(b, fBody, r.Body)
	}
	if r := f.resp; r != nil {
		b = appendHeader(b, r.Header)
		b = appendBytesField(b, fBody, r.Body)
		b = protocodec.AppendVarintField(b, fStatus, uint64(r.Status))
		b = protocodec.AppendVarintField(b, fQueueTime, uint64(r.QueueTime))
	}
	if e := f.err; e != nil {
		b = protocodec.AppendVarintField(b, fErrKind, uint64(e.Kind))
		b = protocodec.AppendStringField(b, fErrID, e.ID)
		b = protocodec.AppendStringField(b, fErrMsg, e.Msg)
	}
	return b
}

// unmarshal decodes b into f; the request or response it carries follows
// from its kind. The body aliases b.
func (f *frame) unmarshal(b []byte) error {
	*f = frame{}
	var (
		fld                 protocodec.Field
		header              = http.Header{}
		body                []byte
		err                 error
		tenant, method, url string
		status              int
		queueTime           time.Duration
		errKind             wire.ErrorKind
		errID, errMsg       string
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &fld); err != nil {
			return fmt.Errorf("cannot decode a query-scheduler frame: %w", err)
		}
		switch fld.Num {
		case fKind:
			f.kind = frameKind(fld.U)
		case fID:
			f.id = fld.U
		case fQuerierID:
			f.querierID = string(fld.B)
		case fTenant:
			tenant = string(fld.B)
		case fMethod:
			method = string(fld.B)
		case fURL:
			url = string(fld.B)
		case fHeader:
			var name, value string
			kv := fld.B
			var h protocodec.Field
			for len(kv) > 0 {
				if kv, err = protocodec.NextField(kv, &h); err != nil {
					return fmt.Errorf("cannot decode a header of a query-scheduler frame: %w", err)
				}
				switch h.Num {
				case 1:
					name = string(h.B)
				case 2:
					value = string(h.B)
				}
			}
			header[name] = append(header[name], value)
		case fBody:
			body = fld.B // b is the receiver's own: alias it
		case fStatus:
			status = int(fld.U)
		case fQueueTime:
			queueTime = time.Duration(fld.U)
		case fErrKind:
			errKind = wire.ErrorKind(fld.U)
		case fErrID:
			errID = string(fld.B)
		case fErrMsg:
			errMsg = string(fld.B)
		}
	}
	switch f.kind {
	case kindRequest:
		f.req = &Request{Tenant: tenant, Method: method, URL: url, Header: header, Body: body}
	case kindResponse:
		f.resp = &Response{Status: status, Header: header, Body: body, QueueTime: queueTime}
	case kindError:
		f.err = &wire.Error{Kind: errKind, ID: errID, Msg: errMsg}
	}
	return nil
}
