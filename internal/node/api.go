package node

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/signal"
)

//go:embed openapi.json
var openAPIDoc []byte

// apiRoute is one admin API operation; the OpenAPI document lists the same
// set, and a test holds the two together.
type apiRoute struct {
	method, path string
	handler      func(*Node, http.ResponseWriter, *http.Request)
}

var apiRoutes = []apiRoute{
	{"GET", "/api/streams", (*Node).apiStreams},
	{"GET", "/api/streams/{id}", (*Node).apiStream},
	{"POST", "/api/streams/{id}/block", (*Node).apiBlock},
	{"GET", "/api/index", (*Node).apiIndex},
	{"POST", "/api/index/reload", (*Node).apiIndexReload},
	{"POST", "/api/joins", (*Node).apiJoin},
	{"GET", "/api/blocklist", (*Node).apiBlocklist},
	{"DELETE", "/api/blocklist/{kind}/{value}", (*Node).apiUnblock},
	{"GET", "/api/openapi.json", (*Node).apiOpenAPI},
}

// maxAPIBody bounds request bodies of the admin API.
const maxAPIBody = 16 << 10

func (n *Node) apiRoutes(mux *http.ServeMux) {
	for _, rt := range apiRoutes {
		h := rt.handler
		mux.Handle(rt.method+" "+rt.path, n.requireAdmin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, maxAPIBody)
			h(n, w, r)
		})))
	}
	mux.Handle("/api/", n.requireAdmin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API route: "+r.Method+" "+r.URL.Path)
	})))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// streamJSON is a live stream as the API shows it.
type streamJSON struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Session      string     `json:"session"`
	Protocol     string     `json:"protocol"`
	RemoteAddr   string     `json:"remote_addr"`
	StartedAt    time.Time  `json:"started_at"`
	Codec        string     `json:"codec,omitempty"`
	Width        int        `json:"width,omitempty"`
	Height       int        `json:"height,omitempty"`
	FPS          float64    `json:"fps"`
	Policy       string     `json:"policy"`
	Units        uint64     `json:"units"`
	Decoded      uint64     `json:"decoded"`
	Samples      uint64     `json:"samples"`
	Dropped      uint64     `json:"dropped"`
	DecodeErrors uint64     `json:"decode_errors"`
	FullDecode   bool       `json:"full_decode"`
	LastSampleAt *time.Time `json:"last_sample_at"`
	BestDistance *int       `json:"best_distance"`
	Matches      int        `json:"matches"`
	History      []float64  `json:"history,omitempty"`
}

func (n *Node) describe(st *ingest.Stream, withHistory bool) streamJSON {
	j := streamJSON{
		ID: st.ID, Name: st.Name, Session: st.Session, Protocol: st.Protocol, RemoteAddr: st.Remote,
		StartedAt: st.Started.UTC(), Policy: n.sampling.Policy.String(),
		Units: st.Stats.Units.Load(), Decoded: st.Stats.Decoded.Load(), Samples: st.Stats.Sampled.Load(),
		Dropped: st.Stats.Dropped.Load() + st.QueueDropped(), DecodeErrors: st.Stats.DecodeErrors.Load(),
		FullDecode: st.Stats.FullDecode.Load(),
		Width:      int(st.Stats.Width.Load()), Height: int(st.Stats.Height.Load()),
	}
	if p := st.Params(); p != nil {
		j.Codec = p.Codec.String()
	}
	j.FPS = math.Round(st.Stats.FPS()*100) / 100
	if ns := st.Stats.LastSample.Load(); ns != 0 {
		t := time.Unix(0, ns).UTC()
		j.LastSampleAt = &t
	}
	best, matches, history := n.view(st).snapshot()
	if best >= 0 {
		j.BestDistance = &best
	}
	j.Matches = matches
	if withHistory {
		j.History = history
	}
	return j
}

