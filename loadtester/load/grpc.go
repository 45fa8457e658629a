package load

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type grpcRequester struct {
	conn   *grpc.ClientConn
	t      GRPCTarget
	health healthpb.HealthClient
	method string
}

func newGRPCRequester(t GRPCTarget) (*grpcRequester, error) {
	creds := insecure.NewCredentials()
	if !t.Plaintext {
		creds = credentials.NewTLS(&tls.Config{InsecureSkipVerify: t.InsecureSkipVerify})
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if t.Authority != "" {
		opts = append(opts, grpc.WithAuthority(t.Authority))
	}
	conn, err := grpc.NewClient("passthrough:///"+t.Address, opts...)
	if err != nil {
		return nil, fmt.Errorf("create gRPC client: %w", err)
	}
	r := &grpcRequester{conn: conn, t: t, method: "/" + t.Call}
	if t.Call == HealthCheckCall {
		r.health = healthpb.NewHealthClient(conn)
	}
	return r, nil
}

func (g *grpcRequester) do(ctx context.Context) outcome {
	if len(g.t.Metadata) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, metadata.New(g.t.Metadata))
	}
	if g.health != nil {
		resp, err := g.health.Check(ctx, &healthpb.HealthCheckRequest{Service: g.t.Service})
		if err != nil {
			return outcome{status: status.Code(err).String(), failed: true, err: err}
		}
		if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
			return outcome{status: s.String(), failed: true, err: fmt.Errorf("health status %s", s)}
		}
		return outcome{status: healthpb.HealthCheckResponse_SERVING.String()}
	}
	var reply []byte
	err := g.conn.Invoke(ctx, g.method, []byte{}, &reply, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		return outcome{status: status.Code(err).String(), failed: true, err: err}
	}
	return outcome{status: "OK"}
}

func (g *grpcRequester) close() { _ = g.conn.Close() }

// rawCodec passes already-encoded protobuf bytes through. An empty byte slice is the wire form
// of any protobuf message with all fields unset, which lets the generator call a method whose
// descriptors it does not have.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, errors.New("raw codec: request is not []byte")
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return errors.New("raw codec: reply is not *[]byte")
	}
	*p = data.Materialize()
	return nil
}

// Name keeps the standard content-subtype so that servers accept the call.
func (rawCodec) Name() string { return "proto" }
