package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/signal"
)

const blocklistUsage = `Usage: vigil blocklist ls [NATS flags]
       vigil blocklist rm [NATS flags] --key KEY | --key-sha256 HEX | --addr IP

Lists or lifts the fleet's blocks on stream keys and publisher addresses.
A block signal (a node's match verdict, a manual block) puts them in the
JetStream KV bucket VIGIL_BLOCKLIST with a TTL (--blocklist-ttl, 24 h by
default), and every node refuses a blocked key or address at connect time.
rm lifts one block on every node at once. --key takes the stream key itself
and hashes it here: the bucket, like the signals, holds only the SHA-256 of
a key.

Example:
  vigil blocklist ls
  vigil blocklist rm --key demo-key
  vigil blocklist rm --addr 203.0.113.7 --nats-url nats://nats-1:4222

Flags:
`

func runBlocklist(ctx context.Context, args, env []string, io stdio) error {
	if len(args) == 0 {
		fmt.Fprint(io.err, blocklistUsage)
		return fmt.Errorf("%w: vigil blocklist ls|rm", errUsage)
	}
	if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprint(io.out, blocklistUsage)
		return nil
	}
	cmd := args[0]
	if cmd != "ls" && cmd != "rm" {
		fmt.Fprint(io.err, blocklistUsage)
		return fmt.Errorf("%w: vigil blocklist %q: ls or rm", errUsage, cmd)
	}
	fs := flag.NewFlagSet("vigil blocklist "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.err)
	nf := bindNATSFlags(fs, env)
	key := fs.String("key", "", "rm: the stream key, in clear (hashed here, never sent)")
	keyHash := fs.String("key-sha256", "", "rm: the stream key's SHA-256 in hex, as ls and the signals show it")
	addr := fs.String("addr", "", "rm: a publisher's IP address")
	fs.Usage = func() { fmt.Fprint(io.err, blocklistUsage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: vigil blocklist %s: unexpected %q", errUsage, cmd, fs.Arg(0))
	}
	var kind, value string
	if cmd == "rm" {
		var err error
		if kind, value, err = blocklistTarget(*key, *keyHash, *addr); err != nil {
			return fmt.Errorf("%w: vigil blocklist rm: %w", errUsage, err)
		}
	} else if *key != "" || *keyHash != "" || *addr != "" {
		return fmt.Errorf("%w: vigil blocklist ls takes no --key, --key-sha256 or --addr", errUsage)
	}
	bus, err := signal.Connect(ctx, nf.bus("vigil blocklist"), slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer bus.Close()
	if cmd == "rm" {
		if err := bus.DeleteBlocklist(ctx, kind, value); err != nil {
			return err
		}
		fmt.Fprintf(io.out, "lifted the block on %s %s\n", kind, value)
		return nil
	}
	entries, err := bus.ListBlocklist(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tVALUE\tEXPIRES IN\tREASON\tSTREAM\tEVENT\tSOURCE")
	now := time.Now()
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Kind, e.Value, e.ExpiresAt.Sub(now).Round(time.Second),
			e.Reason, dash(e.Stream), e.Event, e.Source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(entries) == 0 {
		fmt.Fprintln(io.err, "the blocklist is empty")
	}
	return nil
}

// blocklistTarget turns exactly one of the rm flags into an entry's kind and
// value.
func blocklistTarget(key, keyHash, addr string) (kind, value string, err error) {
	set := 0
	for _, s := range []string{key, keyHash, addr} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		return "", "", errors.New("give exactly one of --key, --key-sha256, --addr")
	}
	switch {
	case key != "":
		return signal.BlockKindKey, ingest.KeyHash(key), nil
	case keyHash != "":
		value, err = signal.NormalizeBlockValue(signal.BlockKindKey, keyHash)
		return signal.BlockKindKey, value, err
	default:
		value, err = signal.NormalizeBlockValue(signal.BlockKindAddr, addr)
		return signal.BlockKindAddr, value, err
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
