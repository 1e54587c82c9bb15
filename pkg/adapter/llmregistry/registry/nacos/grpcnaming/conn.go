package grpcnaming

// One connection to one server: requests as unary calls, server requests over the stream.

import (
	"context"
	"errors"
	"fmt"
	"time"

	nacospb "github.com/nacos-group/nacos-sdk-go/v2/api/grpc"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// maxAnswerSize bounds one answer: a service list or a large instance list can exceed gRPC's
// default of 4 MiB.
const maxAnswerSize = 10 << 20

// readyPoll is how often a new connection asks whether the server has taken it on.
const readyPoll = 20 * time.Millisecond

// conn is an established connection. Its unary calls may run concurrently; only its stream
// reader sends on the stream once it runs.
type conn struct {
	server string // host:port of the gRPC server
	cc     *grpc.ClientConn
	rpc    nacospb.RequestClient
	stream nacospb.BiRequestStream_RequestBiStreamClient
	cancel context.CancelFunc // ends the stream
	done   chan struct{}      // closed when the stream reader has ended
}

// connectTo opens a connection to the gRPC server at addr and sets it up: the server check, the
// stream, the setup message, then health checks until the server has taken the connection on.
// Pushes received over it go to onPush, on the stream reader's goroutine.
func connectTo(ctx context.Context, addr string, setup connectionSetupRequest, onPush func(model.Service)) (*conn, error) {
	cc, err := grpc.Dial(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxAnswerSize)))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	streamCtx, cancel := context.WithCancel(context.Background())
	cn := &conn{server: addr, cc: cc, rpc: nacospb.NewRequestClient(cc), cancel: cancel, done: make(chan struct{})}
	if err := cn.open(ctx, streamCtx, setup, onPush); err != nil {
		cn.close()
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return cn, nil
}

func (cn *conn) open(ctx, streamCtx context.Context, setup connectionSetupRequest, onPush func(model.Service)) error {
	stream, err := cn.begin(ctx, streamCtx, setup)
	if err != nil {
		close(cn.done) // no stream reader to close it
		return err
	}
	cn.stream = stream
	go cn.readStream(onPush)
	return cn.awaitReady(ctx)
}

// begin checks the server, opens the stream and sends the connection setup on it.
func (cn *conn) begin(ctx, streamCtx context.Context, setup connectionSetupRequest) (nacospb.BiRequestStream_RequestBiStreamClient, error) {
	var check serverCheckResponse
	if err := cn.call(ctx, serverCheckRequest{internal()}, nil, &check); err != nil {
		return nil, fmt.Errorf("server check: %w", err)
	}
	stream, err := nacospb.NewBiRequestStreamClient(cn.cc).RequestBiStream(streamCtx)
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	p, err := encode(setup.requestType(), nil, setup)
	if err == nil {
		err = stream.Send(p)
	}
	if err != nil {
		return nil, fmt.Errorf("connection setup: %w", err)
	}
	return stream, nil
}

// awaitReady health-checks until the server answers: it refuses requests on a connection whose
// setup it has not processed yet.
func (cn *conn) awaitReady(ctx context.Context) error {
	for {
		err := cn.call(ctx, healthCheckRequest{internal()}, nil, &response{})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server did not take the connection on: %w", err)
		case <-cn.done:
			return errors.New("stream closed during setup")
		case <-time.After(readyPoll):
		}
	}
}

// readStream answers server requests until the stream ends.
func (cn *conn) readStream(onPush func(model.Service)) {
	defer close(cn.done)
	for {
		p, err := cn.stream.Recv()
		if err != nil {
			return
		}
		in := handleServerRequest(p)
		if in.pushed != nil {
			onPush(*in.pushed)
		}
		if in.reply != nil {
			_ = cn.stream.Send(in.reply) // a failed send ends the stream: Recv fails next
		}
		if in.reset {
			cn.cancel()
		}
	}
}

// call sends req and reads the answer into out.
func (cn *conn) call(ctx context.Context, req request, headers map[string]string, out answer) error {
	p, err := encode(req.requestType(), headers, req)
	if err != nil {
		return err
	}
	answer, err := cn.rpc.Request(ctx, p)
	if err != nil {
		return err
	}
	return decode(answer, answerTypeOf(req), out)
}

// alive reports whether the stream is still open.
func (cn *conn) alive() bool {
	select {
	case <-cn.done:
		return false
	default:
		return true
	}
}

// close ends the stream and the connection and waits for the stream reader.
func (cn *conn) close() {
	cn.cancel()
	_ = cn.cc.Close()
	<-cn.done
}
