package nacos

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/nacos-group/nacos-sdk-go/common/constant"
)

const defaultPort = 8848

// ParseAddresses reads a comma-separated Nacos server list (the registry config's address). Each entry is host,
// host:port or http(s)://host:port[/context-path]; the port defaults to 8848 and the context
// path to /nacos.
func ParseAddresses(list string) ([]constant.ServerConfig, error) {
	var out []constant.ServerConfig
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		sc, err := parseAddress(entry)
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", entry, err)
		}
		out = append(out, sc)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("address %q lists no server", list)
	}
	return out, nil
}

func parseAddress(entry string) (constant.ServerConfig, error) {
	sc := constant.ServerConfig{Scheme: "http", ContextPath: constant.DEFAULT_CONTEXT_PATH}
	rest := entry
	if scheme, after, ok := strings.Cut(rest, "://"); ok {
		if scheme != "http" && scheme != "https" {
			return sc, fmt.Errorf("scheme %q is not http or https", scheme)
		}
		sc.Scheme, rest = scheme, after
	}
	if hostPort, path, ok := strings.Cut(rest, "/"); ok {
		rest = hostPort
		if path = strings.Trim(path, "/"); path != "" {
			sc.ContextPath = "/" + path
		}
	}
	host, portStr, err := net.SplitHostPort(rest)
	if err != nil {
		// No port given (a bare IPv6 address must be bracketed to carry one).
		host, portStr = strings.Trim(rest, "[]"), strconv.Itoa(defaultPort)
	}
	if host == "" || strings.ContainsAny(host, " \t/@?#") {
		return sc, fmt.Errorf("host %q is not valid", host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return sc, fmt.Errorf("port %q is not 1-65535", portStr)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // the SDK joins host and port with a plain colon
	}
	sc.IpAddr, sc.Port = host, uint64(port)
	return sc, nil
}