func (n *Node) apiStreams(w http.ResponseWriter, _ *http.Request) {
	out := []streamJSON{}
	for _, st := range n.reg.List() {
		out = append(out, n.describe(st, false))
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": n.cfg.NodeID, "streams": out})
}

// lookup finds a live stream by id, or by its name (ids contain '%', which
// a client must escape again in a URL; a name is often what it has).
func (n *Node) lookup(r *http.Request) *ingest.Stream {
	v := r.PathValue("id")
	if st := n.reg.Get(v); st != nil {
		return st
	}
	if id, err := ingest.StreamID(v); err == nil {
		return n.reg.Get(id)
	}
	return nil
}

func (n *Node) apiStream(w http.ResponseWriter, r *http.Request) {
	st := n.lookup(r)
	if st == nil {
		writeError(w, http.StatusNotFound, "no live stream "+r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, n.describe(st, true))
}

// apiBlock publishes a manual block for a live stream. It goes out as a
// signal like any other, so every node and enforcement service sees it;
// when NATS cannot take it the node enforces it locally.
func (n *Node) apiBlock(w http.ResponseWriter, r *http.Request) {
	st := n.lookup(r)
	if st == nil {
		writeError(w, http.StatusNotFound, "no live stream "+r.PathValue("id"))
		return
	}
	var body struct {
		Note string `json:"note"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			writeError(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
	}
	if len(body.Note) > 1024 {
		writeError(w, http.StatusBadRequest, "note longer than 1024 bytes")
		return
	}
	started := st.Started.UTC()
	ev := signal.NewBlockEvent("vigil://node/"+n.cfg.NodeID+"/api", signal.Block{
		Stream: signal.StreamRef{ID: st.ID, Name: st.Name, Session: st.Session, Protocol: st.Protocol,
			RemoteAddr: st.Remote, Node: n.cfg.NodeID, StartedAt: &started},
		Reason: signal.ReasonManual, Note: body.Note,
	})
	ctx, cancel := context.WithTimeout(r.Context(), n.cfg.PublishTimeout)
	defer cancel()
	enforced := "signal"
	if err := n.sendBlock(ctx, ev); err != nil {
		n.metrics.signalsFailed.Inc()
		n.metrics.localEnforce.Inc()
		n.log.Error("manual block not acknowledged; enforcing locally, the outbox keeps it", "stream", st.ID, "event", ev.ID, "err", err)
		n.enforce(ev)
		enforced = "local"
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"event": ev.ID, "stream": st.ID, "enforced": enforced})
}

// apiBlocklist lists the node's copy of the fleet's blocklist: what its
// admission refuses.
func (n *Node) apiBlocklist(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"node": n.cfg.NodeID, "entries": n.sig.blocklist.list(time.Now())})
}

// apiUnblock lifts one block in the fleet's bucket, so every node's watcher
// drops it, and in the node's copy at once. An entry the node applied
// while NATS was down exists only in its copy and is lifted there.
func (n *Node) apiUnblock(w http.ResponseWriter, r *http.Request) {
	kind := r.PathValue("kind")
	value, err := signal.NormalizeBlockValue(kind, r.PathValue("value"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	key := signal.BlocklistKey(kind, value)
	_, local := n.sig.blocklist.get(key, time.Now())
	ctx, cancel := context.WithTimeout(r.Context(), n.cfg.PublishTimeout)
	defer cancel()
	err = n.bus.DeleteBlocklist(ctx, kind, value)
	switch {
	case err == nil, errors.Is(err, signal.ErrNotBlocked) && local:
	case errors.Is(err, signal.ErrNotBlocked):
		writeError(w, http.StatusNotFound, "not blocklisted: "+key)
		return
	default:
		n.log.Warn("block not lifted: the fleet's blocklist is unreachable", "entry", key, "err", err)
		writeError(w, http.StatusServiceUnavailable, "the fleet's blocklist is unreachable; the block stays: "+err.Error())
		return
	}
	n.sig.blocklist.del(key)
	n.log.Info("block lifted", "entry", key, "via", "api")
	writeJSON(w, http.StatusOK, map[string]string{"lifted": key, "kind": kind, "value": value})
}

func (n *Node) apiIndex(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, n.indexInfo())
}

func (n *Node) apiIndexReload(w http.ResponseWriter, _ *http.Request) {
	info, err := n.ReloadIndex()
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": err.Error(), "index": info})
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// joinRequest asks the node to watch a stream it does not host.
type joinRequest struct {
	URL      string `json:"url"`
	Name     string `json:"name"`
	Protocol string `json:"protocol"` // "whep" or "pull"
	Token    string `json:"token,omitempty"`
}

func (n *Node) apiJoin(w http.ResponseWriter, r *http.Request) {
	var req joinRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	if req.URL == "" || req.Name == "" {
		writeError(w, http.StatusBadRequest, "url and name are required")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	if err := n.Join(ctx, req); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ingest.ErrStreamExists) {
			code = http.StatusConflict
		}
		writeError(w, code, err.Error())
		return
	}
	id, _ := ingest.StreamID(req.Name)
	writeJSON(w, http.StatusAccepted, map[string]string{"stream": id, "protocol": req.Protocol})
}

func (n *Node) apiOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
}

// Join starts watching a stream served elsewhere: pulled by URL with
// FFmpeg, or joined as a WHEP viewer (which returns once video flows).
func (n *Node) Join(ctx context.Context, req joinRequest) error {
	switch req.Protocol {
	case "pull", "":
		return n.pull(req.URL, req.Name)
	case "whep":
		return n.JoinWHEP(ctx, req.URL, req.Name, req.Token)
	default:
		return fmt.Errorf("protocol %q: want pull or whep", req.Protocol)
	}
}
