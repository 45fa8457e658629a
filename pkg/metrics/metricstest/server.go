package metricstest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Reply is one recorded answer of a vendor's API: a status and the file below the server's
// directory whose bytes are the body.
type Reply struct {
	Status int
	File   string
	// Header is set on the answer; a Content-Type here wins over the one of the file's
	// extension (.json, .csv, .html).
	Header map[string]string
}

// Request is what the Server received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
}

// Server is a local HTTP server that answers every request with one recorded answer of the
// vendor's documented shape, and keeps the requests. It is closed when the test ends.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL string

	dir string

	mu         sync.Mutex
	reply      Reply
	authorized func(*http.Request) bool
	refused    Reply
	delay      time.Duration
	requests   []Request
}

// NewServer starts a Server of the recorded answers in dir (normally "testdata").
func NewServer(t testing.TB, dir string) *Server {
	t.Helper()
	s := &Server{dir: dir}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Reply makes r the answer to every request from now on.
func (s *Server) Reply(r Reply) *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reply = r
	return s
}

// Refuse answers refused, the vendor's answer to missing or wrong credentials, to every request
// that authorized does not accept.
func (s *Server) Refuse(authorized func(*http.Request) bool, refused Reply) *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authorized, s.refused = authorized, refused
	return s
}

// Delay holds every answer back by d, or until the client gives up.
func (s *Server) Delay(d time.Duration) *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
		Header: r.Header.Clone(), Body: body})
	reply, delay := s.reply, s.delay
	if s.authorized != nil && !s.authorized(r) {
		reply = s.refused
	}
	s.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	out, err := os.ReadFile(filepath.Join(s.dir, reply.File))
	if err != nil {
		// A test that forgot its answer sees a status no vendor sends.
		http.Error(w, err.Error(), http.StatusTeapot)
		return
	}
	switch filepath.Ext(reply.File) {
	case ".json":
		w.Header().Set("Content-Type", "application/json")
	case ".csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	case ".html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	}
	for k, v := range reply.Header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(reply.Status)
	_, _ = w.Write(out)
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Only returns the one request received, and fails the test when there were more or none.
func (s *Server) Only(t testing.TB) Request {
	t.Helper()
	all := s.Requests()
	if len(all) != 1 {
		t.Fatalf("the stand-in received %d requests, want 1", len(all))
	}
	return all[0]
}

// Replies are the recorded answers of a backend's situations: the files of the 200 answers of
// Value, NoData and Malformed, and the vendor's failure (any status) of ServerError.
type Replies struct {
	Value, NoData, Malformed string
	ServerError              Reply
	// Header is set on every answer.
	Header map[string]string
	// Authorized, when set, accepts the requests with the credentials the vendor accepts; the
	// others are answered Refused.
	Authorized func(*http.Request) bool
	Refused    Reply
}

// Server starts a Server of the recorded answers in dir that answers as in the situation.
func (r Replies) Server(t testing.TB, dir string, s Situation) *Server {
	t.Helper()
	srv := NewServer(t, dir).Reply(r.Of(s))
	if r.Authorized != nil {
		srv.Refuse(r.Authorized, r.Refused)
	}
	if s == Slow {
		srv.Delay(50 * SlowTimeout)
	}
	return srv
}

// Of returns the answer of the situation; Slow's is Value's.
func (r Replies) Of(s Situation) Reply {
	reply := Reply{Status: http.StatusOK, Header: r.Header}
	switch s {
	case Value, Slow:
		reply.File = r.Value
	case NoData:
		reply.File = r.NoData
	case Malformed:
		reply.File = r.Malformed
	case ServerError:
		reply = r.ServerError
		if reply.Header == nil {
			reply.Header = r.Header
		}
	}
	return reply
}

// Recorded returns a Backend.Serve of the Server of replies in dir (Replies.Server) at the
// address's path (empty, or the API's path below it); queryOf reads the query out of a request
// as the vendor would.
func Recorded(dir string, replies Replies, path string, queryOf func(Request) string) func(*testing.T, Situation) Stand {
	return func(t *testing.T, s Situation) Stand {
		t.Helper()
		srv := replies.Server(t, dir, s)
		return Stand{Address: srv.URL + path, Queries: func() []string {
			var out []string
			for _, r := range srv.Requests() {
				out = append(out, queryOf(r))
			}
			return out
		}, Header: func() http.Header {
			all := srv.Requests()
			if len(all) == 0 {
				return nil
			}
			return all[len(all)-1].Header
		}}
	}
}

// SecretReader is a metrics.SecretReader of "namespace/name" to data.
type SecretReader map[string]map[string][]byte

// SecretData implements metrics.SecretReader.
func (m SecretReader) SecretData(_ context.Context, ns, name string) (map[string][]byte, error) {
	return m[ns+"/"+name], nil
}
