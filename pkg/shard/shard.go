package shard

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Label on a Canary names its shard: a number from 0 to the shard count less one.
const Label = "siskin.dev/shard"

// ErrInvalidLabel is wrapped by the error of Of for a label that is not a shard.
var ErrInvalidLabel = errors.New("invalid shard label")

// Of returns the shard, among n, of the object with this namespace, name and labels. With n
// of 0 or 1 everything is shard 0 and the label is not read. A label that does not name one
// of the n shards yields the hashed shard, whose owner reports the error (wrapping
// ErrInvalidLabel): exactly one replica tells the user, none reconciles the object in silence.
func Of(namespace, name string, labels map[string]string, n int) (int, error) {
	if n <= 1 {
		return 0, nil
	}
	hashed := Hash(namespace, name, n)
	v, ok := labels[Label]
	if !ok {
		return hashed, nil
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 || i >= n || strconv.Itoa(i) != v {
		return hashed, fmt.Errorf("%w: %s=%q is not a shard: use a number from 0 to %d, or no label for a shard chosen by name", ErrInvalidLabel, Label, v, n-1)
	}
	return i, nil
}

// Hash is the shard, among n (n > 0), of namespace/name without a label: FNV-1a, stable across
// versions and processes.
func Hash(namespace, name string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(namespace))
	_, _ = h.Write([]byte{'/'})
	_, _ = h.Write([]byte(name))
	return int(h.Sum32() % uint32(n))
}

// LeaseName is the name of the Lease of shard i.
func LeaseName(id string, i int) string {
	return id + "-shard-" + strconv.Itoa(i)
}

// Ordinal is the number at the end of a StatefulSet pod's name (siskin-2 is 2).
func Ordinal(podName string) (int, bool) {
	dash := strings.LastIndexByte(podName, '-')
	if dash < 0 || dash == len(podName)-1 {
		return 0, false
	}
	digits := podName[dash+1:]
	i, err := strconv.Atoi(digits)
	if err != nil || i < 0 || strconv.Itoa(i) != digits {
		return 0, false
	}
	return i, true
}
