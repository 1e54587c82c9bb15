package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/llmprovider"
)

// instanceExample is the instance file the README's Quick start validates.
const instanceExample = "instance.yaml"

func TestShippedInstanceExampleIsAcceptedIntoTheRegistryConfigsCluster(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("../../configs", instanceExample))
	require.NoError(t, err)
	summary, err := llmprovider.CheckFile(data)
	require.NoError(t, err)
	in, _, err := llmprovider.ParseFile(data)
	require.NoError(t, err)

	doc, err := config.LoadFile("../../configs/pixiu-registry.yaml")
	require.NoError(t, err)
	nacos := doc.Bootstrap.StaticResources.Adapters[0].Config["registries"].(map[string]any)["nacos"].(map[string]any)
	assert.Equal(t, nacos["group"], in.Group, "the example registers where the shipped registry config watches")
	assert.Contains(t, strings.Join(summary.Lines(), "\n"), "cluster:   chat")
	assert.True(t, doc.Bootstrap.Admin.Enable, "the Quick start's troubleshooting uses the admin API")
}

// A cluster is a pool of interchangeable providers: the shipped configs never mix provider
// families (told apart by the domain they are served from) in one cluster.
func TestShippedConfigsKeepOneProviderFamilyPerCluster(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	require.NoError(t, err)
	for _, file := range files {
		if filepath.Base(file) == instanceExample {
			continue
		}
		doc, err := config.LoadFile(file)
		require.NoError(t, err, file)
		for _, c := range doc.Bootstrap.StaticResources.Clusters {
			families := map[string]bool{}
			for _, ep := range c.Endpoints {
				if t, err := ep.Address.Target("https"); err == nil && len(ep.Address.Domains) > 0 {
					families[registrableDomain(t.Host)] = true
				}
			}
			assert.LessOrEqual(t, len(families), 1, "%s: cluster %q mixes providers %v", file, c.Name, families)
		}
	}
}

// registrableDomain is the last two labels of a host name: api.deepseek.com -> deepseek.com.
func registrableDomain(host string) string {
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	labels := strings.Split(host, ".")
	if len(labels) <= 2 {
		return host
	}
	return strings.Join(labels[len(labels)-2:], ".")
}
