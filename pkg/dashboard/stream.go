package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// stream is the Server-Sent Events feed of a page: a "fleet" event with every Canary the
// caller may list, and with ?canary=namespace/name a "canary" event with that Canary's page
// (or a "problem" event saying why it cannot be shown). Each is sent at the start and again
// whenever the watch changes what it shows.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if _, err := s.authn.authenticate(ctx, r); err != nil {
		writeError(w, err)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	var key *types.NamespacedName
	if v := r.URL.Query().Get("canary"); v != "" {
		ns, name, ok := strings.Cut(v, "/")
		if !ok {
			http.Error(w, "canary must be namespace/name", http.StatusBadRequest)
			return
		}
		key = &types.NamespacedName{Namespace: ns, Name: name}
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()

	var lastFleet, lastDetail []byte
	lastVersion := ^uint64(0)
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		// Taken before the snapshot, so that no change after it goes unseen.
		changed := s.hub.wait()
		// Credentials are checked again at every push (answers are cached briefly): a revoked
		// token or role ends the stream.
		who, err := s.authn.authenticate(ctx, r)
		if err != nil {
			_ = send(w, "problem", apiError{Error: "your credentials are no longer accepted: reload the page"})
			flusher.Flush()
			return
		}
		if rows, err := s.fleet(ctx, who); err != nil {
			_ = send(w, "problem", apiError{Error: err.Error()})
		} else if b, _ := json.Marshal(rows); !bytes.Equal(b, lastFleet) {
			lastFleet = b
			_ = sendRaw(w, "fleet", b)
		}
		if key != nil {
			if v := s.hub.version(*key); v != lastVersion {
				lastVersion = v
				if d, err := s.detail(ctx, who, *key); err != nil {
					_ = send(w, "problem", apiError{Error: err.Error()})
				} else if b, _ := json.Marshal(d); !bytes.Equal(b, lastDetail) {
					lastDetail = b
					_ = sendRaw(w, "canary", b)
				}
			}
		}
		flusher.Flush()
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			flusher.Flush()
			continue
		case <-changed:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(coalesce):
		}
	}
}

func send(w http.ResponseWriter, event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return sendRaw(w, event, b)
}

func sendRaw(w http.ResponseWriter, event string, data []byte) error {
	_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
	return err
}
