package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is everything `vigil serve` can be told. Each field's tag gives its
// flag name; the environment variable is VIGIL_ followed by the flag name in
// upper case with '-' as '_'.
type Config struct {
	RTMPAddr   string `flag:"rtmp-addr" help:"RTMP listen address"`
	RTMPApp    string `flag:"rtmp-app" help:"RTMP application publishers push to: rtmp://HOST/APP/STREAM"`
	HTTPAddr   string `flag:"http-addr" help:"HTTP listen address (health, later WHIP, API and metrics)"`
	NATSURL    string `flag:"nats-url" help:"external NATS server URL(s), comma-separated; empty runs an embedded server"`
	NATSListen string `flag:"nats-listen" help:"client address of the embedded NATS server"`
	DataDir    string `flag:"data-dir" help:"directory for embedded NATS storage and node state"`
	NodeID     string `flag:"node-id" help:"the node's name in signals (default: host name)"`
	AdminToken string `flag:"admin-token" help:"bearer token for /api/ (empty: admin API refused)"`

	Auth          string        `flag:"auth" help:"how publishers are admitted: static (--stream-keys), http (--auth-url), nats (vigil.auth.publish) or none"`
	StreamKeys    string        `flag:"stream-keys" help:"static keys: NAME=KEY or *=KEY, comma-separated; the RTMP key is ?key=/?token= or the stream name, the WHIP key the bearer token"`
	AuthURL       string        `flag:"auth-url" help:"http method: the platform's URL that answers 2xx to admit"`
	AuthTimeout   time.Duration `flag:"auth-timeout" help:"http and nats methods: wait this long for an answer"`
	AuthFailOpen  bool          `flag:"auth-fail-open" help:"admit when the auth service does not answer in time (default: refuse)"`
	AuthCache     time.Duration `flag:"auth-cache" help:"remember auth answers this long"`
	MaxStreams    int           `flag:"max-streams" help:"refuse publishers beyond this many live streams, so a load balancer tries the next node (0: no limit)"`
	MaxStreamsKey int           `flag:"max-streams-per-key" help:"live streams one key may hold at once (0: no limit)"`
	MaxBitrate    int           `flag:"max-bitrate" help:"end a stream whose video exceeds this many bits per second over 5 s (0: no limit)"`
	ConnectRate   int           `flag:"connect-rate" help:"admissions a minute one remote address may ask for (0: no limit)"`
	AllowTakeover bool          `flag:"allow-takeover" help:"a second publisher on a live stream name replaces the first instead of being refused"`

	Index          string        `flag:"index" help:"hash list or compiled index to match against (empty: match nothing)"`
	SamplePolicy   string        `flag:"sample-policy" help:"which pictures are decoded: keyframe, interval or adaptive"`
	SampleInterval time.Duration `flag:"sample-interval" help:"least time between two samples of a stream"`
	MaxGap         time.Duration `flag:"max-gap" help:"adaptive policy: longest time without a sample before asking for a keyframe and then decoding fully"`
	RandomSamples  float64       `flag:"random-samples" help:"extra samples a minute at random times, so content cannot hide between keyframes (0: none)"`
	ConfirmDelay   time.Duration `flag:"confirm-delay" help:"after a first match, take the confirming sample this much later instead of at the next keyframe (0: wait for the policy)"`
	Dihedral       bool          `flag:"dihedral" help:"also match rotated and mirrored pictures (PDQ lists)"`
	NoCrop         bool          `flag:"no-crop" help:"hash whole pictures only; by default flat borders (letterbox, pillarbox) are cropped as well"`
	MaxDistance    int           `flag:"max-distance" help:"match when the Hamming distance is at most this (0: per algorithm, pdq 31, phash 10)"`
	MinQuality     int           `flag:"min-quality" help:"never match frames whose hash quality is below this (0-100)"`
	MinMatches     int           `flag:"min-matches" help:"block after this many matching samples within the window"`
	MatchWindow    time.Duration `flag:"match-window" help:"window in which min-matches matching samples block a stream"`
	MaxPixels      int           `flag:"max-pixels" help:"refuse pictures larger than this many pixels"`

	IndexPoll      time.Duration `flag:"index-poll" help:"check the index file this often and reload it when it changes (0: only on SIGHUP or the API)"`
	PullAllowFiles bool          `flag:"pull-allow-files" help:"let joins by URL read local files (tests); off, an admin call cannot read the node's disk"`
	ReadTimeout    time.Duration `flag:"read-timeout" help:"drop a publisher silent for this long"`
	PublishTimeout time.Duration `flag:"publish-timeout" help:"wait this long for JetStream to acknowledge a signal before enforcing locally"`
	ShutdownWait   time.Duration `flag:"shutdown-timeout" help:"on SIGTERM/SIGINT, stop within this long: streams ended, samples in flight finished, signals flushed"`
	LogFormat      string        `flag:"log-format" help:"log format: text or json"`
	LogLevel       string        `flag:"log-level" help:"log level: debug, info, warn or error"`

	// WebRTC
	WHIPTokens         string        `flag:"whip-tokens" help:"WHIP bearer tokens, comma-separated: TOKEN (any stream) or STREAM=TOKEN (that stream only), 8 characters or more (empty: anyone may publish over WHIP)"`
	WHIPMaxBody        int           `flag:"whip-max-body" help:"largest WHIP SDP offer accepted, in bytes"`
	WHIPMaxPending     int           `flag:"whip-max-pending" help:"WHIP sessions that may be setting up at once; more are refused with 503"`
	WebRTCSetupTimeout time.Duration `flag:"webrtc-setup-timeout" help:"free a WebRTC session whose ICE, DTLS and first video packet take longer than this"`
	WebRTCPublicIP     string        `flag:"webrtc-public-ip" help:"public IP(s) announced in place of the host's in ICE candidates, behind a 1:1 NAT; comma-separated"`
	WebRTCUDPPorts     string        `flag:"webrtc-udp-ports" help:"UDP port range MIN-MAX for WebRTC sessions (empty: any free port)"`
	WebRTCUDPMux       string        `flag:"webrtc-udp-mux" help:"serve every WebRTC session on this one UDP address, HOST:PORT (empty: a port per session)"`
	WebRTCIPs          string        `flag:"webrtc-ips" help:"gather ICE candidates only on these local IPs, comma-separated; a loopback IP is gathered too (empty: every interface except loopback)"`
	WHEPJoin           string        `flag:"whep-join" help:"WHEP streams to join at start, comma-separated: URL or NAME=URL (the name defaults to the URL's last path element)"`
	WHEPToken          string        `flag:"whep-token" help:"bearer token sent with the --whep-join requests"`

	// NATS and fleet
	NATSCreds         string        `flag:"nats-creds" help:"external NATS: credentials file (user JWT and NKey seed)"`
	NATSNKey          string        `flag:"nats-nkey" help:"external NATS: file holding an NKey seed"`
	NATSUser          string        `flag:"nats-user" help:"external NATS: user name"`
	NATSPassword      string        `flag:"nats-password" help:"external NATS: password (prefer the environment variable to the flag)"`
	NATSToken         string        `flag:"nats-token" help:"external NATS: token (prefer the environment variable to the flag)"`
	NATSCA            string        `flag:"nats-ca" help:"external NATS: PEM file of CAs to verify the server with (TLS)"`
	NATSCert          string        `flag:"nats-cert" help:"external NATS: client certificate (PEM), for servers that verify clients"`
	NATSKey           string        `flag:"nats-key" help:"external NATS: the client certificate's key (PEM)"`
	NATSReplicas      int           `flag:"nats-replicas" help:"replicas of the JetStream streams and buckets the node creates (3 on a 3-server cluster)"`
	Outbox            string        `flag:"outbox" help:"signal outbox file (empty: DATA-DIR/outbox.db); signals wait there, fsync'd, until JetStream acknowledges them"`
	OutboxMaxSignals  int           `flag:"outbox-max-signals" help:"signals the outbox keeps at most; beyond, a signal is still enforced locally but not kept (logged in full, counted)"`
	OutboxMaxAge      time.Duration `flag:"outbox-max-age" help:"a signal still unpublished after this long is dropped (logged in full, counted)"`
	EventsQueue       int           `flag:"events-queue" help:"match and stream events waiting to be published; beyond, they are dropped and counted, never waited for"`
	BlocklistTTL      time.Duration `flag:"blocklist-ttl" help:"how long a blocked stream key or address is refused, when the block does not say"`
	BlocklistOnMatch  string        `flag:"blocklist-on-match" help:"what the node's own match verdicts add to the blocklist: key, addr, key+addr or none"`
	FleetIndex        bool          `flag:"fleet-index" help:"watch the fleet's index (vigil index publish) and hot-swap to each new one"`
	JobsCapacity      int           `flag:"jobs-capacity" help:"fleet join jobs (vigil jobs submit) this node runs at once (0: takes none)"`
	HeartbeatInterval time.Duration `flag:"heartbeat-interval" help:"how often the node publishes its heartbeat and capacity to the VIGIL_NODES bucket"`
}

