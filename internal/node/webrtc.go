package node

import "net/http"

// webrtcRoutes registers the WebRTC endpoints (WHIP) on the HTTP listener.
func (n *Node) webrtcRoutes(mux *http.ServeMux) { _ = mux }
