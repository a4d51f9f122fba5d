package wire

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weft-io/weft/pkg/protocodec"
)

// errorTypeURL names the status detail that carries a classified error:
// weft.Error{1: kind, 2: id, 3: msg, 4: partial PushResult}.
const errorTypeURL = "type.googleapis.com/weft.Error"

// codeOf maps an error kind to the gRPC status code the server answers with.
func codeOf(k ErrorKind) codes.Code {
	switch k {
	case KindBadData:
		return codes.InvalidArgument
	case KindLimit:
		return codes.ResourceExhausted
	case KindUnavailable:
		return codes.Unavailable
	}
	return codes.Internal
}

// statusError turns a server-side error into a gRPC status: the code from
// its kind, the message err.Error(), and a weft.Error detail with the kind,
// the ID and message of the first *Error in its chain and the part of a
// push that was stored.
func statusError(err error, partial PushResult) error {
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	kind, id, msg := KindInternal, "", err.Error()
	if we, ok := errors.AsType[*Error](err); ok {
		kind, id, msg = we.Kind, we.ID, we.Msg
	}
	d := protocodec.AppendVarintField(nil, 1, uint64(kind))
	d = protocodec.AppendStringField(d, 2, id)
	d = protocodec.AppendStringField(d, 3, msg)
	if partial != (PushResult{}) {
		var m int
		d, m = protocodec.BeginMessage(d, 4)
		d = appendPushResult(d, partial)
		d = protocodec.EndMessage(d, m)
	}
	p := status.New(codeOf(kind), err.Error()).Proto()
	p.Details = append(p.Details, &anypb.Any{TypeUrl: errorTypeURL, Value: d})
	return status.ErrorProto(p)
}

// remoteError is a classified error whose text differs from its *Error's
// (the server wrapped it): it reads as the server's error and unwraps to
// the *Error so that KindOf and errors.As see it.
type remoteError struct {
	text string
	err  *Error
}

func (e *remoteError) Error() string { return e.text }
func (e *remoteError) Unwrap() error { return e.err }

// rpcError rebuilds the error a server answered with: a *Error (or an error
// that wraps one, with the server's exact text) from a weft.Error detail,
// and the part of a push that was stored. Errors without a detail come from
// gRPC itself: the caller's own context error is returned as is, an
// unreachable server becomes KindUnavailable, anything else stays a gRPC
// status error (KindInternal).
func rpcError(ctx context.Context, target string, err error) (PushResult, error) {
	st, ok := status.FromError(err)
	if !ok {
		return PushResult{}, err
	}
	for _, d := range st.Proto().GetDetails() {
		if d.GetTypeUrl() != errorTypeURL {
			continue
		}
		var (
			we      Error
			partial PushResult
			f       protocodec.Field
			b       = d.GetValue()
			derr    error
		)
		for len(b) > 0 && derr == nil {
			if b, derr = protocodec.NextField(b, &f); derr != nil {
				break
			}
			switch f.Num {
			case 1:
				we.Kind = ErrorKind(f.U)
			case 2:
				we.ID = string(f.B)
			case 3:
				we.Msg = string(f.B)
			case 4:
				partial, derr = decodePushResult(f.B)
			}
		}
		if derr != nil {
			break
		}
		if we.Error() == st.Message() {
			return partial, &we
		}
		return partial, &remoteError{text: st.Message(), err: &we}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return PushResult{}, ctxErr
	}
	if st.Code() == codes.Unavailable {
		return PushResult{}, Errorf(KindUnavailable, "", "%s is unavailable: %s", target, st.Message())
	}
	return PushResult{}, err
}