// Default returns the built-in configuration.
func Default() Config {
	return Config{
		RTMPAddr:       ":1935",
		RTMPApp:        "live",
		HTTPAddr:       ":8080",
		NATSListen:     "127.0.0.1:4222",
		DataDir:        "./var",
		Auth:           "static",
		AuthTimeout:    2 * time.Second,
		AuthCache:      10 * time.Second,
		MaxStreams:     200,
		ConnectRate:    60,
		SamplePolicy:   "adaptive",
		SampleInterval: time.Second,
		MaxGap:         2 * time.Second,
		RandomSamples:  2,
		ConfirmDelay:   300 * time.Millisecond,
		Dihedral:       true,
		MinQuality:     50,
		MinMatches:     2,
		MatchWindow:    10 * time.Second,
		MaxPixels:      4096 * 2304,
		IndexPoll:      5 * time.Second,
		ReadTimeout:    10 * time.Second,
		ShutdownWait:   10 * time.Second,
		PublishTimeout: 2 * time.Second,
		LogFormat:      "text",
		LogLevel:       "info",

		WHIPMaxBody:        64 << 10,
		WHIPMaxPending:     256,
		WebRTCSetupTimeout: 10 * time.Second,

		NATSReplicas:      1,
		OutboxMaxSignals:  100_000,
		OutboxMaxAge:      7 * 24 * time.Hour,
		EventsQueue:       1024,
		BlocklistTTL:      24 * time.Hour,
		BlocklistOnMatch:  "key",
		FleetIndex:        true,
		JobsCapacity:      8,
		HeartbeatInterval: 5 * time.Second,
	}
}

