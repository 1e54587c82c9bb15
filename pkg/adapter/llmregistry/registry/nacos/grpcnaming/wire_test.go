package grpcnaming

import (
	"encoding/json"
	"testing"

	nacospb "github.com/nacos-group/nacos-sdk-go/v2/api/grpc"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
)

func payload(typ, body string) *nacospb.Payload {
	return &nacospb.Payload{Metadata: &nacospb.Metadata{Type: typ}, Body: &anypb.Any{Value: []byte(body)}}
}

// A request travels as its type in the metadata, the token in the metadata's headers and its
// fields, flat, as JSON.
func TestEncodeRequest(t *testing.T) {
	in := registry.Instance{Service: "svc", Group: "g", IP: "10.0.0.1", Port: 8080, Weight: 1, Enabled: true, Healthy: true,
		Metadata: map[string]string{"cluster": "chat"}}
	req := instanceChange("ns", "registerInstance", in)
	p, err := encode(req.requestType(), map[string]string{accessTokenHeader: "tok"}, req)
	require.NoError(t, err)
	assert.Equal(t, "InstanceRequest", p.GetMetadata().GetType())
	assert.Equal(t, map[string]string{"accessToken": "tok"}, p.GetMetadata().GetHeaders())

	var body map[string]any
	require.NoError(t, json.Unmarshal(p.GetBody().GetValue(), &body))
	assert.Equal(t, "naming", body["module"])
	assert.Equal(t, "ns", body["namespace"])
	assert.Equal(t, "svc", body["serviceName"])
	assert.Equal(t, "g", body["groupName"])
	assert.Equal(t, "registerInstance", body["type"])
	instance := body["instance"].(map[string]any)
	assert.Equal(t, "10.0.0.1", instance["ip"])
	assert.EqualValues(t, 8080, instance["port"])
	assert.Equal(t, true, instance["ephemeral"])
	assert.Equal(t, map[string]any{"cluster": "chat"}, instance["metadata"])
	assert.NotContains(t, body, "accessToken", "headers stay out of the body")

	setup := connectionSetupRequest{internalRequest: internal(), ClientVersion: clientVersion, Tenant: "ns", Labels: labels}
	p, err = encode(setup.requestType(), nil, setup)
	require.NoError(t, err)
	assert.JSONEq(t, `{"requestId":"","module":"internal","clientVersion":"`+clientVersion+`","tenant":"ns",
		"labels":{"source":"sdk","module":"naming"},"clientAbilities":{}}`, string(p.GetBody().GetValue()))
}

func TestAnswerTypes(t *testing.T) {
	for _, c := range []struct {
		req  request
		want string
	}{
		{serverCheckRequest{}, "ServerCheckResponse"},
		{healthCheckRequest{}, "HealthCheckResponse"},
		{instanceRequest{}, "InstanceResponse"},
		{serviceListRequest{}, "ServiceListResponse"},
		{serviceQueryRequest{}, "QueryServiceResponse"},
		{subscribeRequest{}, "SubscribeServiceResponse"},
	} {
		assert.Equal(t, c.want, answerTypeOf(c.req), c.req.requestType())
	}
}

func TestDecodeAnswer(t *testing.T) {
	var list serviceListResponse
	require.NoError(t, decode(payload("ServiceListResponse",
		`{"resultCode":200,"success":true,"count":2,"serviceNames":["a","b"]}`), "ServiceListResponse", &list))
	assert.Equal(t, []string{"a", "b"}, list.ServiceNames)

	var svc serviceResponse
	require.NoError(t, decode(payload("QueryServiceResponse",
		`{"resultCode":200,"serviceInfo":{"name":"svc","groupName":"g","lastRefTime":7,"hosts":[{"ip":"10.0.0.1","port":80}]}}`),
		"QueryServiceResponse", &svc), "no success field: the result code decides")
	assert.EqualValues(t, 7, svc.ServiceInfo.LastRefTime)
	assert.Equal(t, "10.0.0.1", svc.ServiceInfo.Hosts[0].Ip)

	err := decode(payload("ErrorResponse", `{"resultCode":500,"errorCode":403,"success":false,"message":"unknown user!"}`),
		"ServiceListResponse", &serviceListResponse{})
	require.Error(t, err)
	assert.True(t, isUnauthorized(err))
	assert.Equal(t, "server answered 403: unknown user!", err.Error())

	err = decode(payload("InstanceResponse", `{"resultCode":500,"errorCode":0,"success":false,"message":"no"}`),
		"InstanceResponse", &response{})
	assert.EqualError(t, err, "server answered 500: no", "a failure in the expected answer type")
	assert.False(t, isUnauthorized(err))

	err = decode(payload("HealthCheckResponse", `{}`), "InstanceResponse", &response{})
	assert.ErrorContains(t, err, `answer of type "HealthCheckResponse", want "InstanceResponse"`)
	err = decode(payload("InstanceResponse", `not json`), "InstanceResponse", &response{})
	assert.ErrorContains(t, err, "decode InstanceResponse")
}

