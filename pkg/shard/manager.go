package shard

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection"
)

// Defaults of the Lease timings, client-go's and the manager's single Lease's.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// Options configure a Manager.
type Options struct {
	// Shards is the number of shards, at least 2.
	Shards int
	// Preferred is the shard this replica contends for at once; -1 for none.
	Preferred int
	// Namespace and ID name the Leases: <ID>-shard-<i> in Namespace.
	Namespace, ID string
	// Identity is this replica's holderIdentity in the Leases; unique per process.
	Identity string
	// Leases reads and writes the Leases, straight from the API server.
	Leases coordinationv1client.LeasesGetter
	// LeaseDuration, RenewDeadline and RetryPeriod are the timings of each shard's election,
	// as in client-go's leader election; zero means the defaults (15s, 10s, 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Registerer receives siskin_shards_held and siskin_shard_transitions_total; nil registers
	// nothing.
	Registerer prometheus.Registerer
	// Logger logs each acquisition and loss of a shard.
	Logger logr.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Manager runs one election per shard and keeps the tenures of the shards this replica holds.
// It is a controller-runtime Runnable that runs on every replica.
type Manager struct {
	o     Options
	slots []*slot

	mu        sync.Mutex
	listeners []func(ctx context.Context, shard int)
	started   bool

	held        prometheus.Gauge
	transitions *prometheus.CounterVec
}

// New checks the options and builds a Manager; Start runs it.
func New(o Options) (*Manager, error) {
	if o.Shards < 2 {
		return nil, fmt.Errorf("shards: %d shards is not sharding: use 2 or more", o.Shards)
	}
	if o.Preferred < -1 || o.Preferred >= o.Shards {
		return nil, fmt.Errorf("shards: preferred shard %d is not one of 0 to %d", o.Preferred, o.Shards-1)
	}
	if o.Namespace == "" || o.ID == "" || o.Identity == "" {
		return nil, errors.New("shards: the Leases need a namespace, an id and this replica's identity")
	}
	if o.Leases == nil {
		return nil, errors.New("shards: no Lease client")
	}
	if o.LeaseDuration == 0 {
		o.LeaseDuration = DefaultLeaseDuration
	}
	if o.RenewDeadline == 0 {
		o.RenewDeadline = DefaultRenewDeadline
	}
	if o.RetryPeriod == 0 {
		o.RetryPeriod = DefaultRetryPeriod
	}
	if o.RenewDeadline >= o.LeaseDuration {
		return nil, fmt.Errorf("shards: renew deadline %s must be shorter than the lease duration %s, or a replica could act on a shard already taken over", o.RenewDeadline, o.LeaseDuration)
	}
	if float64(o.RenewDeadline) <= leaderelection.JitterFactor*float64(o.RetryPeriod) {
		return nil, fmt.Errorf("shards: renew deadline %s must be longer than %v times the retry period %s", o.RenewDeadline, leaderelection.JitterFactor, o.RetryPeriod)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Manager{
		o: o,
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "siskin_shards_held", Help: "Shards whose Lease this replica holds.",
		}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siskin_shard_transitions_total", Help: "Shards acquired and lost by this replica, by shard and event (acquired, lost).",
		}, []string{"shard", "event"}),
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{m.held, m.transitions} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("shards: register metrics: %w", err)
			}
		}
	}
	for i := range o.Shards {
		m.slots = append(m.slots, &slot{index: i, lease: LeaseName(o.ID, i), preferred: i == o.Preferred})
	}
	return m, nil
}

// Shards is the number of shards.
func (m *Manager) Shards() int { return m.o.Shards }

// Of is the shard of an object among the manager's shards (see Of).
func (m *Manager) Of(namespace, name string, labels map[string]string) (int, error) {
	return Of(namespace, name, labels, m.o.Shards)
}

// OnAcquired registers f, called with the shard's tenure as context each time a tenure of
// this replica starts: when it acquires a shard, and when a renewal comes after the renew
// deadline of the last one (work refused in between is f's to bring back). Call it before
// Start.
func (m *Manager) OnAcquired(f func(ctx context.Context, shard int)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.listeners = append(m.listeners, f)
}

// NeedLeaderElection is false: every replica runs its elections.
func (m *Manager) NeedLeaderElection() bool { return false }

// Holds reports whether this replica holds shard i now: it wrote the shard's Lease less than
// the renew deadline ago. A shard out of range is never held.
func (m *Manager) Holds(i int) bool {
	if i < 0 || i >= len(m.slots) {
		return false
	}
	return m.slots[i].valid(m.o.Now(), m.o.RenewDeadline)
}

// Held lists the shards this replica holds now.
func (m *Manager) Held() []int {
	var out []int
	for i := range m.slots {
		if m.Holds(i) {
			out = append(out, i)
		}
	}
	return out
}

// Enter starts work on shard i. It reports false when this replica does not hold the shard
// (or is handing it over). Otherwise the context it returns is cancelled when the tenure ends,
// and the shard's Lease is not released before done is called.
func (m *Manager) Enter(ctx context.Context, i int) (context.Context, func(), bool) {
	if i < 0 || i >= len(m.slots) {
		return ctx, func() {}, false
	}
	s := m.slots[i]
	if !s.work.TryRLock() {
		return ctx, func() {}, false
	}
	tenure, ok := s.current(m.o.Now(), m.o.RenewDeadline)
	if !ok {
		s.work.RUnlock()
		return ctx, func() {}, false
	}
	inner, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(tenure, cancel)
	return inner, func() {
		stop()
		cancel()
		s.work.RUnlock()
	}, true
}

// Start runs the elections until ctx ends, then hands over the Leases it holds.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return errors.New("shards: manager already started")
	}
	m.started = true
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range m.slots {
		wg.Go(func() { m.elect(ctx, s) })
	}
	wg.Wait()
	return nil
}

