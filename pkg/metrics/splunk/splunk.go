// Package splunk is the Splunk Observability Cloud (SignalFx) metric provider: a
// MetricTemplate's query is a SignalFlow program, run over SignalFlow's WebSocket API
// (wss://stream.REALM.signalfx.com/v2/signalflow/connect) over a window ending at the
// evaluation time, and its value is the last value of the single time series the program
// publishes in that window.
//
// The window reaches metrics.LookbackFactor times the metric's interval back, as Flagger's
// does. The token is the Secret's sf_token_key, sent in SignalFlow's authenticate message.
// provider.address is the realm's API or stream endpoint, as in Flagger: https://api.REALM...
// becomes wss://stream.REALM..., https://stream.REALM... is kept, and http becomes ws.
//
// Splunk's Go SignalFlow client (signalflow-client-go, formerly a package of signalfx-go) is
// not available from this project's module proxy, and signalfx-go v1.66.0 no longer has it: the
// package speaks the documented protocol itself over gorilla/websocket. It sends JSON
// requests (authenticate, execute) and reads JSON control, metadata and error messages, and
// data messages either as JSON or in SignalFlow's binary encoding (a 20-byte preamble of
// version, message type, flags and channel name; then the logical timestamp, with version 2 the
// maximum delay, and the count of 17-byte datapoints of value type, time series id and value),
// zlib-compressed when the flags say so.
package splunk

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

// Path is the SignalFlow WebSocket endpoint's path.
const Path = "/v2/signalflow/connect"

// Options tune the clients; the zero value takes the defaults.
type Options = metrics.BackendOptions

// Client runs SignalFlow programs in one realm with one token. It is safe for concurrent use:
// each query has its own connection.
type Client struct {
	url     string
	shown   string
	token   string
	headers http.Header
	dialer  *websocket.Dialer
	opts    Options
}

var _ metrics.Provider = (*Client)(nil)

// NewPool returns a metrics.Pool of Clients, one per distinct configuration.
func NewPool(opts Options) *metrics.Pool { return metrics.PoolOf(opts, New) }

// StreamURL returns the SignalFlow WebSocket URL of a provider.address.
func StreamURL(address string) (string, error) {
	u, err := url.Parse(address)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("splunk address %s is not a URL", metrics.RedactURL(address))
	}
	switch u.Scheme {
	case "https", "wss":
		u.Scheme = "wss"
	case "http", "ws":
		u.Scheme = "ws"
	default:
		return "", fmt.Errorf("splunk address %s is not an http, https, ws or wss URL", metrics.RedactURL(address))
	}
	if rest, ok := strings.CutPrefix(u.Host, "api."); ok {
		u.Host = "stream." + rest
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/connect"), "/v2/signalflow") + Path
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String(), nil
}

// New returns a client for cfg: cfg.Address and cfg.SignalFxToken.
func New(cfg metrics.ProviderConfig, opts Options) (*Client, error) {
	if cfg.Type != metrics.TypeSplunk {
		return nil, fmt.Errorf("provider type %q is not splunk", cfg.Type)
	}
	if cfg.SignalFxToken == "" {
		return nil, errors.New("splunk needs an access token")
	}
	stream, err := StreamURL(cfg.Address)
	if err != nil {
		return nil, err
	}
	opts = opts.WithDefaults()
	return &Client{
		url:     stream,
		shown:   metrics.RedactURL(stream),
		token:   cfg.SignalFxToken,
		headers: cfg.Headers.Clone(),
		dialer: &websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			HandshakeTimeout: opts.QueryTimeout,
			TLSClientConfig: &tls.Config{
				MinVersion: tls.VersionTLS12,
				// The MetricTemplate asks for it (provider.insecureSkipVerify).
				InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec
			},
		},
		opts: opts,
	}, nil
}

// message is a JSON message of the SignalFlow WebSocket API.
type message struct {
	Type      string          `json:"type"`
	Channel   string          `json:"channel"`
	Event     string          `json:"event"`
	Error     json.RawMessage `json:"error"`
	ErrorType string          `json:"errorType"`
	Message   string          `json:"message"`
	Timestamp int64           `json:"logicalTimestampMs"`
	Data      []struct {
		TSID  string   `json:"tsId"`
		Value *float64 `json:"value"`
	} `json:"data"`
	AbortInfo *struct {
		SFUIErrorText string `json:"sf_uiErrorText"`
	} `json:"abortInfo"`
}

// point is one datapoint of a data message.
type point struct {
	tsid string
	at   int64
	v    float64
}

const channel = "siskin"

