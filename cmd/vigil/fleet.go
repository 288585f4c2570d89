package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigilstream/vigil/detector"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/ingest/pull"
	"github.com/vigilstream/vigil/internal/signal"
)

const indexPublishUsage = `Usage: vigil index publish [NATS flags] INDEX

Uploads INDEX (a compiled index or a hash list) as the fleet's index, to the
JetStream object store VIGIL_INDEX. Every node watching it (--fleet-index,
on by default) verifies it and swaps it in without dropping a stream; a
node that starts later gets it at start. The file is loaded first, strictly,
and refused here if it does not load, so a damaged file never reaches the
fleet.

Example:
  vigil index publish --nats-url nats://nats-1:4222 lists/current.vidx

Flags:
`

func runIndexPublish(ctx context.Context, args, env []string, io stdio) error {
	fs := flag.NewFlagSet("vigil index publish", flag.ContinueOnError)
	fs.SetOutput(io.err)
	nf := bindNATSFlags(fs, env)
	by := fs.String("by", "", "who publishes, recorded with the index (default user@host)")
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fmt.Fprint(io.out, indexPublishUsage)
			fs.SetOutput(io.out)
			fs.PrintDefaults()
			return nil
		}
	}
	paths, err := indexParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(paths) != 1 {
		fmt.Fprint(io.err, indexPublishUsage)
		return fmt.Errorf("%w: index publish takes one INDEX", errUsage)
	}
	path := paths[0]
	idx, _, err := detector.LoadIndexReport(path, detector.ListOptions{Strict: true})
	if err != nil {
		return fmt.Errorf("index publish: %s does not load, not published: %w", path, err)
	}
	if *by == "" {
		host, _ := os.Hostname()
		*by = envOr(env, "USER", "vigil") + "@" + host
	}
	bus, err := signal.Connect(ctx, nf.bus("vigil index publish"), slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer bus.Close()
	start := time.Now()
	meta, err := bus.PublishIndex(ctx, path, idx.Len(), *by)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.out, "published %s as the fleet index: version %s, %d entries, %d bytes, %s, in %s\n",
		filepath.Base(path), meta.Version, idx.Len(), meta.Size, meta.Digest, time.Since(start).Round(time.Millisecond))
	return nil
}

const jobsUsage = `Usage:
  vigil jobs submit --url URL --name NAME [--protocol pull|whep] [--token T] [--id ID] [NATS flags]
  vigil jobs ls [--json] [NATS flags]

submit queues a join job on the fleet's work queue (VIGIL_JOBS): one node
with a free slot (--jobs-capacity) claims it and watches URL as stream NAME
until the stream ends; if that node dies another takes the job over within
about ten seconds. A job submitted again with the same --id within ten
minutes is queued once. The admin API's POST /api/joins joins on the node
it is sent to; this command joins on whichever node has room.

ls lists the nodes with their heartbeat, capacity and the jobs they run,
and the jobs still waiting for a node.

Examples:
  vigil jobs submit --nats-url nats://nats-1:4222 --url rtmp://origin/live/cam7 --name cam7
  vigil jobs submit --protocol whep --url https://sfu.example/whep/room1 --name room1 --token T
  vigil jobs ls --nats-url nats://nats-1:4222

Flags:
`

