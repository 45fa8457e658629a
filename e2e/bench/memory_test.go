package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Each kind keeps its own highest value: the anonymous peak and the file-backed peak may come
// at different moments, and neither is the other's.
func TestResidentPeaksKeepEachKindsHighest(t *testing.T) {
	r := &residentPeaks{}
	r.observe("Name:\tsiskin\nVmRSS:\t  150000 kB\nRssAnon:\t   90112 kB\nRssFile:\t   40960 kB\n")
	r.observe("Name:\tsiskin\nVmRSS:\t  150000 kB\nRssAnon:\t   51200 kB\nRssFile:\t   61440 kB\n")
	if anon, file := r.peaks(); anon != 88 || file != 60 {
		t.Errorf("peaks = %v / %v MB, want 88 / 60", anon, file)
	}
	var none *residentPeaks
	if anon, file := none.peaks(); anon != 0 || file != 0 {
		t.Errorf("peaks of no process = %v / %v, want 0 / 0", anon, file)
	}
}

// watchResident reads a live process: this test's own, which has both kinds of pages.
func TestWatchResidentSamplesALiveProcess(t *testing.T) {
	done := make(chan struct{})
	r := watchResident(os.Getpid(), done)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if anon, file := r.peaks(); anon > 0 && file > 0 {
			break
		}
		if time.Now().After(deadline) {
			anon, file := r.peaks()
			t.Fatalf("no sample within 10s: %v / %v MB", anon, file)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(done)
}

// The copy is the same bytes, executable, at a new path; copying again replaces it.
func TestStageBinaryCopiesTheExecutable(t *testing.T) {
	src := filepath.Join(t.TempDir(), "ctl")
	body := bytes.Repeat([]byte("siskin"), 400_000) // more than one copy buffer
	if err := os.WriteFile(src, body, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "bin")
	for range 2 {
		dst, err := stageBinary(src, dir)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(dst)
		if err != nil || !bytes.Equal(got, body) || dst != filepath.Join(dir, "ctl") {
			t.Fatalf("copy %s: %d bytes, err %v; want %d bytes at %s", dst, len(got), err, len(body), filepath.Join(dir, "ctl"))
		}
		if fi, _ := os.Stat(dst); fi.Mode().Perm()&0o100 == 0 {
			t.Errorf("copy mode %v, want executable", fi.Mode())
		}
	}
	if _, err := stageBinary(filepath.Join(t.TempDir(), "missing"), dir); err == nil {
		t.Error("copying a missing binary succeeded")
	}
}
