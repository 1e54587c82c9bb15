package registryproxy

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"google.golang.org/protobuf/encoding/protowire"
)

// grpcMessage frames a Nacos Payload of the given type and JSON body as one gRPC message.
func grpcMessage(kind, body string) []byte {
	var md, anyBody, p []byte
	md = protowire.AppendTag(md, metadataType, protowire.BytesType)
	md = protowire.AppendString(md, kind)
	anyBody = protowire.AppendTag(anyBody, 1, protowire.BytesType) // type_url, skipped
	anyBody = protowire.AppendString(anyBody, "type.googleapis.com/x")
	anyBody = protowire.AppendTag(anyBody, anyValue, protowire.BytesType)
	anyBody = protowire.AppendString(anyBody, body)
	p = protowire.AppendTag(p, payloadMetadata, protowire.BytesType)
	p = protowire.AppendBytes(p, md)
	p = protowire.AppendTag(p, payloadBody, protowire.BytesType)
	p = protowire.AppendBytes(p, anyBody)
	return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(p))), p...)
}

// Messages split over DATA frames, and several in one frame, come out whole, per stream.
func TestFrameMessagesReassemblesPerStream(t *testing.T) {
	push := grpcMessage("NotifySubscriberRequest", `{"serviceInfo":{"name":"svc","groupName":"grp","hosts":[]}}`)
	list := grpcMessage("ServiceListResponse", `{"count":1,"serviceNames":["svc"]}`)
	check := grpcMessage("HealthCheckRequest", `{}`)

	var wire bytes.Buffer
	w := http2.NewFramer(&wire, nil)
	require.NoError(t, w.WriteData(1, false, push[:7]))
	require.NoError(t, w.WriteData(3, false, append(append([]byte{}, list...), check...)))
	require.NoError(t, w.WritePing(false, [8]byte{}))
	require.NoError(t, w.WriteData(1, true, push[7:]))

	p := &GRPCProxy{counts: map[string]int64{}}
	c := &grpcConn{p: p, pending: map[uint32]pendingCall{}}
	r := http2.NewFramer(nil, &wire)
	streams := map[uint32][]byte{}
	var got [][]string
	for range 4 {
		f, err := r.ReadFrame()
		require.NoError(t, err)
		var kinds []string
		for _, m := range c.frameMessages(f, streams) {
			kinds = append(kinds, m.kind)
		}
		got = append(got, kinds)
	}
	assert.Equal(t, [][]string{nil, {"ServiceListResponse", "HealthCheckRequest"}, nil, {"NotifySubscriberRequest"}}, got)
	assert.Empty(t, streams, "no partial message left behind")
	assert.Equal(t, map[string]int64{"HTTP/2 PING": 1}, p.counts)
}

func TestMessageLists(t *testing.T) {
	push := decodePayload(grpcMessage("NotifySubscriberRequest", `{"serviceInfo":{"name":"svc","groupName":"grp"}}`)[5:])
	assert.True(t, push.isRequest())
	r, ok := push.list()
	require.True(t, ok)
	assert.Equal(t, PathInstanceList, r.Path)
	assert.Equal(t, "grp@@svc", r.Service)

	r, ok = decodePayload(grpcMessage("ServiceListResponse", `{"serviceNames":["svc"]}`)[5:]).list()
	require.True(t, ok)
	assert.Equal(t, PathServiceList, r.Path)
	assert.JSONEq(t, `{"serviceNames":["svc"]}`, string(r.Body))

	_, ok = decodePayload(grpcMessage("HealthCheckResponse", `{}`)[5:]).list()
	assert.False(t, ok)
	assert.Equal(t, "unreadable message", decodePayload([]byte{0xff}).kind)
}
