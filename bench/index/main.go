// Command index benchmarks the known-material index at list scale: it writes
// a hash list of N codes (random, or near-duplicate families as real lists
// have), compiles it the way `vigil index build` does, then loads the
// compiled file in a fresh process pinned to one core (GOMAXPROCS=1) and
// times queries there, beside the linear scan of the same data, so that the
// resident memory it reports is the index's and nothing else's.
//
//	go run ./bench/index -algo pdq -data random -n 10000000 -r 31
//
// Goals (issue 4) at 10M codes: resident < 1 GiB, median <= 20 us and
// p99 <= 100 us per query at r=31 (PDQ) or r=8 (pHash), build <= 60 s,
// load <= 5 s.
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilstream/vigil/detector"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/index:", err)
		os.Exit(1)
	}
}

type config struct {
	algo     detector.Algorithm
	data     string
	n        int
	r        int
	queries  int
	linear   int
	dir      string
	child    string
	list     string
	index    string
	qfile    string
	keepList bool
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench/index", flag.ContinueOnError)
	var c config
	algo := fs.String("algo", "pdq", "pdq or phash")
	fs.StringVar(&c.data, "data", "random", "random or clustered")
	fs.IntVar(&c.n, "n", 10_000_000, "codes in the list")
	fs.IntVar(&c.r, "r", -1, "query radius (default: 31 for pdq, 8 for phash)")
	fs.IntVar(&c.queries, "queries", 20000, "queries timed one by one")
	fs.IntVar(&c.linear, "linear", 30, "queries timed with the linear scan")
	fs.StringVar(&c.dir, "dir", "bench/out", "where lists and indexes go")
	fs.BoolVar(&c.keepList, "keep", true, "reuse a list file from an earlier run")
	fs.StringVar(&c.child, "child", "", "internal: build or query")
	fs.StringVar(&c.list, "list", "", "internal")
	fs.StringVar(&c.index, "index", "", "internal")
	fs.StringVar(&c.qfile, "qfile", "", "internal")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if c.algo, err = detector.ParseAlgorithm(*algo); err != nil {
		return err
	}
	if c.r < 0 {
		c.r = map[detector.Algorithm]int{detector.PDQ: 31, detector.PHash: 8}[c.algo]
	}
	switch c.child {
	case "build":
		return childBuild(c, stdout)
	case "query":
		return childQuery(c, stdout)
	case "":
		return parent(ctx, c, stdout)
	default:
		return fmt.Errorf("unknown -child %q", c.child)
	}
}

// result is what the children report, merged.
type result struct {
	Algo          string  `json:"algo"`
	Data          string  `json:"data"`
	N             int     `json:"n"`
	R             int     `json:"r"`
	BuildSeconds  float64 `json:"build_s"`
	BuildPeakMiB  float64 `json:"build_peak_rss_mib"`
	FileMiB       float64 `json:"file_mib"`
	LoadSeconds   float64 `json:"load_s"`
	RSSMiB        float64 `json:"rss_mib"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`
	HugeMiB       float64 `json:"huge_mib"`
	Slots         []int   `json:"slot_bits"`
	MedianUS      float64 `json:"median_us"`
	P99US         float64 `json:"p99_us"`
	P999US        float64 `json:"p999_us"`
	MaxUS         float64 `json:"max_us"`
	CPUMedianUS   float64 `json:"cpu_median_us"`
	CPUP99US      float64 `json:"cpu_p99_us"`
	CPUP999US     float64 `json:"cpu_p999_us"`
	LoadAvg       string  `json:"loadavg"`
	MissMedianUS  float64 `json:"miss_median_us"`
	NearMedianUS  float64 `json:"near_median_us"`
	MeanMatches   float64 `json:"mean_matches"`
	LinearMedUS   float64 `json:"linear_median_us"`
	BatchQPS      float64 `json:"batch1000_queries_per_s"`
	LinearQPS     float64 `json:"linear_queries_per_s"`
	SameAsLinear  bool    `json:"same_as_linear"`
	GOMAXPROCS    int     `json:"gomaxprocs"`
	QueriesTimed  int     `json:"queries_timed"`
	LinearQueries int     `json:"linear_queries"`
}

