package rnacos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// openAPI is a client of r-nacos's Nacos 1.x HTTP open API, raw, so the tests see exactly what
// the server answers.
type openAPI struct {
	t     *testing.T
	addr  string
	token string
}

type host struct {
	InstanceID string            `json:"instanceId"`
	IP         string            `json:"ip"`
	Port       int               `json:"port"`
	Weight     float64           `json:"weight"`
	Healthy    bool              `json:"healthy"`
	Enabled    bool              `json:"enabled"`
	Ephemeral  bool              `json:"ephemeral"`
	Metadata   map[string]string `json:"metadata"`
}

// call sends a request and returns the status and body.
func (a openAPI) call(method, path string, q url.Values) (int, string) {
	a.t.Helper()
	if a.token != "" {
		q.Set("accessToken", a.token)
	}
	req, err := http.NewRequest(method, "http://"+a.addr+path+"?"+q.Encode(), nil)
	require.NoError(a.t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	return resp.StatusCode, string(body)
}

func (a openAPI) mustCall(method, path string, q url.Values) string {
	a.t.Helper()
	status, body := a.call(method, path, q)
	require.Equal(a.t, http.StatusOK, status, "%s %s: %s", method, path, body)
	return body
}

func instanceParams(service, group string, port int) url.Values {
	return url.Values{
		"serviceName": {service}, "groupName": {group}, "ip": {"127.0.0.1"},
		"port": {strconv.Itoa(port)}, "ephemeral": {"true"},
	}
}

func (a openAPI) register(service, group string, port int, meta map[string]string) {
	a.t.Helper()
	q := instanceParams(service, group, port)
	md, err := json.Marshal(meta)
	require.NoError(a.t, err)
	q.Set("metadata", string(md))
	q.Set("weight", "1")
	a.mustCall(http.MethodPost, "/nacos/v1/ns/instance", q)
}

func (a openAPI) deregister(service, group string, port int) {
	a.t.Helper()
	a.mustCall(http.MethodDelete, "/nacos/v1/ns/instance", instanceParams(service, group, port))
}

// beat sends the heartbeat nacos-sdk-go v1 sends and returns the answer.
func (a openAPI) beat(service, group string, port int) string {
	a.t.Helper()
	beat := fmt.Sprintf(`{"serviceName":%q,"ip":"127.0.0.1","port":%d,"weight":1}`, group+"@@"+service, port)
	return a.mustCall(http.MethodPut, "/nacos/v1/ns/instance/beat", url.Values{
		"serviceName": {group + "@@" + service}, "groupName": {group}, "beat": {beat},
	})
}

// instances reads an instance list the way nacos-sdk-go v1 does: group@@service.
func (a openAPI) instances(service, group string) []host {
	a.t.Helper()
	body := a.mustCall(http.MethodGet, "/nacos/v1/ns/instance/list", url.Values{"serviceName": {group + "@@" + service}})
	var out struct{ Hosts []host }
	require.NoError(a.t, json.Unmarshal([]byte(body), &out), body)
	return out.Hosts
}

func (a openAPI) servicePage(group string, page, size int) (names []string, count int) {
	a.t.Helper()
	body := a.mustCall(http.MethodGet, "/nacos/v1/ns/service/list", url.Values{
		"groupName": {group}, "pageNo": {strconv.Itoa(page)}, "pageSize": {strconv.Itoa(size)},
	})
	var out struct {
		Count int      `json:"count"`
		Doms  []string `json:"doms"`
	}
	require.NoError(a.t, json.Unmarshal([]byte(body), &out), body)
	return out.Doms, out.Count
}

// allServices walks the service list until a short page.
func (a openAPI) allServices(group string, size int) []string {
	a.t.Helper()
	var names []string
	for page := 1; page <= 100; page++ {
		doms, _ := a.servicePage(group, page, size)
		names = append(names, doms...)
		if len(doms) < size {
			break
		}
	}
	return names
}

// rssKiB is the resident memory of a process, from /proc/<pid>/status.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			require.NoError(t, err)
			return kib
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

func restartCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
