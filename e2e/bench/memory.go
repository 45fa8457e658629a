package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// memoryEvery is how often a controller's resident memory is read by kind.
const memoryEvery = 500 * time.Millisecond

// residentPeaks follows a process's resident memory by kind and keeps the highest of each.
// VmHWM, the kernel's peak, sums two kinds that say different things: anonymous memory (the
// heap, goroutine stacks, the runtime's own structures) is what a controller's work and fleet
// make grow; file-backed memory is mostly the pages of the executable itself, mapped from its
// file as code runs (the kernel maps a page's neighbours with it), present from the start and
// given back under memory pressure. The kernel keeps no peak of either kind, so both are
// sampled.
type residentPeaks struct {
	mu             sync.Mutex
	anonKB, fileKB int64
}

// watchResident samples the process pid every memoryEvery until done is closed.
func watchResident(pid int, done <-chan struct{}) *residentPeaks {
	r := &residentPeaks{}
	go func() {
		tick := time.NewTicker(memoryEvery)
		defer tick.Stop()
		for {
			r.sample(pid)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return r
}

func (r *residentPeaks) sample(pid int) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return // the process has ended
	}
	r.observe(string(status))
}

// observe takes the RssAnon and RssFile of a /proc/<pid>/status text.
func (r *residentPeaks) observe(status string) {
	anon, file := parseStatusKB(status, "RssAnon:"), parseStatusKB(status, "RssFile:")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.anonKB, r.fileKB = max(r.anonKB, anon), max(r.fileKB, file)
}

// peaks returns the highest anonymous and file-backed resident memory seen, in MB.
func (r *residentPeaks) peaks() (anonMB, fileMB float64) {
	if r == nil {
		return 0, 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return mb(r.anonKB), mb(r.fileKB)
}
