package grpcnaming

// The Nacos 2.x gRPC protocol's messages. Every message travels in a Payload: its type name in
// the metadata, its fields as a JSON body. Headers (the access token) travel in the metadata too.

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	nacospb "github.com/nacos-group/nacos-sdk-go/v2/api/grpc"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"google.golang.org/protobuf/types/known/anypb"
)

// clientVersion is what the connection setup says the client is. Servers read capabilities from
// the version; this client speaks what nacos-sdk-go v2.3 speaks.
const clientVersion = "Nacos-Go-Client:v2.3.2"

const (
	moduleInternal = "internal"
	moduleNaming   = "naming"

	// codeOK is a successful result; codeUnauthorized is the answer to a missing or expired token.
	codeOK           = 200
	codeUnauthorized = 403
	// codeUnsupported answers a server request this client does not know.
	codeUnsupported = 501
)

// request is a message the client sends; its Go type says its protocol type.
type request interface{ requestType() string }

type internalRequest struct {
	RequestID string `json:"requestId"`
	Module    string `json:"module"`
}

type serverCheckRequest struct{ internalRequest }

type healthCheckRequest struct{ internalRequest }

type connectionSetupRequest struct {
	internalRequest
	ClientVersion   string            `json:"clientVersion"`
	Tenant          string            `json:"tenant"`
	Labels          map[string]string `json:"labels"`
	ClientAbilities struct{}          `json:"clientAbilities"`
}

type namingRequest struct {
	RequestID   string `json:"requestId"`
	Module      string `json:"module"`
	Namespace   string `json:"namespace"`
	ServiceName string `json:"serviceName"`
	GroupName   string `json:"groupName"`
}

type instanceRequest struct {
	namingRequest
	Type     string         `json:"type"` // registerInstance or deregisterInstance
	Instance model.Instance `json:"instance"`
}

type serviceListRequest struct {
	namingRequest
	PageNo   int    `json:"pageNo"`
	PageSize int    `json:"pageSize"`
	Selector string `json:"selector"`
}

type serviceQueryRequest struct {
	namingRequest
	Cluster     string `json:"cluster"`
	HealthyOnly bool   `json:"healthyOnly"`
	UDPPort     int    `json:"udpPort"`
}

type subscribeRequest struct {
	namingRequest
	Subscribe bool   `json:"subscribe"` // false: unsubscribe
	Clusters  string `json:"clusters"`
}

// notifySubscriberRequest is the server's push of a subscribed service's instance list.
type notifySubscriberRequest struct {
	namingRequest
	ServiceInfo model.Service `json:"serviceInfo"`
}

func (serverCheckRequest) requestType() string     { return "ServerCheckRequest" }
func (healthCheckRequest) requestType() string     { return "HealthCheckRequest" }
func (connectionSetupRequest) requestType() string { return "ConnectionSetupRequest" }
func (instanceRequest) requestType() string        { return "InstanceRequest" }
func (serviceListRequest) requestType() string     { return "ServiceListRequest" }
func (serviceQueryRequest) requestType() string    { return "ServiceQueryRequest" }
func (subscribeRequest) requestType() string       { return "SubscribeServiceRequest" }

func internal() internalRequest { return internalRequest{Module: moduleInternal} }

func naming(namespace, service, group string) namingRequest {
	return namingRequest{Module: moduleNaming, Namespace: namespace, ServiceName: service, GroupName: group}
}

// answer is a message the server answers with (or the client answers a server request with).
type answer interface{ result() *response }

type response struct {
	ResultCode int    `json:"resultCode"`
	ErrorCode  int    `json:"errorCode"`
	Success    *bool  `json:"success,omitempty"` // absent in some servers' answers: resultCode decides
	Message    string `json:"message"`
	RequestID  string `json:"requestId"`
}

func (r *response) result() *response { return r }

func (r *response) ok() bool {
	if r.Success != nil {
		return *r.Success
	}
	return r.ResultCode == codeOK
}

type serverCheckResponse struct {
	response
	ConnectionID string `json:"connectionId"`
}

// serviceResponse answers a ServiceQueryRequest or a SubscribeServiceRequest.
type serviceResponse struct {
	response
	ServiceInfo model.Service `json:"serviceInfo"`
}

type serviceListResponse struct {
	response
	Count        int      `json:"count"`
	ServiceNames []string `json:"serviceNames"`
}

// responseType is the type of the answer to a request of type requestType.
func responseType(requestType string) string {
	return strings.TrimSuffix(requestType, "Request") + "Response"
}

// answerTypeOf is the answer type expected for r, as servers name them.
func answerTypeOf(r request) string {
	switch r.(type) {
	case serviceQueryRequest:
		return "QueryServiceResponse"
	case subscribeRequest:
		return "SubscribeServiceResponse"
	}
	return responseType(r.requestType())
}

// serverError is a request the server answered with a failure.
type serverError struct {
	code    int
	message string
}

func (e *serverError) Error() string {
	msg := e.message
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return fmt.Sprintf("server answered %d: %s", e.code, msg)
}

func isUnauthorized(err error) bool {
	var se *serverError
	return errors.As(err, &se) && se.code == codeUnauthorized
}

// encode wraps message in a payload of type typ.
func encode(typ string, headers map[string]string, message any) (*nacospb.Payload, error) {
	body, err := json.Marshal(message)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", typ, err)
	}
	return &nacospb.Payload{
		Metadata: &nacospb.Metadata{Type: typ, Headers: headers},
		Body:     &anypb.Any{Value: body},
	}, nil
}

// decode reads the server's answer to a request into out: an error when the server answered
// with a failure, with an ErrorResponse or with an answer of another type than want.
func decode(p *nacospb.Payload, want string, out answer) error {
	typ := p.GetMetadata().GetType()
	body := p.GetBody().GetValue()
	if typ != want && typ != "ErrorResponse" {
		return fmt.Errorf("answer of type %q, want %q", typ, want)
	}
	var err error
	if typ == want {
		err = json.Unmarshal(body, out)
	} else {
		err = json.Unmarshal(body, out.result())
	}
	if err != nil {
		return fmt.Errorf("decode %s: %w", typ, err)
	}
	r := out.result()
	if typ == want && r.ok() {
		return nil
	}
	code := r.ErrorCode
	if code == 0 {
		code = r.ResultCode
	}
	return &serverError{code: code, message: r.Message}
}
