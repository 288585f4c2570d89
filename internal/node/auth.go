package node

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// requireAdmin guards the admin API and the status page with the admin
// token: "Authorization: Bearer TOKEN", or HTTP Basic with the token as the
// password so a browser can open the status page. Without a configured
// token every request is refused: the API is off, not open.
func (n *Node) requireAdmin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.cfg.AdminToken == "" {
			writeError(w, http.StatusForbidden, "admin API disabled: start the node with --admin-token")
			return
		}
		if !tokenMatches(r, n.cfg.AdminToken) {
			w.Header().Add("WWW-Authenticate", `Bearer realm="vigil"`)
			w.Header().Add("WWW-Authenticate", `Basic realm="vigil"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong admin token")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func tokenMatches(r *http.Request, want string) bool {
	var got string
	if _, pass, ok := r.BasicAuth(); ok {
		got = pass
	} else if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		got = strings.TrimSpace(v)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
