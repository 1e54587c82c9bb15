package grpcnaming

// Login to a Nacos with auth on: the token every request carries comes from a TokenSource.

import "context"

// accessTokenHeader carries the token in a request's metadata.
const accessTokenHeader = "accessToken"

// TokenSource hands out the access token requests carry, for a Nacos with auth on. The login
// itself goes over the server's HTTP API (nacos.Client is one).
type TokenSource interface {
	// Token returns a valid token, logging in when there is none or it is about to expire.
	Token(ctx context.Context) (string, error)
	// Refused says a server refused token: the next Token logs in again.
	Refused(token string)
}

// tokenHeaders are the headers of a request carrying token.
func tokenHeaders(token string) map[string]string {
	if token == "" {
		return nil
	}
	return map[string]string{accessTokenHeader: token}
}
