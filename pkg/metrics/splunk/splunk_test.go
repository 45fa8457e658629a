package splunk_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/siskin-dev/siskin/pkg/metrics"
	mt "github.com/siskin-dev/siskin/pkg/metrics/metricstest"
	"github.com/siskin-dev/siskin/pkg/metrics/splunk"
)

const token = "sf-token-0123456789abcdef"

// frame is one message the fake stream sends after an execute request.
type frame struct {
	binary bool
	data   []byte
}

func text(v any) frame {
	b, _ := json.Marshal(v)
	return frame{data: b}
}

// datapoint is a datapoint of a binary data message: value type, time series id, value bits.
type datapoint struct {
	kind byte
	tsid uint64
	bits uint64
}

func double(tsid uint64, v float64) datapoint { return datapoint{2, tsid, math.Float64bits(v)} }

// batch is a binary data message of SignalFlow's encoding.
func batch(version byte, compress bool, at time.Time, dps ...datapoint) frame {
	var body bytes.Buffer
	_ = binary.Write(&body, binary.BigEndian, at.UnixMilli())
	if version == 2 {
		_ = binary.Write(&body, binary.BigEndian, int64(1000)) // maximum delay
	}
	_ = binary.Write(&body, binary.BigEndian, uint32(len(dps)))
	for _, d := range dps {
		body.WriteByte(d.kind)
		_ = binary.Write(&body, binary.BigEndian, d.tsid)
		_ = binary.Write(&body, binary.BigEndian, d.bits)
	}
	payload := body.Bytes()
	var flags byte
	if compress {
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		_, _ = zw.Write(payload)
		_ = zw.Close()
		payload, flags = z.Bytes(), 0x01
	}
	msg := make([]byte, 20, 20+len(payload))
	msg[0], msg[1], msg[2] = version, 5, flags
	copy(msg[4:], "siskin")
	return frame{binary: true, data: append(msg, payload...)}
}

func control(event string) frame {
	return text(map[string]any{"type": "control-message", "channel": "siskin", "event": event, "timestampMs": 1})
}

// fakeStream is a loopback SignalFlow WebSocket endpoint: it authenticates the token, then
// answers an execute request with its frames.
type fakeStream struct {
	frames []frame
	stall  bool

	mu       sync.Mutex
	executes []map[string]any
	paths    []string
	headers  []http.Header
}

func (f *fakeStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.paths = append(f.paths, r.URL.Path)
	f.headers = append(f.headers, r.Header.Clone())
	f.mu.Unlock()
	conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer func() { _ = conn.Close() }()
	var auth map[string]any
	if err := conn.ReadJSON(&auth); err != nil {
		return
	}
	if auth["type"] != "authenticate" || auth["token"] != token {
		_ = conn.WriteJSON(map[string]any{"type": "error", "error": 401, "message": "Invalid auth token"})
		_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4401, "Invalid auth token"))
		return
	}
	_ = conn.WriteJSON(map[string]any{"type": "authenticated", "orgId": "org", "userId": "user"})
	var exec map[string]any
	if err := conn.ReadJSON(&exec); err != nil {
		return
	}
	f.mu.Lock()
	f.executes = append(f.executes, exec)
	f.mu.Unlock()
	for _, fr := range f.frames {
		kind := websocket.TextMessage
		if fr.binary {
			kind = websocket.BinaryMessage
		}
		if err := conn.WriteMessage(kind, fr.data); err != nil {
			return
		}
	}
	if f.stall {
		_, _, _ = conn.ReadMessage() // until the client goes
	}
}

var now = time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)

func serve(t *testing.T, f *fakeStream) string {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}

