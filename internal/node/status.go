package node

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// The status page: server-rendered, refreshed by the browser every two
// seconds, no scripts. It shows streams, counters and a chart of each
// stream's best match distance; never a picture.
var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"ago": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return time.Since(*t).Round(100*time.Millisecond).String() + " ago"
	},
	"dist": func(d *int) string {
		if d == nil {
			return "—"
		}
		return fmt.Sprint(*d)
	},
	"chart": distanceChart,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="2">
<title>Vigil {{.Node}}</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#1d2330;background:#f6f7f9}
h1{font-size:1.3em;margin:0 0 .2em} .sub{color:#5b6475;margin-bottom:1em}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002}
th,td{padding:.4em .7em;border-bottom:1px solid #e3e6ec;text-align:left;white-space:nowrap}
th{background:#2b3a55;color:#fff;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums}
.match{color:#b3261e;font-weight:600} .empty{padding:1em;color:#5b6475}
</style></head><body>
<h1>Vigil node {{.Node}}</h1>
<div class="sub">{{len .Streams}} live stream(s) · index {{.Index.Entries}} entries ({{.Index.Version}}) · policy {{.Policy}} · signals waiting for NATS: {{.Outbox}} · {{.Now}}</div>
<table id="streams">
<tr><th>stream</th><th>protocol</th><th>remote</th><th>codec</th><th>resolution</th><th>fps</th><th>samples</th><th>last sample</th><th>best distance</th><th>distance over time</th></tr>
{{range .Streams}}<tr class="stream" data-id="{{.ID}}">
<td>{{.Name}}</td><td>{{.Protocol}}</td><td>{{.RemoteAddr}}</td><td>{{.Codec}}</td><td class="num">{{.Width}}×{{.Height}}</td>
<td class="num">{{printf "%.1f" .FPS}}</td><td class="num">{{.Samples}}</td><td>{{ago .LastSampleAt}}</td>
<td class="num{{if .BestDistance}} match{{end}}">{{dist .BestDistance}}</td><td>{{chart .History}}</td></tr>
{{else}}<tr><td colspan="10" class="empty">No live streams.</td></tr>{{end}}
</table>
</body></html>
`))

type statusData struct {
	Outbox  int
	Node    string
	Now     string
	Policy  string
	Index   indexInfo
	Streams []streamJSON
}

func (n *Node) statusPage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	d := statusData{Outbox: n.outboxPending(), Node: n.cfg.NodeID, Now: time.Now().UTC().Format(time.RFC3339), Policy: n.sampling.Policy.String(), Index: n.indexInfo()}
	for _, st := range n.reg.List() {
		d.Streams = append(d.Streams, n.describe(st, true))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'")
	_ = statusTemplate.Execute(w, d)
}

// distanceChart draws a stream's best match distance per sample as an SVG
// polyline: low is a close match. Samples with no entry within the match
// radius sit at the top, and the dashed line is PDQ's match threshold.
func distanceChart(history []float64) template.HTML {
	const w, h, top = 240.0, 40.0, 64.0
	y := func(d float64) float64 {
		if d < 0 || d > top {
			d = top
		}
		return h - d/top*h
	}
	var pts strings.Builder
	step := w / float64(historyLen-1)
	for i, d := range history {
		x := float64(historyLen-len(history)+i) * step
		fmt.Fprintf(&pts, "%.1f,%.1f ", x, y(d))
	}
	return template.HTML(fmt.Sprintf(`<svg class="chart" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="best match distance over time">`+
		`<rect width="100%%" height="100%%" fill="#eef1f6"/>`+
		`<line x1="0" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#b3261e" stroke-dasharray="3 3" stroke-width="1"/>`+
		`<polyline fill="none" stroke="#2b3a55" stroke-width="1.5" points="%s"/></svg>`,
		w, h, w, h, w, y(31), y(31), strings.TrimSpace(pts.String())))
}
