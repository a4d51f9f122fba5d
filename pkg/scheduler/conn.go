package scheduler

import (
	"context"
	"io"
	"sync"
)

// schedulerConn is the scheduler's end of a querier worker's stream.
type schedulerConn interface {
	Send(*frame) error
	Recv() (*frame, error)
}

// querierConn is the worker's end of its stream to a scheduler. Close
// ends the stream; the worker calls it when it is done with it.
type querierConn interface {
	Send(*frame) error
	// Recv returns io.EOF when the scheduler ended the stream.
	Recv() (*frame, error)
	Close()
}

// pipe joins a worker and a scheduler of the same process: the frames
// pass as they are, with no encoding and no gRPC.
type pipe struct {
	toQuerier   chan *frame
	toScheduler chan *frame
	done        chan struct{} // closed when either end leaves
	once        sync.Once
}

func (p *pipe) close() { p.once.Do(func() { close(p.done) }) }

type pipeSchedulerEnd struct{ *pipe }

func (p pipeSchedulerEnd) Send(f *frame) error {
	select {
	case p.toQuerier <- f:
		return nil
	case <-p.done:
		return io.ErrClosedPipe
	}
}

func (p pipeSchedulerEnd) Recv() (*frame, error) {
	select {
	case f := <-p.toScheduler:
		return f, nil
	case <-p.done:
		return nil, io.EOF
	}
}

type pipeQuerierEnd struct{ *pipe }

func (p pipeQuerierEnd) Send(f *frame) error {
	select {
	case p.toScheduler <- f:
		return nil
	case <-p.done:
		return io.ErrClosedPipe
	}
}

func (p pipeQuerierEnd) Recv() (*frame, error) {
	select {
	case f := <-p.toQuerier:
		return f, nil
	case <-p.done:
		return nil, io.EOF
	}
}

func (p pipeQuerierEnd) Close() { p.close() }

// connectLocal opens a worker's stream to s in the same process.
func (s *Scheduler) connectLocal(context.Context) querierConn {
	p := &pipe{toQuerier: make(chan *frame), toScheduler: make(chan *frame), done: make(chan struct{})}
	go func() {
		defer p.close()
		if err := s.serve(context.Background(), pipeSchedulerEnd{p}); err != nil {
			s.logger.Debug("a querier worker's stream ended", "err", err)
		}
	}()
	return pipeQuerierEnd{p}
}
