package xzio

import (
	"context"
	"sync"
)

// inOrder runs the jobs next makes (in order, until it returns false) on
// workers goroutines at once, and hands each to emit, in the order made,
// once done. Each job gets a buffer that work may grow and returns; the
// buffers go round producer → worker → emitter → producer, so that no more
// than workers+1 jobs, and buffers, are ever held. newWork makes one
// worker's work function, which may keep scratch space of its own. A job
// records its own errors for emit to see. After emit fails or ctx ends,
// no more jobs are made and inOrder returns the error once its goroutines
// are done.
func inOrder[J any](ctx context.Context, workers int, next func() (J, bool), newWork func() func(J, []byte) []byte, emit func(J, []byte) error) error {
	type item struct {
		job  J
		buf  []byte
		done chan struct{}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan *item)
	order := make(chan *item, workers+1)
	free := make(chan []byte, workers+1)
	for range workers + 1 {
		free <- nil
	}
	var wg sync.WaitGroup
	for range workers {
		work := newWork()
		wg.Go(func() {
			for it := range jobs {
				it.buf = work(it.job, it.buf)
				close(it.done)
			}
		})
	}
	wg.Go(func() {
		defer close(order)
		defer close(jobs)
		for {
			job, ok := next()
			if !ok {
				return
			}
			it := &item{job: job, done: make(chan struct{})}
			select {
			case it.buf = <-free:
			case <-ctx.Done():
				return
			}
			select {
			case order <- it:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- it:
			case <-ctx.Done():
				return
			}
		}
	})
	err := func() error {
		for it := range order {
			select {
			case <-it.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if err := emit(it.job, it.buf); err != nil {
				return err
			}
			free <- it.buf
		}
		return ctx.Err()
	}()
	cancel()
	for range order {
	}
	wg.Wait()
	return err
}