func runJobs(ctx context.Context, args, env []string, io stdio) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(io.out, jobsUsage)
		return nil
	}
	if len(args) == 0 || (args[0] != "submit" && args[0] != "ls") {
		fmt.Fprint(io.err, jobsUsage)
		return fmt.Errorf("%w: vigil jobs submit|ls", errUsage)
	}
	fs := flag.NewFlagSet("vigil jobs "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.err)
	nf := bindNATSFlags(fs, env)
	fs.Usage = func() { fmt.Fprint(io.err, jobsUsage); fs.PrintDefaults() }
	var (
		url, name, protocol, token, id *string
		asJSON                         *bool
	)
	if args[0] == "submit" {
		url = fs.String("url", "", "what to watch: a URL FFmpeg can pull, or a WHEP endpoint")
		name = fs.String("name", "", "the stream name nodes register it under")
		protocol = fs.String("protocol", "pull", "pull or whep")
		token = fs.String("token", "", "bearer token for a WHEP endpoint")
		id = fs.String("id", "", "job id (default: random); submitting the same id again queues it once")
	} else {
		asJSON = fs.Bool("json", false, "print JSON instead of a table")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	log := slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if args[0] == "submit" {
		job := signal.Job{URL: *url, Name: *name, Protocol: *protocol, Token: *token, ID: *id, SubmittedAt: time.Now().UTC()}
		stream, err := checkJob(&job, env)
		if err != nil {
			return err
		}
		bus, err := signal.Connect(ctx, nf.bus("vigil jobs submit"), log)
		if err != nil {
			return err
		}
		defer bus.Close()
		if err := bus.SubmitJob(ctx, job); err != nil {
			if errors.Is(err, nats.ErrNoResponders) {
				return fmt.Errorf("%w (no node has created %s yet: start a node with --jobs-capacity first)", err, signal.StreamJobs)
			}
			return err
		}
		return json.NewEncoder(io.out).Encode(map[string]string{"job": job.ID, "stream": stream, "protocol": job.Protocol})
	}
	bus, err := signal.Connect(ctx, nf.bus("vigil jobs ls"), log)
	if err != nil {
		return err
	}
	defer bus.Close()
	return listJobs(ctx, bus, *asJSON, io)
}

// checkJob fills a job's defaults and refuses what no node would run.
func checkJob(j *signal.Job, env []string) (string, error) {
	if j.URL == "" || j.Name == "" {
		return "", fmt.Errorf("%w: jobs submit needs --url and --name", errUsage)
	}
	stream, err := ingest.StreamID(j.Name)
	if err != nil {
		return "", fmt.Errorf("%w: --name: %v", errUsage, err)
	}
	switch j.Protocol {
	case "pull":
		// Nodes decide about file:// (--pull-allow-files); the rest is
		// checked here.
		if err := pull.Check(j.URL, true); err != nil {
			return "", fmt.Errorf("%w: --url: %v", errUsage, err)
		}
	case "whep":
		if err := pull.Check(j.URL, false); err != nil {
			return "", fmt.Errorf("%w: --url: %v", errUsage, err)
		}
	default:
		return "", fmt.Errorf("%w: --protocol %q: want pull or whep", errUsage, j.Protocol)
	}
	if j.ID == "" {
		j.ID = signal.NewEventID()
	}
	host, _ := os.Hostname()
	j.SubmittedBy = envOr(env, "USER", "vigil") + "@" + host
	raw, _ := json.Marshal(j)
	if err := signal.Validate(signal.SchemaJob, raw); err != nil {
		return "", fmt.Errorf("%w: %v", errUsage, err)
	}
	return stream, nil
}

func listJobs(ctx context.Context, bus *signal.Bus, asJSON bool, io stdio) error {
	js := bus.JetStream()
	kv, err := js.KeyValue(ctx, signal.BucketNodes)
	if err != nil {
		return fmt.Errorf("jobs ls: %s: %w", signal.BucketNodes, err)
	}
	nodes, err := signal.ListNodes(ctx, kv)
	if err != nil {
		return err
	}
	sort.Slice(nodes, func(a, b int) bool { return nodes[a].Node < nodes[b].Node })
	var waiting, held uint64
	if cons, err := js.Consumer(ctx, signal.StreamJobs, signal.JobsConsumer); err == nil {
		if info, err := cons.Info(ctx); err == nil {
			waiting, held = info.NumPending, uint64(info.NumAckPending)
		}
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("jobs ls: %w", err)
	}
	if asJSON {
		return json.NewEncoder(io.out).Encode(map[string]any{"nodes": nodes, "jobs_waiting": waiting, "jobs_held": held})
	}
	tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSEEN\tJOBS\tSTREAMS\tINDEX\tOUTBOX\tRUNNING")
	for _, n := range nodes {
		var running []string
		for _, j := range n.Jobs {
			running = append(running, j.ID+"→"+j.Stream)
		}
		fmt.Fprintf(tw, "%s\t%s ago\t%d/%d\t%d\t%s\t%d\t%v\n", n.Node, time.Since(n.At).Round(time.Second), len(n.Jobs), n.Capacity,
			n.Streams, n.IndexVersion, n.Outbox, running)
	}
	fmt.Fprintf(tw, "jobs waiting for a node: %d; held by nodes: %d\n", waiting, held)
	return tw.Flush()
}