func parent(ctx context.Context, c config, stdout io.Writer) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(c.dir, fmt.Sprintf("%s-%s-%d", c.algo, c.data, c.n))
	list, qfile, index := base+".txt", base+fmt.Sprintf("-r%d.queries", c.r), base+".vidx"
	if _, err := os.Stat(list); err != nil || !c.keepList {
		fmt.Fprintf(os.Stderr, "writing %s ...\n", list)
		if err := writeList(c, list, qfile); err != nil {
			return err
		}
	} else if _, err := os.Stat(qfile); err != nil {
		if err := writeList(c, list, qfile); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var res result
	fmt.Fprintln(os.Stderr, "building ...")
	if err := runChild(ctx, self, &res, "-child", "build", "-algo", c.algo.String(), "-list", list, "-index", index); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "loading and querying on one core ...")
	if err := runChild(ctx, self, &res, "-child", "query", "-algo", c.algo.String(), "-index", index, "-qfile", qfile,
		"-r", strconv.Itoa(c.r), "-queries", strconv.Itoa(c.queries), "-linear", strconv.Itoa(c.linear)); err != nil {
		return err
	}
	res.Algo, res.Data, res.N, res.R = c.algo.String(), c.data, c.n, c.r
	fmt.Fprintf(stdout, "%s %s n=%d r=%d: build %.1fs (peak %.0f MiB), file %.0f MiB, load %.2fs, RSS %.0f MiB (peak %.0f, on huge pages %.0f), slots %v\n",
		res.Algo, res.Data, res.N, res.R, res.BuildSeconds, res.BuildPeakMiB, res.FileMiB, res.LoadSeconds, res.RSSMiB, res.PeakRSSMiB, res.HugeMiB, res.Slots)
	fmt.Fprintf(stdout, "  thread CPU per query: median %.1f us, p99 %.1f us, p99.9 %.1f us (load average while timing: %s)\n",
		res.CPUMedianUS, res.CPUP99US, res.CPUP999US, res.LoadAvg)
	fmt.Fprintf(stdout, "  query wall time: median %.1f us (miss %.1f, near %.1f), p99 %.1f us, p99.9 %.1f us, max %.0f us; linear median %.0f us; batch of 1000: %.0f queries/s (linear %.0f); same answers as linear: %v\n",
		res.MedianUS, res.MissMedianUS, res.NearMedianUS, res.P99US, res.P999US, res.MaxUS, res.LinearMedUS, res.BatchQPS, res.LinearQPS, res.SameAsLinear)
	js, _ := json.Marshal(res)
	fmt.Fprintf(stdout, "  %s\n", js)
	return nil
}

func runChild(ctx context.Context, self string, res *result, args ...string) error {
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("%s: %w", strings.Join(args[:2], " "), err)
	}
	return json.Unmarshal(out, res)
}