// BlocklistOnMatchValues are the accepted values of --blocklist-on-match.
var BlocklistOnMatchValues = []string{"key", "addr", "key+addr", "none"}

// EnvName is the environment variable of a flag.
func EnvName(flagName string) string {
	return "VIGIL_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Load fills a configuration from defaults, then the YAML file named by
// --config (or VIGIL_CONFIG), then env (KEY=VALUE pairs), then the flags in
// args, and validates it. Every problem found on the way is reported, joined
// into one error. The returned flag set tells whether --check-config was
// given.
func Load(name string, args, env []string) (Config, error) {
	c, _, err := load(name, args, env)
	return c, err
}

// LoadCheck is Load that also reports whether --check-config was given.
func LoadCheck(name string, args, env []string) (Config, bool, error) {
	return load(name, args, env)
}

func load(name string, args, env []string) (Config, bool, error) {
	c := Default()
	var errs []error
	path := envValue(env, "VIGIL_CONFIG")
	if p, ok := flagValue(args, "config"); ok {
		path = p
	}
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("config: %w", err))
		} else if err := c.applyYAML(path, raw); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.applyEnv(env); err != nil {
		errs = append(errs, err)
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.Bind(fs)
	fs.String("config", path, "YAML configuration file (env VIGIL_CONFIG)")
	check := fs.Bool("check-config", false, "validate the configuration, list every problem and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, false, err
		}
		errs = append(errs, fmt.Errorf("config: %w", err))
	} else if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("config: unexpected argument %q", fs.Arg(0)))
	}
	if c.NodeID == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "vigil"
		}
		c.NodeID = h
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	return c, *check, errors.Join(errs...)
}

// applyYAML sets the fields named in a YAML mapping whose keys are flag
// names. Unknown keys and bad values are all reported.
func (c *Config) applyYAML(path string, raw []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("config: %s: want a mapping of settings", path)
	}
	fields := map[string]reflect.Value{}
	eachField(c, func(f reflect.StructField, v reflect.Value) { fields[f.Tag.Get("flag")] = v })
	var errs []error
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		field, ok := fields[k.Value]
		if !ok {
			errs = append(errs, fmt.Errorf("config: %s:%d: unknown key %q", path, k.Line, k.Value))
			continue
		}
		if v.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("config: %s:%d: %s: want a single value", path, v.Line, k.Value))
			continue
		}
		if err := setValue(field, v.Value); err != nil {
			errs = append(errs, fmt.Errorf("config: %s:%d: %s: %w", path, v.Line, k.Value, err))
		}
	}
	return errors.Join(errs...)
}