// Query runs the SignalFlow program over the window of ctx (metrics.Window) times
// LookbackFactor, ending at the evaluation time of ctx, and returns the last value of its single
// time series. No value is metrics.ErrNoData; several time series are metrics.ErrResultShape.
func (c *Client) Query(ctx context.Context, program string) (metrics.Sample, error) {
	from, to := metrics.Span(ctx, c.opts.Now)
	ctx, cancel := context.WithTimeout(ctx, c.opts.QueryTimeout)
	defer cancel()
	conn, err := c.connect(ctx)
	if err != nil {
		return metrics.Sample{}, err
	}
	defer func() { _ = conn.Close() }()
	if err := conn.WriteJSON(map[string]any{
		"type": "execute", "channel": channel, "program": program,
		"start": from.UnixMilli(), "stop": to.UnixMilli(), "immediate": true, "compress": false,
	}); err != nil {
		return metrics.Sample{}, c.failed(ctx, "execute", err)
	}
	var points []point
	for {
		msg, pts, err := c.read(ctx, conn)
		if err != nil {
			return metrics.Sample{}, c.failed(ctx, "execute", err)
		}
		points = append(points, pts...)
		if msg == nil || msg.Channel != channel && msg.Channel != "" {
			continue
		}
		if e := errorOf(msg); e != "" {
			return metrics.Sample{}, fmt.Errorf("splunk execute %s: %s", c.shown, e)
		}
		if msg.Type == "control-message" && msg.Event == "END_OF_CHANNEL" {
			return sampleOf(points)
		}
	}
}

// connect opens the WebSocket and authenticates with the token.
func (c *Client) connect(ctx context.Context) (*websocket.Conn, error) {
	conn, resp, err := c.dialer.DialContext(ctx, c.url, c.headers)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("splunk connect %s: %s", c.shown, resp.Status)
		}
		return nil, c.failed(ctx, "connect", err)
	}
	conn.SetReadLimit(c.opts.MaxResponseBytes)
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
		_ = conn.SetWriteDeadline(dl)
	}
	go func() {
		<-ctx.Done()
		_ = conn.Close() // unblocks a read when the query is cancelled
	}()
	if err := conn.WriteJSON(map[string]string{"type": "authenticate", "token": c.token}); err != nil {
		_ = conn.Close()
		return nil, c.failed(ctx, "authenticate", err)
	}
	for {
		msg, _, err := c.read(ctx, conn)
		if err != nil {
			_ = conn.Close()
			return nil, c.failed(ctx, "authenticate", err)
		}
		if msg == nil {
			continue
		}
		if e := errorOf(msg); e != "" {
			_ = conn.Close()
			return nil, fmt.Errorf("splunk authenticate %s: %s", c.shown, e)
		}
		if msg.Type == "authenticated" {
			return conn, nil
		}
	}
}

// read returns the next message: a JSON message, or the datapoints of a binary data message.
func (c *Client) read(_ context.Context, conn *websocket.Conn) (*message, []point, error) {
	kind, data, err := conn.ReadMessage()
	if err != nil {
		return nil, nil, err
	}
	if kind == websocket.BinaryMessage {
		return decodeBinary(data)
	}
	var msg message
	if err := json.Unmarshal(data, &msg); err != nil {
		return nil, nil, fmt.Errorf("a message that is not JSON: %w", err)
	}
	if msg.Type == "data" {
		pts := make([]point, 0, len(msg.Data))
		for _, d := range msg.Data {
			if d.Value != nil {
				pts = append(pts, point{tsid: d.TSID, at: msg.Timestamp, v: *d.Value})
			}
		}
		return nil, pts, nil
	}
	return &msg, nil, nil
}

// errorOf is the error a message reports, or "".
func errorOf(msg *message) string {
	switch {
	case msg.Type == "error" || len(msg.Error) > 0 && string(msg.Error) != "null":
		parts := []string{}
		for _, p := range []string{strings.Trim(string(msg.Error), `"`), msg.ErrorType, msg.Message} {
			if p != "" {
				parts = append(parts, p)
			}
		}
		return "error " + strings.Join(parts, " ")
	case msg.Type == "control-message" && (msg.Event == "CHANNEL_ABORT" || msg.Event == "ABORT_CHANNEL"):
		why := "the computation was aborted"
		if msg.AbortInfo != nil && msg.AbortInfo.SFUIErrorText != "" {
			why += ": " + msg.AbortInfo.SFUIErrorText
		}
		return why
	}
	return ""
}

// Binary message constants of the SignalFlow WebSocket API.
const (
	binaryData       = 5
	flagCompressed   = 0x01
	flagJSON         = 0x02
	preambleSize     = 20
	datapointSize    = 17
	valueTypeNone    = 0
	valueTypeLong    = 1
	valueTypeDouble  = 2
	valueTypeInteger = 3
)

