package loadtester

import (
	"context"
	"errors"
	"sync"
)

// Errors of start and acquire.
var (
	errBusy   = errors.New("too many load and command tasks running")
	errClosed = errors.New("the load tester is shutting down")
)

// background owns the tasks that outlive the webhook call that started them. A canary's tasks
// all belong to one revision: a call with a new checksum cancels the old revision's tasks,
// and a call repeating a running task (same metadata, same checksum) leaves it alone.
// It also counts blocking runs, so that one limit covers every generator.
type background struct {
	mu      sync.Mutex
	base    context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	limit   int
	active  int
	closed  bool
	canary  map[string]*revisionTasks
	onCount func(running int)
}

type revisionTasks struct {
	checksum string
	tasks    map[string]*bgTask
}

type bgTask struct {
	cancel context.CancelFunc
}

func newBackground(limit int, onCount func(int)) *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{base: ctx, cancel: cancel, limit: limit, canary: map[string]*revisionTasks{}, onCount: onCount}
}

// startResult says what start did.
type startResult struct {
	Started  bool `json:"started"`
	Replaced int  `json:"replaced"`
}

// start runs fn in the background for canary at revision checksum, identified by taskID,
// unless the same task is already running for that revision.
func (b *background) start(canary, checksum, taskID string, fn func(ctx context.Context)) (startResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var res startResult
	rt := b.canary[canary]
	if rt != nil && rt.checksum != checksum {
		res.Replaced = b.stopLocked(canary)
		rt = nil
	}
	if rt != nil && rt.tasks[taskID] != nil {
		return res, nil
	}
	if b.closed {
		return res, errClosed
	}
	if b.active >= b.limit {
		return res, errBusy
	}
	if rt == nil {
		rt = &revisionTasks{checksum: checksum, tasks: map[string]*bgTask{}}
		b.canary[canary] = rt
	}
	ctx, cancel := context.WithCancel(b.base)
	t := &bgTask{cancel: cancel}
	rt.tasks[taskID] = t
	b.addLocked(1)
	b.wg.Go(func() {
		defer cancel()
		fn(ctx)
		b.mu.Lock()
		defer b.mu.Unlock()
		if cur := b.canary[canary]; cur != nil && cur.tasks[taskID] == t {
			delete(cur.tasks, taskID)
			if len(cur.tasks) == 0 {
				delete(b.canary, canary)
			}
		}
		b.addLocked(-1)
	})
	res.Started = true
	return res, nil
}

// stop cancels every background task of canary and returns how many there were.
func (b *background) stop(canary string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopLocked(canary)
}

func (b *background) stopLocked(canary string) int {
	rt := b.canary[canary]
	if rt == nil {
		return 0
	}
	for _, t := range rt.tasks {
		t.cancel()
	}
	delete(b.canary, canary)
	return len(rt.tasks)
}

// running returns the checksum and number of tasks running for canary.
func (b *background) running(canary string) (checksum string, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if rt := b.canary[canary]; rt != nil {
		return rt.checksum, len(rt.tasks)
	}
	return "", 0
}

// acquire reserves a slot for a blocking run; release gives it back.
func (b *background) acquire() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.active >= b.limit {
		return errBusy
	}
	b.active++
	return nil
}

func (b *background) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active--
}

// addLocked counts background tasks (the gauge shows background tasks only).
func (b *background) addLocked(d int) {
	b.active += d
	if b.onCount != nil {
		n := 0
		for _, rt := range b.canary {
			n += len(rt.tasks)
		}
		b.onCount(n)
	}
}

// close cancels every task and waits for them to return.
func (b *background) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
}
