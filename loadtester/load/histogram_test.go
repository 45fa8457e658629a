package load

import (
	"math"
	"testing"
	"time"
)

func TestBucketsRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 123456, 1 << 40, math.MaxUint64} {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of range", v, i)
		}
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Errorf("value %d in bucket %d with range [%d, %d]", v, i, lo, hi)
		}
		if v >= subCount && float64(hi-lo) > float64(lo)/64 {
			t.Errorf("bucket %d [%d, %d] wider than 1/64 of its lower bound", i, lo, hi)
		}
	}
}

func TestQuantilesOfUniformLatencies(t *testing.T) {
	var h histogram
	for ms := 1; ms <= 1000; ms++ {
		h.record(time.Duration(ms) * time.Millisecond)
	}
	for _, c := range []struct {
		q, want float64
	}{{0.5, 500}, {0.9, 900}, {0.99, 990}, {1, 1000}} {
		got := h.quantile(c.q)
		if math.Abs(got-c.want)/c.want > 0.01 {
			t.Errorf("quantile(%g) = %gms, want %gms within 1%%", c.q, got, c.want)
		}
	}
	if got := h.meanMs(); math.Abs(got-500.5) > 0.01 {
		t.Errorf("mean = %gms, want 500.5ms", got)
	}
}

func TestEmptyHistogramIsZero(t *testing.T) {
	var h histogram
	if h.quantile(0.99) != 0 || h.meanMs() != 0 {
		t.Fatal("empty histogram reports non-zero latency")
	}
}
