package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// stageBinary copies a controller's executable into dir and returns the copy's path, so that
// every controller runs from a file written the same ordinary way, as a container runtime
// unpacks an image. The file a linker has just written can sit in the page cache in 2 MB
// pieces, which the kernel then maps whole into the process: a freshly built bin/siskin
// started with about 20 MB more file-backed memory (FilePmdMapped in /proc/<pid>/smaps_rollup)
// than a copy of it, an artifact of the build and not of the controller.
func stageBinary(bin, dir string) (string, error) {
	in, err := os.Open(bin)
	if err != nil {
		return "", err
	}
	defer func() { _ = in.Close() }()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, filepath.Base(bin))
	// A new inode each time: a running copy is never written under it.
	_ = os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		return "", err
	}
	buf := make([]byte, 1<<20)
	for {
		n, rerr := in.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				_ = out.Close()
				return "", werr
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			_ = out.Close()
			return "", rerr
		}
	}
	return dst, out.Close()
}