func replyOf(t *testing.T, in inbound) (string, map[string]any) {
	t.Helper()
	require.NotNil(t, in.reply)
	var body map[string]any
	require.NoError(t, json.Unmarshal(in.reply.GetBody().GetValue(), &body))
	return in.reply.GetMetadata().GetType(), body
}

func TestServerRequests(t *testing.T) {
	push := handleServerRequest(payload("NotifySubscriberRequest",
		`{"requestId":"7","module":"naming","serviceInfo":{"name":"svc","groupName":"g","hosts":[{"ip":"10.0.0.1","port":80}]}}`))
	require.NotNil(t, push.pushed)
	assert.Equal(t, "svc", push.pushed.Name)
	assert.False(t, push.reset)
	typ, body := replyOf(t, push)
	assert.Equal(t, "NotifySubscriberResponse", typ)
	assert.Equal(t, "7", body["requestId"])
	assert.EqualValues(t, 200, body["resultCode"])
	assert.Equal(t, true, body["success"])

	for request, answer := range map[string]string{
		"ClientDetectionRequest": "ClientDetectionResponse",
		"SetupAckRequest":        "SetupAckResponse",
		"ConnectResetRequest":    "ConnectResetResponse",
	} {
		in := handleServerRequest(payload(request, `{"requestId":"8","module":"internal"}`))
		assert.Nil(t, in.pushed)
		assert.Equal(t, request == "ConnectResetRequest", in.reset, request)
		typ, body := replyOf(t, in)
		assert.Equal(t, answer, typ)
		assert.Equal(t, "8", body["requestId"])
	}

	unknown := handleServerRequest(payload("ClientConfigMetricRequest", `{"requestId":"9"}`))
	typ, body = replyOf(t, unknown)
	assert.Equal(t, "ErrorResponse", typ, "an unknown request is answered, with an error")
	assert.Equal(t, "9", body["requestId"])
	assert.Equal(t, false, body["success"])

	assert.Nil(t, handleServerRequest(payload("NotifySubscriberRequest", `{`)).reply, "garbage is not answered")
}

// Pushes and subscription answers arrive in any order: an older list than the latest is dropped,
// and so is a newer one with the same instances; a list only reaches its own subscription.
func TestReceiveOrdersLists(t *testing.T) {
	c := &Client{subs: map[string]*subscription{}, wake: make(chan struct{}, 1), delivered: make(chan struct{})}
	sub := &subscription{service: "svc", group: "g", key: groupedName("svc", "g")}
	c.subs[sub.key] = sub
	one := []model.Instance{{Ip: "10.0.0.1", Port: 1}}
	two := []model.Instance{{Ip: "10.0.0.2", Port: 2}, {Ip: "10.0.0.1", Port: 1}}

	pending := func() []int {
		c.mu.Lock()
		defer c.mu.Unlock()
		list := sub.pending
		sub.pending, sub.queued, c.queue = nil, false, nil
		if list == nil {
			return nil
		}
		return ports(list)
	}
	c.receive(model.Service{Name: "svc", GroupName: "g", LastRefTime: 10, Hosts: one})
	assert.Equal(t, []int{1}, pending())
	c.receive(model.Service{Name: "svc", GroupName: "g", LastRefTime: 9, Hosts: two})
	assert.Nil(t, pending(), "older than the latest")
	c.receive(model.Service{Name: "svc", GroupName: "g", LastRefTime: 11, Hosts: one})
	assert.Nil(t, pending(), "the same instances")
	c.receive(model.Service{Name: "g@@svc", LastRefTime: 12, Hosts: two})
	assert.Equal(t, []int{1, 2}, pending(), "a grouped name, sorted by address")
	c.receive(model.Service{Name: "other", GroupName: "g", LastRefTime: 13})
	assert.Nil(t, pending(), "not subscribed")
}
