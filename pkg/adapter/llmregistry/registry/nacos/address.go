package nacos

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

const (
	defaultPort        = 8848
	defaultContextPath = "/nacos"
)

// Server is one Nacos server of an address list.
type Server struct {
	Scheme string // http or https
	// Host is a host name or IP address; an IPv6 address is bracketed.
	Host string
	Port int
	// ContextPath is the path the Nacos API is served under, "/nacos" by default.
	ContextPath string
}

// base is the URL prefix of the server's API, e.g. http://127.0.0.1:8848/nacos.
func (s Server) base() string {
	return s.Scheme + "://" + s.Host + ":" + strconv.Itoa(s.Port) + s.ContextPath
}

// ParseAddresses reads a comma-separated Nacos server list (the registry config's address). Each entry is host,
// host:port or http(s)://host:port[/context-path]; the port defaults to 8848 and the context
// path to /nacos.
func ParseAddresses(list string) ([]Server, error) {
	var out []Server
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

func parseAddress(entry string) (Server, error) {
	sc := Server{Scheme: "http", ContextPath: defaultContextPath}
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
		host = "[" + host + "]"
	}
	sc.Host, sc.Port = host, port
	return sc, nil
}