// flagValue finds --name VALUE or --name=VALUE in args before flag parsing,
// for the one flag that decides where the other settings come from.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		a = strings.TrimLeft(a, "-")
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// Bind registers a flag for every field, defaulting to the field's current
// value.
func (c *Config) Bind(fs *flag.FlagSet) {
	eachField(c, func(f reflect.StructField, v reflect.Value) {
		name, help := f.Tag.Get("flag"), f.Tag.Get("help")
		help += " (env " + EnvName(name) + ")"
		switch p := v.Addr().Interface().(type) {
		case *string:
			fs.StringVar(p, name, *p, help)
		case *int:
			fs.IntVar(p, name, *p, help)
		case *time.Duration:
			fs.DurationVar(p, name, *p, help)
		case *bool:
			fs.BoolVar(p, name, *p, help)
		case *float64:
			fs.Float64Var(p, name, *p, help)
		}
	})
}

func (c *Config) applyEnv(env []string) error {
	vals := make(map[string]string)
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "VIGIL_") {
			vals[k] = v
		}
	}
	var errs []error
	eachField(c, func(f reflect.StructField, v reflect.Value) {
		key := EnvName(f.Tag.Get("flag"))
		raw, ok := vals[key]
		if !ok {
			return
		}
		if err := setValue(v, raw); err != nil {
			errs = append(errs, fmt.Errorf("config: %s: %w", key, err))
		}
	})
	return errors.Join(errs...)
}

func setValue(v reflect.Value, raw string) error {
	switch p := v.Addr().Interface().(type) {
	case *string:
		*p = raw
	case *int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return fmt.Errorf("not an integer: %q", raw)
		}
		*p = n
	case *time.Duration:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("not a duration: %q", raw)
		}
		*p = d
	case *bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", raw)
		}
		*p = b
	case *float64:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", raw)
		}
		*p = f
	default:
		return fmt.Errorf("unsupported field type %s", v.Type())
	}
	return nil
}

func eachField(c *Config, fn func(reflect.StructField, reflect.Value)) {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("flag") != "" {
			fn(t.Field(i), v.Field(i))
		}
	}
}

// ParseStreamKeys reads --stream-keys: NAME=KEY pairs, comma-separated;
// NAME may be * for any stream. A name may have several keys.
func ParseStreamKeys(s string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, key, ok := strings.Cut(pair, "=")
		if !ok || name == "" || key == "" {
			return nil, fmt.Errorf("config: stream-keys: %q is not NAME=KEY", redactPair(pair))
		}
		out[name] = append(out[name], key)
	}
	return out, nil
}