func client(t *testing.T, address string, opts splunk.Options) *splunk.Client {
	t.Helper()
	c, err := splunk.New(metrics.ProviderConfig{Type: metrics.TypeSplunk, Address: address, SignalFxToken: token,
		Headers: http.Header{"X-Team": {"checkout"}}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func query(ctx context.Context) context.Context {
	return metrics.WithWindow(metrics.WithEvaluationTime(ctx, now), time.Minute)
}

func TestLastValueOfTheStream(t *testing.T) {
	f := &fakeStream{frames: []frame{
		control("STREAM_START"), control("JOB_START"),
		text(map[string]any{"type": "metadata", "channel": "siskin", "tsId": "AAAAAAAAAAE", "properties": map[string]any{"sf_metric": "requests"}}),
		batch(1, false, now.Add(-3*time.Minute), double(1, 10)),
		batch(2, true, now.Add(-time.Minute), double(1, 12.5)),
		batch(1, false, now.Add(-2*time.Minute), double(1, 11)),
		control("END_OF_CHANNEL"),
	}}
	s, err := client(t, serve(t, f), splunk.Options{}).Query(query(context.Background()), "data('requests').sum().publish()")
	if err != nil {
		t.Fatal(err)
	}
	if s.Value != 12.5 || !s.Time.Equal(now.Add(-time.Minute)) {
		t.Errorf("sample %+v, want 12.5 at 15:59", s)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.paths[0] != splunk.Path || f.headers[0].Get("X-Team") != "checkout" {
		t.Errorf("path %s headers %v, want %s with the template's header", f.paths[0], f.headers[0], splunk.Path)
	}
	e := f.executes[0]
	if e["program"] != "data('requests').sum().publish()" || e["immediate"] != true ||
		e["start"] != float64(now.Add(-10*time.Minute).UnixMilli()) || e["stop"] != float64(now.UnixMilli()) {
		t.Errorf("execute %v, want the program over the 10 minutes before the evaluation time", e)
	}
}

func TestJSONDataMessages(t *testing.T) {
	f := &fakeStream{frames: []frame{
		text(map[string]any{"type": "data", "channel": "siskin", "logicalTimestampMs": now.UnixMilli(), "data": []any{map[string]any{"tsId": "x", "value": 7}}}),
		control("END_OF_CHANNEL"),
	}}
	s, err := client(t, serve(t, f), splunk.Options{}).Query(query(context.Background()), "p")
	if err != nil || s.Value != 7 {
		t.Errorf("sample %+v err %v, want 7", s, err)
	}
}

func TestNoData(t *testing.T) {
	for name, frames := range map[string][]frame{
		"no data message":  {control("STREAM_START"), control("END_OF_CHANNEL")},
		"only null values": {batch(1, false, now, datapoint{kind: 0, tsid: 1}), control("END_OF_CHANNEL")},
		"an empty batch":   {batch(2, false, now), control("END_OF_CHANNEL")},
		"json null values": {text(map[string]any{"type": "data", "channel": "siskin", "data": []any{map[string]any{"tsId": "x", "value": nil}}}), control("END_OF_CHANNEL")},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := client(t, serve(t, &fakeStream{frames: frames}), splunk.Options{}).Query(query(context.Background()), "p")
			if !errors.Is(err, metrics.ErrNoData) {
				t.Errorf("err %v, want ErrNoData", err)
			}
		})
	}
}

func TestSeveralSeriesAreAShapeError(t *testing.T) {
	f := &fakeStream{frames: []frame{batch(1, false, now, double(1, 1), double(2, 2)), control("END_OF_CHANNEL")}}
	_, err := client(t, serve(t, f), splunk.Options{}).Query(query(context.Background()), "p")
	if !errors.Is(err, metrics.ErrResultShape) || !strings.Contains(err.Error(), "2 time series") {
		t.Errorf("err %v, want a shape error", err)
	}
}

func TestErrorAnswer(t *testing.T) {
	f := &fakeStream{frames: []frame{text(map[string]any{"type": "error", "channel": "siskin", "error": 400,
		"errorType": "ANALYTICS_PROGRAM_COMPILATION_ERROR", "message": "Unexpected token ')' at line 1"})}}
	_, err := client(t, serve(t, f), splunk.Options{}).Query(query(context.Background()), "data(")
	if err == nil || errors.Is(err, metrics.ErrNoData) || !strings.Contains(err.Error(), "ANALYTICS_PROGRAM_COMPILATION_ERROR") || !strings.Contains(err.Error(), "Unexpected token") {
		t.Errorf("err %v, want SignalFlow's compilation error", err)
	}
	f = &fakeStream{frames: []frame{text(map[string]any{"type": "control-message", "channel": "siskin", "event": "CHANNEL_ABORT",
		"abortInfo": map[string]any{"sf_uiErrorText": "job limit reached"}})}}
	if _, err := client(t, serve(t, f), splunk.Options{}).Query(query(context.Background()), "p"); err == nil || !strings.Contains(err.Error(), "job limit reached") {
		t.Errorf("err %v, want the abort's reason", err)
	}
}

func TestTimeout(t *testing.T) {
	f := &fakeStream{frames: []frame{control("STREAM_START"), batch(1, false, now, double(1, 1))}, stall: true}
	start := time.Now()
	_, err := client(t, serve(t, f), splunk.Options{QueryTimeout: 300 * time.Millisecond}).Query(query(context.Background()), "p")
	if err == nil || errors.Is(err, metrics.ErrNoData) || !strings.Contains(err.Error(), "no answer within 300ms") {
		t.Errorf("err %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s, want the query timeout to bound it", d)
	}
}

func TestBadToken(t *testing.T) {
	address := serve(t, &fakeStream{})
	c, err := splunk.New(metrics.ProviderConfig{Type: metrics.TypeSplunk, Address: address, SignalFxToken: "wrong-token-value"}, splunk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Query(query(context.Background()), "p")
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "Invalid auth token") || strings.Contains(err.Error(), "wrong-token-value") {
		t.Errorf("err %v, want 401 without the token", err)
	}
}

func TestStreamURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.us1.signalfx.com":                       "wss://stream.us1.signalfx.com/v2/signalflow/connect",
		"https://stream.eu0.signalfx.com/":                   "wss://stream.eu0.signalfx.com/v2/signalflow/connect",
		"wss://stream.us1.signalfx.com/v2/signalflow":        "wss://stream.us1.signalfx.com/v2/signalflow/connect",
		"http://127.0.0.1:8080":                              "ws://127.0.0.1:8080/v2/signalflow/connect",
		"https://api.jp0.signalfx.com/v2/signalflow/connect": "wss://stream.jp0.signalfx.com/v2/signalflow/connect",
	} {
		got, err := splunk.StreamURL(in)
		if err != nil || got != want {
			t.Errorf("StreamURL(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	if _, err := splunk.StreamURL("ftp://api.us1.signalfx.com"); err == nil {
		t.Error("an ftp address: nil error")
	}
}

// programs returns the programs of the execute requests received.
func (f *fakeStream) programs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.executes {
		p, _ := e["program"].(string)
		out = append(out, p)
	}
	return out
}

// situations are the stand-in's frames of each situation of the contract.
var situations = map[mt.Situation]*fakeStream{
	mt.Value:       {frames: []frame{batch(1, false, mt.Now.Add(-time.Minute), double(1, 0.4)), control("END_OF_CHANNEL")}},
	mt.NoData:      {frames: []frame{control("STREAM_START"), control("END_OF_CHANNEL")}},
	mt.ServerError: {frames: []frame{text(map[string]any{"type": "error", "channel": "siskin", "error": 500, "message": "Internal Server Error"})}},
	mt.Malformed:   {frames: []frame{{binary: true, data: []byte{9, 9, 9}}}},
	mt.Slow:        {frames: []frame{control("STREAM_START"), batch(1, false, mt.Now, double(1, 1))}, stall: true},
}

const program = `data('spans.count', filter=filter('sf_service', '{{ target }}') and filter('sf_error', 'true')).sum().publish()`

func secret(tok string) map[string][]byte {
	return map[string][]byte{"sf_token_key": []byte(tok + "\n")}
}

func TestContract(t *testing.T) {
	mt.Contract(t, mt.Backend{
		Type:     metrics.TypeSplunk,
		Pool:     splunk.NewPool,
		TimesOut: true,
		Query:    program,
		Rendered: strings.ReplaceAll(program, "{{ target }}", "podinfo"),
		Secret:   secret(token),
		Serve: func(t *testing.T, s mt.Situation) mt.Stand {
			f := &fakeStream{frames: situations[s].frames, stall: situations[s].stall}
			return mt.Stand{Address: serve(t, f), Queries: f.programs}
		},
		Value:           "0.40",
		MissingKey:      "sf_token_key",
		WrongSecret:     secret("wrong-token-value"),
		WrongSecretSays: []string{"401", "Invalid auth token"},
		ServerErrorSays: []string{"splunk execute", "error 500 Internal Server Error"},
		MalformedSays:   []string{"splunk execute", "shorter than its preamble"},
		Refusals: []mt.Refusal{
			{Name: "a template without address", Secret: secret(token),
				Message: "the splunk provider needs provider.address, the API or stream endpoint of the realm"},
			{Name: "a template without secretRef", Address: mt.AtStand,
				Message: "the splunk provider needs a secretRef to a Secret with the key sf_token_key"},
		},
	})
}
