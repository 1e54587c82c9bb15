package registryproxy

import (
	"encoding/json"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// message is one Nacos gRPC message: a Payload whose metadata names its type and whose body
// is JSON.
type message struct {
	stream uint32
	kind   string // e.g. "ServiceListRequest"; "" when the payload could not be read
	body   []byte
}

// Field numbers of Nacos's Payload (metadata = 2, body = 3), its Metadata (type = 3) and of
// google.protobuf.Any (value = 2).
const (
	payloadMetadata = 2
	payloadBody     = 3
	metadataType    = 3
	anyValue        = 2
)

// decodePayload reads the type and the JSON body of a Payload; what it cannot read stays empty.
func decodePayload(b []byte) message {
	var m message
	if md, ok := field(b, payloadMetadata); ok {
		if t, ok := field(md, metadataType); ok {
			m.kind = string(t)
		}
	}
	if body, ok := field(b, payloadBody); ok {
		m.body, _ = field(body, anyValue)
	}
	if m.kind == "" {
		m.kind = "unreadable message"
	}
	return m
}

// field returns the last value of the length-delimited field num of the protobuf message b.
func field(b []byte, num protowire.Number) ([]byte, bool) {
	var out []byte
	found := false
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return out, found
		}
		b = b[l:]
		if n == num && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return out, found
			}
			out, found = v, true
			b = b[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return out, found
		}
		b = b[l:]
	}
	return out, found
}

// isRequest tells requests (a client's call, or a server's push) from responses.
func (m message) isRequest() bool { return strings.HasSuffix(m.kind, "Request") }

// Messages that carry a service's instance list, and the one that carries the service list.
var instanceLists = map[string]bool{
	"NotifySubscriberRequest":  true,
	"SubscribeServiceResponse": true,
	"QueryServiceResponse":     true,
}

const serviceList = "ServiceListResponse"

// list turns a message carrying a service or instance list into a Response (At unset).
func (m message) list() (Response, bool) {
	switch {
	case m.kind == serviceList:
		return Response{Path: PathServiceList, Body: m.body}, true
	case instanceLists[m.kind]:
		var v struct {
			ServiceInfo struct {
				Name      string `json:"name"`
				GroupName string `json:"groupName"`
			} `json:"serviceInfo"`
		}
		if err := json.Unmarshal(m.body, &v); err != nil {
			return Response{}, false
		}
		service := v.ServiceInfo.Name
		if !strings.Contains(service, "@@") {
			service = v.ServiceInfo.GroupName + "@@" + service
		}
		return Response{Path: PathInstanceList, Service: service, Body: m.body}, true
	}
	return Response{}, false
}