// redactPair keeps a key out of error messages.
func redactPair(p string) string {
	if name, _, ok := strings.Cut(p, "="); ok {
		return name + "=…"
	}
	if len(p) > 4 {
		return p[:2] + "…"
	}
	return "…"
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("config: "+format, args...))
		}
	}
	for _, a := range []struct{ name, addr string }{{"rtmp-addr", c.RTMPAddr}, {"http-addr", c.HTTPAddr}} {
		_, _, err := net.SplitHostPort(a.addr)
		check(err == nil, "%s %q: want HOST:PORT", a.name, a.addr)
	}
	if c.NATSURL == "" {
		_, _, err := net.SplitHostPort(c.NATSListen)
		check(err == nil, "nats-listen %q: want HOST:PORT", c.NATSListen)
	}
	check(c.DataDir != "", "data-dir is empty")
	check(slices.Contains([]string{"static", "http", "nats", "none"}, c.Auth), "auth %q: want static, http, nats or none", c.Auth)
	check(c.Auth != "http" || strings.HasPrefix(c.AuthURL, "http://") || strings.HasPrefix(c.AuthURL, "https://"), "auth-url %q: the http method needs an http(s) URL", c.AuthURL)
	if _, err := ParseStreamKeys(c.StreamKeys); err != nil {
		errs = append(errs, err)
	}
	check(c.AuthTimeout > 0, "auth-timeout %s must be positive", c.AuthTimeout)
	check(c.AuthCache >= 0, "auth-cache %s is negative", c.AuthCache)
	check(c.MaxStreams >= 0 && c.MaxStreamsKey >= 0 && c.MaxBitrate >= 0 && c.ConnectRate >= 0, "max-streams, max-streams-per-key, max-bitrate and connect-rate must not be negative")
	check(c.RTMPApp != "" && !strings.Contains(c.RTMPApp, "/"), "rtmp-app %q: want one path element", c.RTMPApp)
	check(slices.Contains([]string{"keyframe", "interval", "adaptive"}, c.SamplePolicy), "sample-policy %q: want keyframe, interval or adaptive", c.SamplePolicy)
	check(c.SampleInterval >= 0, "sample-interval %s is negative", c.SampleInterval)
	check(c.MaxGap > 0, "max-gap %s must be positive", c.MaxGap)
	check(c.RandomSamples >= 0, "random-samples %g is negative", c.RandomSamples)
	check(c.ConfirmDelay >= 0, "confirm-delay %s is negative", c.ConfirmDelay)
	check(c.MaxDistance >= 0 && c.MaxDistance <= 256, "max-distance %d: want 0 to 256", c.MaxDistance)
	check(c.MinQuality >= 0 && c.MinQuality <= 100, "min-quality %d: want 0 to 100", c.MinQuality)
	check(c.MinMatches >= 1, "min-matches %d: want at least 1", c.MinMatches)
	check(c.MatchWindow > 0 || c.MinMatches == 1, "match-window %s must be positive", c.MatchWindow)
	check(c.MaxPixels > 0, "max-pixels %d must be positive", c.MaxPixels)
	check(c.ReadTimeout > 0, "read-timeout %s must be positive", c.ReadTimeout)
	check(c.IndexPoll >= 0, "index-poll %s is negative", c.IndexPoll)
	check(c.ShutdownWait > 0, "shutdown-timeout %s must be positive", c.ShutdownWait)
	check(c.PublishTimeout > 0, "publish-timeout %s must be positive", c.PublishTimeout)
	check(c.LogFormat == "text" || c.LogFormat == "json", "log-format %q: want text or json", c.LogFormat)
	check(slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel), "log-level %q: want debug, info, warn or error", c.LogLevel)
	errs = append(errs, c.validateWebRTC()...)

	methods := 0
	for _, v := range []string{c.NATSCreds, c.NATSNKey, c.NATSUser, c.NATSToken} {
		if v != "" {
			methods++
		}
	}
	check(methods <= 1, "nats-creds, nats-nkey, nats-user and nats-token: give one way to authenticate")
	check(c.NATSPassword == "" || c.NATSUser != "", "nats-password without nats-user")
	check((c.NATSCert == "") == (c.NATSKey == ""), "nats-cert and nats-key go together")
	for _, f := range []struct{ name, path string }{{"nats-creds", c.NATSCreds}, {"nats-nkey", c.NATSNKey}, {"nats-ca", c.NATSCA}, {"nats-cert", c.NATSCert}, {"nats-key", c.NATSKey}} {
		if f.path != "" {
			_, err := os.Stat(f.path)
			check(err == nil, "%s: %v", f.name, err)
		}
	}
	check(c.NATSURL != "" || (c.NATSCreds == "" && c.NATSNKey == "" && c.NATSUser == "" && c.NATSToken == "" && c.NATSCA == "" && c.NATSCert == ""),
		"NATS credentials and TLS are for an external server: give --nats-url")
	check(c.NATSReplicas >= 1 && c.NATSReplicas <= 5, "nats-replicas %d: want 1 to 5", c.NATSReplicas)
	check(c.OutboxMaxSignals >= 1, "outbox-max-signals %d: want at least 1", c.OutboxMaxSignals)
	check(c.OutboxMaxAge > 0, "outbox-max-age %s must be positive", c.OutboxMaxAge)
	check(c.EventsQueue >= 1, "events-queue %d: want at least 1", c.EventsQueue)
	check(c.BlocklistTTL >= time.Second, "blocklist-ttl %s: want at least 1s", c.BlocklistTTL)
	check(slices.Contains(BlocklistOnMatchValues, c.BlocklistOnMatch), "blocklist-on-match %q: want key, addr, key+addr or none", c.BlocklistOnMatch)
	check(c.JobsCapacity >= 0, "jobs-capacity %d is negative", c.JobsCapacity)
	check(c.HeartbeatInterval >= time.Second, "heartbeat-interval %s: want at least 1s", c.HeartbeatInterval)
	return errors.Join(errs...)
}
