package node

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", n.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /{$}", n.requireAdmin(http.HandlerFunc(n.statusPage)))
	n.apiRoutes(mux)
	n.webrtcRoutes(mux)
	return mux
}

// healthz answers 200 while the node can enforce: NATS connected.
func (n *Node) healthz(w http.ResponseWriter, _ *http.Request) {
	status := struct {
		Status  string `json:"status"`
		NATS    string `json:"nats"`
		Streams int    `json:"streams"`
		Index   int    `json:"index_entries"`
		Outbox  int    `json:"outbox_pending"`
	}{Status: "ok", NATS: n.bus.Conn().Status().String(), Streams: n.reg.Len(), Index: n.Index().Len(), Outbox: n.outboxPending()}
	code := http.StatusOK
	if !n.bus.Conn().IsConnected() {
		status.Status, code = "degraded", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(status)
}

// outboxPending is the number of block signals waiting for JetStream.
func (n *Node) outboxPending() int {
	if n.sig.outbox == nil {
		return 0
	}
	return n.sig.outbox.Len()
}
