package webrtc

import (
	"crypto/subtle"
	"fmt"
	"strings"
)

// maxTokenBytes bounds a bearer token, configured or presented.
const maxTokenBytes = 512

// minTokenBytes is the shortest token the configuration takes: shorter
// ones are guessable, and "cam=" (a stream whose token was forgotten)
// would otherwise read as the global token "cam=".
const minTokenBytes = 8

// Tokens are the bearer tokens that let a publisher in: global ones for
// any stream and per-stream ones. The zero value lets everyone in.
type Tokens struct {
	global    []string
	perStream map[string][]string
}

// ParseTokens reads a comma-separated list whose entries are TOKEN (any
// stream) or STREAM=TOKEN (that stream only). A token may end in '='
// padding: an entry is STREAM=TOKEN only when it holds a '=' before its
// trailing ones. Tokens are RFC 6750 b64token characters, at least
// minTokenBytes long.
func ParseTokens(list string) (Tokens, error) {
	var t Tokens
	for entry := range strings.SplitSeq(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		stream, token := "", entry
		if i := strings.IndexByte(strings.TrimRight(entry, "="), '='); i >= 0 {
			stream, token = entry[:i], entry[i+1:]
			if stream == "" {
				return Tokens{}, fmt.Errorf("%w: entry %q names no stream", ErrBadToken, entry)
			}
		}
		if !validToken(token) || len(token) < minTokenBytes {
			return Tokens{}, fmt.Errorf("%w: entry %q: want %d to %d characters from A-Z a-z 0-9 -._~+/ with optional trailing =", ErrBadToken, redact(entry), minTokenBytes, maxTokenBytes)
		}
		if stream == "" {
			t.global = append(t.global, token)
			continue
		}
		if t.perStream == nil {
			t.perStream = make(map[string][]string)
		}
		t.perStream[stream] = append(t.perStream[stream], token)
	}
	return t, nil
}

// Empty reports whether no token is configured: then anyone may publish.
func (t Tokens) Empty() bool { return len(t.global) == 0 && len(t.perStream) == 0 }

// Allow reports whether an Authorization header value lets its sender
// publish to stream. Comparisons take constant time in the token.
func (t Tokens) Allow(stream, authorization string) bool {
	if t.Empty() {
		return true
	}
	token, ok := BearerToken(authorization)
	if !ok {
		return false
	}
	allowed := false
	for _, want := range t.global {
		allowed = equalToken(token, want) || allowed
	}
	for _, want := range t.perStream[stream] {
		allowed = equalToken(token, want) || allowed
	}
	return allowed
}

// BearerToken takes the token from an Authorization header value of the
// form "Bearer TOKEN" (the scheme is case-insensitive).
func BearerToken(authorization string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, validToken(token)
}

func equalToken(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// validToken checks RFC 6750's b64token: 1*( ALPHA / DIGIT / "-" / "." /
// "_" / "~" / "+" / "/" ) *"=".
func validToken(s string) bool {
	if s == "" || len(s) > maxTokenBytes {
		return false
	}
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// redact keeps a configuration error from printing a whole secret.
func redact(entry string) string {
	stream, _, ok := strings.Cut(entry, "=")
	if ok {
		return stream + "=…"
	}
	if len(entry) > 4 {
		return entry[:2] + "…"
	}
	return "…"
}
