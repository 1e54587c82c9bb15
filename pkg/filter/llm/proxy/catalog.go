package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pixiu-llm/gateway/pkg/cluster"
	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/common/openaierror"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// The model catalog: GET <route prefix>/models and GET <route prefix>/models/{id} are answered
// by the gateway, in OpenAI's shapes, from the live cluster snapshots: the models listed
// (llm_meta.models, registry llm-meta.models) by endpoints of the route's clusters that are not
// cooling down. Endpoints that list no models contribute nothing. A model served by several
// clusters appears once, owned by the first cluster in the route's order. On a route to a
// cluster none of whose endpoints lists models, the request goes upstream as before: clients
// that fill a model picker from /v1/models keep working with configs that list no models.

// modelObject is one model in OpenAI's shape.
type modelObject struct {
	ID     string `json:"id"`
	Object string `json:"object"`
	// Created is when this gateway process first saw an endpoint serving the model (unix
	// seconds): the gateway does not know when the provider created it.
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type modelList struct {
	Object string        `json:"object"`
	Data   []modelObject `json:"data"`
}

// catalog remembers when each model was first seen, for modelObject.Created.
type catalog struct {
	firstSeen sync.Map // model name → unix seconds
}

// catalogRequest reports whether r asks for the catalog of its route, and which model ("" for
// the list). Only GET and HEAD on routes matched by prefix are the catalog's.
func catalogRequest(r *http.Request, route *model.RouteAction) (id string, ok bool) {
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || route.MatchPrefix == "" {
		return "", false
	}
	base := strings.TrimSuffix(route.MatchPrefix, "/") + "/models"
	rest, ok := strings.CutPrefix(r.URL.Path, base)
	switch {
	case !ok:
		return "", false
	case rest == "" || rest == "/":
		return "", true
	case rest[0] == '/':
		// Model ids may contain slashes (meta-llama/Llama-3.1-8B-Instruct).
		return rest[1:], true
	}
	return "", false
}

// serveCatalog answers a catalog request of the route and reports true, or reports false when
// r is not one.
func (p *Proxy) serveCatalog(w http.ResponseWriter, r *http.Request, route *model.RouteAction) bool {
	id, ok := catalogRequest(r, route)
	if !ok {
		return false
	}
	clusters := p.routeClusters(route)
	if !route.ModelRouting && (len(clusters) == 0 || !clusters[0].ListsModels()) {
		return false
	}
	models := p.catalog.list(clusters, time.Now())
	if id == "" {
		writeJSON(w, http.StatusOK, modelList{Object: "list", Data: models})
		return true
	}
	i, found := slices.BinarySearchFunc(models, id, func(m modelObject, id string) int { return strings.Compare(m.ID, id) })
	if !found {
		writeModelNotFound(w, id)
		return true
	}
	writeJSON(w, http.StatusOK, models[i])
	return true
}

// list returns the models served at now by clusters, sorted by id, each once: owned by the
// first cluster serving it.
func (cat *catalog) list(clusters []*cluster.Cluster, now time.Time) []modelObject {
	out := []modelObject{}
	seen := map[string]bool{}
	for _, c := range clusters {
		for _, name := range c.ServedModels(now) {
			if seen[name] {
				continue
			}
			seen[name] = true
			out = append(out, modelObject{ID: name, Object: "model", Created: cat.created(name, now), OwnedBy: c.Name})
		}
	}
	slices.SortFunc(out, func(a, b modelObject) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (cat *catalog) created(name string, now time.Time) int64 {
	v, _ := cat.firstSeen.LoadOrStore(name, now.Unix())
	return v.(int64)
}

// routeClusters returns the current snapshots of the clusters a route sends requests to, in
// order of preference: its cluster; with model_routing, its clusters list, else every cluster
// by name. Clusters that do not exist (yet) are left out.
func (p *Proxy) routeClusters(route *model.RouteAction) []*cluster.Cluster {
	if !route.ModelRouting {
		if c := p.clusters.Cluster(route.Cluster); c != nil {
			return []*cluster.Cluster{c}
		}
		return nil
	}
	if len(route.Clusters) == 0 {
		if lister, ok := p.clusters.(filter.ClusterLister); ok {
			return lister.Clusters()
		}
		return nil
	}
	out := make([]*cluster.Cluster, 0, len(route.Clusters))
	for _, name := range route.Clusters {
		if c := p.clusters.Cluster(name); c != nil {
			out = append(out, c)
		}
	}
	return out
}

func writeModelNotFound(w http.ResponseWriter, id string) {
	const maxShown = 200 // the name comes from the client: bound what is echoed
	if len(id) > maxShown {
		id = id[:maxShown] + "…"
	}
	openaierror.Write(w, http.StatusNotFound, openaierror.TypeInvalidRequest, "model_not_found",
		fmt.Sprintf("The model `%s` is not served by this route.", id))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		openaierror.Write(w, http.StatusInternalServerError, openaierror.TypeServer, "internal_error", "could not encode the answer")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
