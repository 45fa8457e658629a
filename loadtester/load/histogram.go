package load

import (
	"math"
	"math/bits"
	"time"
)

// The histogram keeps latencies in microseconds in log-linear buckets: values below 2^subBits
// have a bucket each, and every power of two above is split into 2^(subBits-1) buckets, so a
// reported percentile is within 1/128 of the true value while memory stays fixed (about 30 KiB)
// however long a background run lasts.
const (
	subBits    = 7
	subCount   = 1 << subBits
	halfCount  = subCount / 2
	numBuckets = subCount + (64-subBits)*halfCount
)

type histogram struct {
	counts [numBuckets]uint64
	n      uint64
	sum    uint64
	max    uint64
}

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits
	top := v >> uint(shift)
	return subCount + (shift-1)*halfCount + int(top-halfCount)
}

// bucketRange returns the inclusive bounds of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	shift := (i-subCount)/halfCount + 1
	top := uint64((i-subCount)%halfCount + halfCount)
	return top << uint(shift), (top+1)<<uint(shift) - 1
}

func (h *histogram) record(d time.Duration) {
	us := uint64(0)
	if d > 0 {
		us = uint64(d / time.Microsecond)
	}
	h.counts[bucketOf(us)]++
	h.n++
	h.sum += us
	h.max = max(h.max, us)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile (nearest rank) in milliseconds: the midpoint of the bucket
// holding that rank, never above the largest value seen.
func (h *histogram) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			return float64(min(lo+(hi-lo)/2, h.max)) / 1000
		}
	}
	return float64(h.max) / 1000
}

func (h *histogram) meanMs() float64 {
	if h.n == 0 {
		return 0
	}
	return float64(h.sum) / float64(h.n) / 1000
}
