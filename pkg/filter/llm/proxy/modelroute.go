package proxy

import (
	"errors"
	"net/http"
	"time"

	"github.com/pixiu-llm/gateway/pkg/cluster"
	"github.com/pixiu-llm/gateway/pkg/common/openaierror"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// Routing by model: on a route with model_routing, the body's top-level "model" chooses the
// clusters and, inside each, the endpoints: only endpoints that list the model (llm_meta.models)
// are candidates; endpoints that list no models are never used by such a route. The clusters
// are tried in the route's order (its clusters list, else name order), clusters with an
// endpoint not cooling down first; a request whose endpoints in one cluster all failed, the
// last with fallback on, continues in the next cluster serving the model.

// serveByModel forwards a request of a model_routing route.
func (p *Proxy) serveByModel(w http.ResponseWriter, r *http.Request, route *model.RouteAction) {
	body, err := p.readBody(r)
	if err != nil {
		p.metrics.Request("", "", p.writeBodyError(w, r, err))
		return
	}
	name, err := requestModel(body)
	if err != nil {
		code := "invalid_request_body"
		if errors.Is(err, errNoBody) || errors.Is(err, errNoModel) || errors.Is(err, errModelType) {
			code = "model_required"
		}
		openaierror.Write(w, http.StatusBadRequest, openaierror.TypeInvalidRequest, code, err.Error())
		p.metrics.Request("", "", http.StatusBadRequest)
		return
	}
	views := modelViews(p.routeClusters(route), name, time.Now())
	if len(views) == 0 {
		writeModelNotFound(w, name)
		p.metrics.Request("", "", http.StatusNotFound)
		return
	}
	p.forward(w, r, views[0], views[1:], body)
}

// modelViews narrows clusters to their endpoints listing name, keeping their order but moving
// clusters whose every such endpoint cools down to the end.
func modelViews(clusters []*cluster.Cluster, name string, now time.Time) []*cluster.Cluster {
	views := make([]*cluster.Cluster, 0, len(clusters))
	var cooling []*cluster.Cluster
	for _, c := range clusters {
		switch v := c.ForModel(name); {
		case v == nil:
		case v.Available(now):
			views = append(views, v)
		default:
			cooling = append(cooling, v)
		}
	}
	return append(views, cooling...)
}