// writeList writes n codes as a hex list and the query file: half random
// codes (misses), half listed codes moved by up to r/2 bits (near hits).
func writeList(c config, list, qfile string) error {
	rng := rand.New(rand.NewPCG(1, uint64(c.n)))
	words := c.algo.Bits() / 64
	randCode := func() detector.Code {
		var code detector.Code
		for i := range words {
			code[i] = rng.Uint64()
		}
		return code
	}
	flip := func(code detector.Code, d int) detector.Code {
		for range d {
			b := rng.IntN(c.algo.Bits())
			code[b/64] ^= 1 << uint(63-b%64)
		}
		return code
	}
	f, err := os.Create(list)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var sample []detector.Code
	var buf [32]byte
	hexBuf := make([]byte, 64)
	written := 0
	for written < c.n {
		baseCode := randCode()
		members := 1
		if c.data == "clustered" {
			members = 1 + rng.IntN(20)
		}
		for m := 0; m < members && written < c.n; m++ {
			code := baseCode
			if c.data == "clustered" {
				code = flip(baseCode, rng.IntN(c.algo.Bits()/8))
			}
			for i := range words {
				for j := range 8 {
					buf[i*8+j] = byte(code[i] >> (56 - 8*j))
				}
			}
			hex.Encode(hexBuf, buf[:words*8])
			w.Write(hexBuf[:words*16])
			if written%10 == 0 {
				w.WriteString(",category-a")
			}
			w.WriteByte('\n')
			if rng.IntN(c.n/20000+1) == 0 {
				sample = append(sample, code)
			}
			written++
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	q, err := os.Create(qfile)
	if err != nil {
		return err
	}
	qw := bufio.NewWriter(q)
	for i := range max(c.queries, 1000) {
		var h detector.Hash
		if i%2 == 0 || len(sample) == 0 {
			h = detector.Hash{Algorithm: c.algo, Code: randCode()}
		} else {
			h = detector.Hash{Algorithm: c.algo, Code: flip(sample[rng.IntN(len(sample))], rng.IntN(c.r/2+1))}
		}
		kind := "miss"
		if i%2 == 1 {
			kind = "near"
		}
		fmt.Fprintf(qw, "%s %s\n", h, kind)
	}
	if err := qw.Flush(); err != nil {
		return err
	}
	return q.Close()
}

func childBuild(c config, stdout io.Writer) error {
	start := time.Now()
	var b detector.Builder
	st, err := b.AddListFile(c.list, detector.ListOptions{})
	if err != nil {
		return err
	}
	x, err := b.Build()
	if err != nil {
		return err
	}
	if err := x.WriteFile(c.index); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	fi, err := os.Stat(c.index)
	if err != nil {
		return err
	}
	if st.Entries != c.n && c.n > 0 && st.Entries == 0 {
		return errors.New("no entries")
	}
	return json.NewEncoder(stdout).Encode(map[string]any{
		"build_s":            secs,
		"build_peak_rss_mib": procMiB("status", "VmHWM"),
		"file_mib":           float64(fi.Size()) / (1 << 20),
	})
}

func childQuery(c config, stdout io.Writer) error {
	start := time.Now()
	x, err := detector.LoadIndex(c.index)
	if err != nil {
		return err
	}
	load := time.Since(start).Seconds()
	runtime.GC()
	rss := procMiB("status", "VmRSS")
	huge := procMiB("smaps_rollup", "AnonHugePages")

	data, err := os.ReadFile(c.qfile)
	if err != nil {
		return err
	}
	var qs []detector.Hash
	var near []bool
	for line := range strings.Lines(string(data)) {
		hexPart, kind, _ := strings.Cut(strings.TrimSpace(line), " ")
		h, err := detector.ParseHash(hexPart)
		if err != nil {
			return err
		}
		qs = append(qs, h)
		near = append(near, kind == "near")
	}
	// Warm up: code paths, pools, page-ins of the tables.
	var dst []detector.Match
	for i := range min(len(qs), 2000) {
		dst = x.Query(qs[i], c.r, dst[:0])
	}
	n := min(c.queries, len(qs))
	runtime.LockOSThread()
	lat := make([]time.Duration, n)
	cpu := make([]time.Duration, n)
	var missLat, nearLat []time.Duration
	matches := 0
	// Thread CPU time is taken in a pass of its own: its system call costs
	// more than the clock read and, with page-table isolation, leaves the
	// TLB cold for the next query.
	for i := range n {
		c0 := threadCPU()
		dst = x.Query(qs[i], c.r, dst[:0])
		cpu[i] = threadCPU() - c0
	}
	for i := range n {
		t0 := time.Now()
		dst = x.Query(qs[i], c.r, dst[:0])
		lat[i] = time.Since(t0)
		matches += len(dst)
		if near[i] {
			nearLat = append(nearLat, lat[i])
		} else {
			missLat = append(missLat, lat[i])
		}
	}
	same := true
	var linLat []time.Duration
	for i := range min(c.linear, len(qs)) {
		t0 := time.Now()
		lin := x.QueryLinear(qs[i], c.r, nil)
		linLat = append(linLat, time.Since(t0))
		got := x.Query(qs[i], c.r, nil)
		if !slices.EqualFunc(lin, got, func(a, b detector.Match) bool { return a == b }) {
			same = false
		}
	}
	batch := qs[:min(1000, len(qs))]
	var res []detector.Result
	res = x.QueryBatch(batch, c.r, res[:0])
	t0 := time.Now()
	rounds := 0
	for time.Since(t0) < 3*time.Second || rounds < 3 {
		res = x.QueryBatch(batch, c.r, res[:0])
		rounds++
	}
	qps := float64(rounds*len(batch)) / time.Since(t0).Seconds()

	st := x.Stats()
	var slots []int
	for _, t := range st.Tables {
		slots = append(slots, t.SlotBits...)
	}
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	pct := func(l []time.Duration, p float64) time.Duration {
		if len(l) == 0 {
			return 0
		}
		s := slices.Clone(l)
		slices.Sort(s)
		return s[min(len(s)-1, int(p*float64(len(s))))]
	}
	return json.NewEncoder(stdout).Encode(map[string]any{
		"load_s":                  load,
		"rss_mib":                 rss,
		"peak_rss_mib":            procMiB("status", "VmHWM"),
		"huge_mib":                huge,
		"slot_bits":               slots,
		"median_us":               us(pct(lat, 0.5)),
		"p99_us":                  us(pct(lat, 0.99)),
		"p999_us":                 us(pct(lat, 0.999)),
		"max_us":                  us(pct(lat, 1)),
		"cpu_median_us":           us(pct(cpu, 0.5)),
		"cpu_p99_us":              us(pct(cpu, 0.99)),
		"cpu_p999_us":             us(pct(cpu, 0.999)),
		"loadavg":                 loadavg(),
		"miss_median_us":          us(pct(missLat, 0.5)),
		"near_median_us":          us(pct(nearLat, 0.5)),
		"mean_matches":            float64(matches) / float64(max(n, 1)),
		"linear_median_us":        us(pct(linLat, 0.5)),
		"batch1000_queries_per_s": qps,
		"linear_queries_per_s":    1e6 / max(us(pct(linLat, 0.5)), 1e-9),
		"same_as_linear":          same,
		"gomaxprocs":              runtime.GOMAXPROCS(0),
		"queries_timed":           n,
		"linear_queries":          len(linLat),
	})
}

// loadavg is the machine's 1-minute load average, to judge the wall times.
func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// procMiB reads a memory figure of this process from /proc/self/file
// (status, smaps_rollup).
func procMiB(file, field string) float64 {
	data, err := os.ReadFile("/proc/self/" + file)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
