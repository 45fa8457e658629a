package shard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	rl "k8s.io/client-go/tools/leaderelection/resourcelock"
)

// ClaimAnnotation on a shard's Lease names the replica that prefers the shard and waits for
// it, and when it last said so: "<identity> <RFC 3339 time>".
const ClaimAnnotation = "siskin.dev/shard-claim"

// lock is the resource lock of one shard's election: a coordination Lease, read and written
// as client-go's Lease lock does, that also keeps the shard's tenure (a successful write of
// ours renews it; a release first ends it and waits for the shard's work) and the claims of
// the replica that prefers the shard.
type lock struct {
	m      *Manager
	s      *slot
	leases coordinationv1client.LeaseInterface
	lease  *coordinationv1.Lease
}

var _ rl.Interface = (*lock)(nil)

// Get reads the Lease, and claims it or hands it over as the shard's preference says.
func (l *lock) Get(ctx context.Context) (*rl.LeaderElectionRecord, []byte, error) {
	lease, err := l.leases.Get(ctx, l.s.lease, metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	l.lease = lease
	rec := rl.LeaseSpecToLeaderElectionRecord(&lease.Spec)
	raw, err := json.Marshal(rec)
	if err != nil {
		return nil, nil, err
	}
	l.weigh(ctx, lease)
	return rec, raw, nil
}

// weigh acts on the preference for the shard: the replica that prefers it claims a Lease
// another holds, and a holder that does not prefer it hands it over to a fresh claim.
func (l *lock) weigh(ctx context.Context, lease *coordinationv1.Lease) {
	holder := ""
	if lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	claimant, at, claimed := parseClaim(lease.Annotations[ClaimAnnotation])
	now := l.m.o.Now()
	fresh := claimed && now.Sub(at) < l.m.o.LeaseDuration
	switch {
	case holder == l.Identity() && !l.s.preferred && fresh && claimant != l.Identity():
		l.m.handOver(l.s, claimant)
	case holder != "" && holder != l.Identity() && l.s.preferred:
		// Refreshed at half the lease duration, so that the claim stays fresh while it waits.
		if claimant == l.Identity() && now.Sub(at) < l.m.o.LeaseDuration/2 {
			return
		}
		body, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"annotations": map[string]string{ClaimAnnotation: l.Identity() + " " + now.UTC().Format(time.RFC3339)},
		}})
		if err != nil {
			return
		}
		if _, err := l.leases.Patch(ctx, l.s.lease, types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
			l.m.o.Logger.V(1).Info("cannot claim the Lease of a preferred shard", "shard", l.s.index, "error", err.Error())
		}
	}
}

// Create creates the Lease with this replica as holder.
func (l *lock) Create(ctx context.Context, rec rl.LeaderElectionRecord) error {
	sent := l.m.o.Now()
	lease, err := l.leases.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: l.s.lease, Namespace: l.m.o.Namespace},
		Spec:       rl.LeaderElectionRecordToLeaseSpec(&rec),
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	l.lease = lease
	if rec.HolderIdentity == l.Identity() {
		l.m.renewed(l.s, sent)
	}
	return nil
}

// Update writes the record into the Lease last read. A record of this replica renews the
// tenure; any other (a release) ends the tenure and waits for the shard's work first.
func (l *lock) Update(ctx context.Context, rec rl.LeaderElectionRecord) error {
	if l.lease == nil {
		return errors.New("lease not read yet")
	}
	ours := rec.HolderIdentity == l.Identity()
	if !ours {
		l.m.release(l.s)
	}
	lease := l.lease.DeepCopy()
	lease.Spec = rl.LeaderElectionRecordToLeaseSpec(&rec)
	if claimant, _, ok := parseClaim(lease.Annotations[ClaimAnnotation]); ok && ours && claimant == l.Identity() {
		delete(lease.Annotations, ClaimAnnotation) // the claim is met
	}
	sent := l.m.o.Now()
	updated, err := l.leases.Update(ctx, lease, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	l.lease = updated
	if ours {
		l.m.renewed(l.s, sent)
	}
	return nil
}

// RecordEvent does nothing: the Manager logs acquisitions and losses itself.
func (l *lock) RecordEvent(string) {}

// Identity is this replica's holderIdentity.
func (l *lock) Identity() string { return l.m.o.Identity }

// Describe names the Lease.
func (l *lock) Describe() string { return fmt.Sprintf("%s/%s", l.m.o.Namespace, l.s.lease) }

// parseClaim reads a claim annotation.
func parseClaim(v string) (claimant string, at time.Time, ok bool) {
	sp := strings.LastIndexByte(v, ' ')
	if sp <= 0 {
		return "", time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339, v[sp+1:])
	if err != nil {
		return "", time.Time{}, false
	}
	return v[:sp], at, true
}
