package grpcnaming

// Requests the server sends over the bi-directional stream, and the client's answers.

import (
	"encoding/json"

	nacospb "github.com/nacos-group/nacos-sdk-go/v2/api/grpc"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
)

const (
	notifySubscriberType = "NotifySubscriberRequest"
	clientDetectionType  = "ClientDetectionRequest"
	connectResetType     = "ConnectResetRequest"
	setupAckType         = "SetupAckRequest"
)

// inbound is what the client does about one server request: the reply to send (nil: none), a
// pushed service list to apply, and whether the server asked the client to connect elsewhere.
type inbound struct {
	reply  *nacospb.Payload
	pushed *model.Service
	reset  bool
}

// handleServerRequest answers a server request. Known requests get their success answer; any
// other request gets an error answer with its id, so the server does not wait for one.
func handleServerRequest(p *nacospb.Payload) inbound {
	typ := p.GetMetadata().GetType()
	var req notifySubscriberRequest // a superset of the other requests' fields used here
	if err := json.Unmarshal(p.GetBody().GetValue(), &req); err != nil {
		return inbound{}
	}
	in := inbound{}
	replyType := responseType(typ)
	answer := response{ResultCode: codeOK, Success: ptr(true), RequestID: req.RequestID}
	switch typ {
	case notifySubscriberType:
		in.pushed = &req.ServiceInfo
	case connectResetType:
		in.reset = true
	case clientDetectionType, setupAckType:
	default:
		answer = response{ResultCode: 500, ErrorCode: codeUnsupported, Success: ptr(false),
			Message: "unsupported request " + typ, RequestID: req.RequestID}
		replyType = "ErrorResponse"
	}
	reply, err := encode(replyType, nil, answer)
	if err == nil {
		in.reply = reply
	}
	return in
}

func ptr[T any](v T) *T { return &v }
