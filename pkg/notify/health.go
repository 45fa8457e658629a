package notify

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Health is how the deliveries to one alert provider went since the controller started. Its
// LastError holds no secret and no time, so it can be a condition message as it is.
type Health struct {
	// Type is the provider's type, or "unknown" when the AlertProvider could not be read.
	Type string
	// LastError says why the last message was not delivered; empty when it was.
	LastError string
	// ConsecutiveFailures counts the messages not delivered since the last one that was.
	ConsecutiveFailures int
	// Delivered, Failed and Dropped count messages: sent, given up or refused, and dropped from
	// the provider's full queue.
	Delivered, Failed, Dropped int64
	// LastSuccess and LastFailure are when a message was last delivered and last given up.
	LastSuccess, LastFailure time.Time
}

// Failing reports whether the last message for the provider was not delivered.
func (h Health) Failing() bool { return h.LastError != "" }

// Health returns the health of the AlertProvider namespace/name (or of GlobalSlack,
// GlobalMSTeams); false when no message has been sent to it since the controller started.
func (d *Dispatcher) Health(provider types.NamespacedName) (Health, bool) {
	d.mu.Lock()
	l, ok := d.lanes[provider]
	d.mu.Unlock()
	if !ok {
		return Health{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.health, true
}

// Failing returns the AlertProviders whose last message was not delivered, with the reason.
// The global senders, which have no object to report on, are not included.
func (d *Dispatcher) Failing() map[types.NamespacedName]string {
	d.mu.Lock()
	lanes := make([]*lane, 0, len(d.lanes))
	for _, l := range d.lanes {
		lanes = append(lanes, l)
	}
	d.mu.Unlock()
	out := map[types.NamespacedName]string{}
	for _, l := range lanes {
		if l.key.Namespace == "" {
			continue
		}
		l.mu.Lock()
		if l.health.Failing() {
			out[l.key] = l.health.LastError
		}
		l.mu.Unlock()
	}
	return out
}