// decodeBinary decodes a binary message: a data batch, or a JSON message in binary form.
func decodeBinary(data []byte) (*message, []point, error) {
	if len(data) < preambleSize {
		return nil, nil, fmt.Errorf("a binary message of %d bytes, shorter than its preamble", len(data))
	}
	version, kind, flags := data[0], data[1], data[2]
	if version != 1 && version != 2 {
		return nil, nil, fmt.Errorf("a binary message of version %d, which this client does not know", version)
	}
	channelName := string(bytes.TrimRight(data[4:preambleSize], "\x00"))
	body := data[preambleSize:]
	if flags&flagCompressed != 0 {
		zr, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, nil, fmt.Errorf("a compressed message that is not zlib: %w", err)
		}
		if body, err = io.ReadAll(io.LimitReader(zr, 64<<20)); err != nil {
			return nil, nil, fmt.Errorf("a compressed message: %w", err)
		}
	}
	if flags&flagJSON != 0 {
		var msg message
		if err := json.Unmarshal(body, &msg); err != nil {
			return nil, nil, fmt.Errorf("a binary JSON message that is not JSON: %w", err)
		}
		return &msg, nil, nil
	}
	if kind != binaryData {
		return nil, nil, nil // no other binary message carries anything a query reads
	}
	head := 8
	if version == 2 {
		head = 16 // the maximum delay follows the timestamp
	}
	if len(body) < head+4 {
		return nil, nil, errors.New("a data message shorter than its header")
	}
	at := int64(binary.BigEndian.Uint64(body[:8]))
	n := int(binary.BigEndian.Uint32(body[head : head+4]))
	rest := body[head+4:]
	if n < 0 || len(rest) != n*datapointSize {
		return nil, nil, fmt.Errorf("a data message of %d datapoints in %d bytes", n, len(rest))
	}
	pts := make([]point, 0, n)
	for i := 0; i < n; i++ {
		d := rest[i*datapointSize : (i+1)*datapointSize]
		raw := binary.BigEndian.Uint64(d[9:])
		p := point{tsid: base64.RawURLEncoding.EncodeToString(d[1:9]), at: at}
		switch d[0] {
		case valueTypeNone:
			continue
		case valueTypeLong, valueTypeInteger:
			p.v = float64(int64(raw))
		case valueTypeDouble:
			p.v = math.Float64frombits(raw)
		default:
			return nil, nil, fmt.Errorf("a datapoint of value type %d, which this client does not know", d[0])
		}
		pts = append(pts, p)
	}
	return &message{Type: "data", Channel: channelName}, pts, nil
}

// sampleOf returns the last value of the single time series.
func sampleOf(points []point) (metrics.Sample, error) {
	if len(points) == 0 {
		return metrics.Sample{}, fmt.Errorf("%w: the program published no value in the window", metrics.ErrNoData)
	}
	ids := map[string]bool{}
	for _, p := range points {
		ids[p.tsid] = true
	}
	if len(ids) > 1 {
		names := make([]string, 0, len(ids))
		for id := range ids {
			names = append(names, id)
		}
		sort.Strings(names)
		if len(names) > 3 {
			names = append(names[:3], "...")
		}
		return metrics.Sample{}, fmt.Errorf("%w: %d time series, want 1 (aggregate them, for example with .sum()): tsIds %s",
			metrics.ErrResultShape, len(ids), strings.Join(names, ", "))
	}
	last := points[0]
	for _, p := range points[1:] {
		if p.at >= last.at {
			last = p
		}
	}
	if math.IsNaN(last.v) || math.IsInf(last.v, 0) {
		return metrics.Sample{}, &metrics.NonFiniteError{Value: last.v}
	}
	return metrics.Sample{Value: last.v, Time: time.UnixMilli(last.at)}, nil
}

// failed describes a connection error, naming the query deadline when that is the reason.
func (c *Client) failed(ctx context.Context, what string, err error) error {
	var (
		ce   *websocket.CloseError
		nerr net.Error
	)
	switch {
	case errors.As(err, &ce):
		return fmt.Errorf("splunk %s %s: the server closed the connection: %d %s", what, c.shown, ce.Code, ce.Text)
	case ctx.Err() != nil:
		return fmt.Errorf("splunk %s %s: no answer within %s: %w", what, c.shown, c.opts.QueryTimeout, context.Cause(ctx))
	case errors.As(err, &nerr) && nerr.Timeout():
		// The connection's deadline is the query's: it may fire just before the context's.
		return fmt.Errorf("splunk %s %s: no answer within %s: %w", what, c.shown, c.opts.QueryTimeout, context.DeadlineExceeded)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		uerr.URL = metrics.RedactURL(uerr.URL)
	}
	return fmt.Errorf("splunk %s %s: %w", what, c.shown, err)
}
