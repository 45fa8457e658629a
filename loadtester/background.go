package loadtester

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
)

// Errors of start and acquire.
var (
	errBusy   = errors.New("too many load and command tasks running")
	errClosed = errors.New("the load tester is shutting down")
)

// workersBusyError says that a run's workers do not fit in what is left of the worker budget.
type workersBusyError struct{ want, used, limit int }

func (e *workersBusyError) Error() string {
	return fmt.Sprintf("%d load workers wanted but %d of %d (--max-workers) are in use", e.want, e.used, e.limit)
}

func (e *workersBusyError) Is(target error) bool { return target == errBusy }

// background owns the tasks that outlive the webhook call that started them. A canary's tasks
// all belong to one revision: a call with a new checksum cancels the old revision's tasks,
// and a call repeating a running task (same metadata, same checksum) leaves it alone.
// It also counts blocking runs, so that one limit covers every generator, and the workers of
// every load run, against a second limit. A task that panics is recovered and reported to
// onPanic; the process goes on.
type background struct {
	mu         sync.Mutex
	base       context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	limit      int
	active     int
	maxWorkers int
	workers    int
	closed     bool
	canary     map[string]*revisionTasks
	onCount    func(running int)
	onPanic    func(v any, stack []byte)
}

type revisionTasks struct {
	checksum string
	tasks    map[string]*bgTask
}

type bgTask struct {
	cancel context.CancelFunc
}

func newBackground(limit, maxWorkers int, onCount func(int), onPanic func(any, []byte)) *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{base: ctx, cancel: cancel, limit: limit, maxWorkers: maxWorkers,
		canary: map[string]*revisionTasks{}, onCount: onCount, onPanic: onPanic}
}

// startResult says what start did.
type startResult struct {
	Started  bool `json:"started"`
	Replaced int  `json:"replaced"`
}

// start runs fn in the background for canary at revision checksum, identified by taskID,
// unless the same task is already running for that revision. workers is what the task takes
// from the worker budget (zero for a command).
func (b *background) start(canary, checksum, taskID string, workers int, fn func(ctx context.Context)) (startResult, error) {
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
	if err := b.admitLocked(workers); err != nil {
		return res, err
	}
	if rt == nil {
		rt = &revisionTasks{checksum: checksum, tasks: map[string]*bgTask{}}
		b.canary[canary] = rt
	}
	ctx, cancel := context.WithCancel(b.base)
	t := &bgTask{cancel: cancel}
	rt.tasks[taskID] = t
	b.workers += workers
	b.addLocked(1)
	b.wg.Go(func() {
		defer cancel()
		defer func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if cur := b.canary[canary]; cur != nil && cur.tasks[taskID] == t {
				delete(cur.tasks, taskID)
				if len(cur.tasks) == 0 {
					delete(b.canary, canary)
				}
			}
			b.workers -= workers
			b.addLocked(-1)
		}()
		defer b.recoverTask()
		fn(ctx)
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

// recoverTask is deferred by every background task: a panic is reported, not fatal.
func (b *background) recoverTask() {
	if v := recover(); v != nil && b.onPanic != nil {
		b.onPanic(v, debug.Stack())
	}
}

// admitLocked checks that one more task with workers fits in both limits.
func (b *background) admitLocked(workers int) error {
	if b.active >= b.limit {
		return errBusy
	}
	if b.workers+workers > b.maxWorkers {
		return &workersBusyError{want: workers, used: b.workers, limit: b.maxWorkers}
	}
	return nil
}

// acquire reserves a slot and workers for a blocking run; release gives them back.
func (b *background) acquire(workers int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.admitLocked(workers); err != nil {
		return err
	}
	b.active++
	b.workers += workers
	return nil
}

func (b *background) release(workers int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active--
	b.workers -= workers
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