// elect runs the election of one shard again and again: a lost or handed-over Lease is
// contended for again.
func (m *Manager) elect(ctx context.Context, s *slot) {
	var wait time.Duration
	if !s.preferred {
		// The replicas that prefer the shard get it first when they all start together.
		wait = m.o.LeaseDuration
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		run, stop := context.WithCancel(ctx)
		s.setStop(stop)
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            &lock{m: m, s: s, leases: m.o.Leases.Leases(m.o.Namespace)},
			LeaseDuration:   m.o.LeaseDuration,
			RenewDeadline:   m.o.RenewDeadline,
			RetryPeriod:     m.o.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            s.lease,
			Callbacks: leaderelection.LeaderCallbacks{
				// Tenures start in renewed: a tenure can end at its renew deadline and start
				// again with a late renewal while client-go's elector still leads.
				OnStartedLeading: func(context.Context) {},
				OnStoppedLeading: func() { m.endTenure(s, "lease not renewed") },
			},
		})
		if err != nil {
			// New checked the timings; nothing else fails here.
			m.o.Logger.Error(err, "cannot run the election of a shard", "shard", s.index)
			stop()
			return
		}
		le.Run(run)
		stop()
		wait = m.o.RetryPeriod
		if s.takeHandOver() {
			// The replica that prefers the shard claimed it: leave it the Lease.
			wait = m.o.LeaseDuration
		}
	}
}

// acquired tells the listeners about a tenure that started: the work on the shard that was
// dropped while this replica did not hold it is theirs to bring back.
func (m *Manager) acquired(tenure context.Context, s *slot) {
	m.mu.Lock()
	listeners := append([]func(context.Context, int){}, m.listeners...)
	m.mu.Unlock()
	for _, f := range listeners {
		f(tenure, s.index)
	}
}

// renewed records a write of the shard's Lease by this replica that was sent at sent.
func (m *Manager) renewed(s *slot, sent time.Time) {
	if !m.o.Now().Before(sent.Add(m.o.RenewDeadline)) {
		return // too late to count: the tenure it would extend may already be over
	}
	tenure, first := s.renew(sent)
	if !first {
		return
	}
	m.held.Inc()
	m.transitions.WithLabelValues(strconv.Itoa(s.index), "acquired").Inc()
	m.o.Logger.Info("shard acquired", "shard", s.index, "lease", s.lease, "held", len(m.Held()))
	go m.watch(tenure, s)
	go m.acquired(tenure, s)
}

// watch ends a tenure when its renew deadline passes without a renewal.
func (m *Manager) watch(tenure context.Context, s *slot) {
	for {
		deadline, ok := s.deadline(m.o.RenewDeadline)
		if !ok {
			return
		}
		left := deadline.Sub(m.o.Now())
		if left <= 0 {
			m.endTenure(s, "renew deadline passed")
			return
		}
		t := time.NewTimer(left)
		select {
		case <-tenure.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// endTenure ends this replica's tenure of a shard, if it has one.
func (m *Manager) endTenure(s *slot, reason string) {
	if !s.end() {
		return
	}
	m.held.Dec()
	m.transitions.WithLabelValues(strconv.Itoa(s.index), "lost").Inc()
	m.o.Logger.Info("shard lost", "shard", s.index, "lease", s.lease, "reason", reason, "held", len(m.Held()))
}

// release ends the tenure of a shard whose Lease is about to be released, and waits until the
// work entered under it has returned.
func (m *Manager) release(s *slot) {
	m.endTenure(s, "handed over")
	s.work.Lock()
	defer s.work.Unlock()
}

// handOver stops the election of a shard held for a replica that prefers it.
func (m *Manager) handOver(s *slot, claimant string) {
	if s.requestHandOver() {
		m.o.Logger.Info("handing a shard over to the replica that prefers it", "shard", s.index, "lease", s.lease, "claimant", claimant)
	}
}

// slot is one shard's election state on this replica.
type slot struct {
	index     int
	lease     string
	preferred bool

	// work is read-held by the work entered on the shard and write-held while its Lease is
	// released.
	work sync.RWMutex

	mu       sync.Mutex
	held     bool
	sent     time.Time // when the last write of the Lease by this replica was sent
	tenure   context.Context
	cancel   context.CancelFunc
	stop     context.CancelFunc // stops the election that runs
	handOver bool               // the election was stopped for a claimant
}

func (s *slot) valid(now time.Time, renewDeadline time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held && now.Before(s.sent.Add(renewDeadline))
}

// current is the tenure, while the shard is held.
func (s *slot) current(now time.Time, renewDeadline time.Duration) (context.Context, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.held || !now.Before(s.sent.Add(renewDeadline)) {
		return nil, false
	}
	return s.tenure, true
}

func (s *slot) deadline(renewDeadline time.Duration) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent.Add(renewDeadline), s.held
}

// renew records a write sent at sent; first is true when it starts a tenure.
func (s *slot) renew(sent time.Time) (tenure context.Context, first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sent.After(s.sent) {
		s.sent = sent
	}
	if s.held {
		return s.tenure, false
	}
	s.held = true
	s.tenure, s.cancel = context.WithCancel(context.Background())
	return s.tenure, true
}

// end ends the tenure; it reports whether there was one.
func (s *slot) end() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.held {
		return false
	}
	s.held = false
	s.cancel()
	return true
}

func (s *slot) setStop(stop context.CancelFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stop, s.handOver = stop, false
}

// requestHandOver stops the election; it reports whether it was running.
func (s *slot) requestHandOver() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handOver || s.stop == nil {
		return false
	}
	s.handOver = true
	s.stop()
	return true
}

func (s *slot) takeHandOver() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.handOver
	s.handOver = false
	return h
}
