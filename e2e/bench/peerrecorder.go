package main

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func (o peerObs) arrived() time.Time { return o.at }

// startPeerRecorder watches the driver's kind in ns until ctx ends: every change of what the
// bench reads of each object (peerObs), with the time the watch delivered it.
func startPeerRecorder(ctx context.Context, cl *cluster, d *driver, ns string) (*recorder[peerObs], error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(d.gvk)
	return watch(ctx, cl, ns, d.gvk.Kind, u, func(obj any, at time.Time) (string, peerObs, bool) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return "", peerObs{}, false
		}
		o := d.observe(u)
		o.at = at
		return u.GetName(), o, true
	})
}

// weightLateness is, over every history, the lateness of each weight step by the watch's
// arrival times: the gap between two consecutive increases of the canary weight within one
// revision, less the interval. Only increases after t0 and up to end count.
func weightLateness(hist map[string][]peerObs, t0, end time.Time, interval time.Duration) []timedLateness {
	var out []timedLateness
	for _, h := range hist {
		var prev peerObs
		havePrev := false
		weight, applied := int64(0), ""
		for _, o := range h {
			if o.applied != applied {
				weight, applied, havePrev = 0, o.applied, false
			}
			rising := o.state == stateActive && o.weight > weight
			weight = o.weight
			if !rising {
				if o.weight == 0 {
					havePrev = false
				}
				continue
			}
			if havePrev && !o.at.Before(t0) && !o.at.After(end) {
				out = append(out, timedLateness{at: o.at, seconds: (o.at.Sub(prev.at) - interval).Seconds()})
			}
			prev, havePrev = o, true
		}
	}
	return out
}

// peerInFlight counts the objects of hist with a rollout under way at at.
func peerInFlight(hist map[string][]peerObs) func(at time.Time) int {
	return func(at time.Time) int {
		n := 0
		for _, h := range hist {
			if last, ok := lastAt(h, at); ok && last.state == stateActive {
				n++
			}
		}
		return n
	}
}
