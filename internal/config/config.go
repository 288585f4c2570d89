package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
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

	Index          string        `flag:"index" help:"hash list or compiled index to match against (empty: match nothing)"`
	SamplePolicy   string        `flag:"sample-policy" help:"which pictures are decoded: keyframe, interval or adaptive"`
	SampleInterval time.Duration `flag:"sample-interval" help:"least time between two samples of a stream"`
	MaxGap         time.Duration `flag:"max-gap" help:"adaptive policy: longest time without a sample before asking for a keyframe and then decoding fully"`
	RandomSamples  float64       `flag:"random-samples" help:"extra samples a minute at random times, so content cannot hide between keyframes (0: none)"`
	Dihedral       bool          `flag:"dihedral" help:"also match rotated and mirrored pictures (PDQ lists)"`
	NoCrop         bool          `flag:"no-crop" help:"hash whole pictures only; by default flat borders (letterbox, pillarbox) are cropped as well"`
	MaxDistance    int           `flag:"max-distance" help:"match when the Hamming distance is at most this (0: per algorithm, pdq 31, phash 10)"`
	MinQuality     int           `flag:"min-quality" help:"never match frames whose hash quality is below this (0-100)"`
	MinMatches     int           `flag:"min-matches" help:"block after this many matching samples within the window"`
	MatchWindow    time.Duration `flag:"match-window" help:"window in which min-matches matching samples block a stream"`
	MaxPixels      int           `flag:"max-pixels" help:"refuse pictures larger than this many pixels"`

	ReadTimeout    time.Duration `flag:"read-timeout" help:"drop a publisher silent for this long"`
	PublishTimeout time.Duration `flag:"publish-timeout" help:"wait this long for JetStream to acknowledge a signal before enforcing locally"`
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
}

// Default returns the built-in configuration.
func Default() Config {
	return Config{
		RTMPAddr:       ":1935",
		RTMPApp:        "live",
		HTTPAddr:       ":8080",
		NATSListen:     "127.0.0.1:4222",
		DataDir:        "./var",
		SamplePolicy:   "adaptive",
		SampleInterval: time.Second,
		MaxGap:         2 * time.Second,
		RandomSamples:  2,
		Dihedral:       true,
		MinQuality:     50,
		MinMatches:     2,
		MatchWindow:    10 * time.Second,
		MaxPixels:      4096 * 2304,
		ReadTimeout:    10 * time.Second,
		PublishTimeout: 2 * time.Second,
		LogFormat:      "text",
		LogLevel:       "info",

		WHIPMaxBody:        64 << 10,
		WHIPMaxPending:     256,
		WebRTCSetupTimeout: 10 * time.Second,
	}
}

// EnvName is the environment variable of a flag.
func EnvName(flagName string) string {
	return "VIGIL_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Load fills a configuration from defaults, then env (KEY=VALUE pairs),
// then the flags in args, and validates it. Unparsed arguments are an error.
func Load(name string, args, env []string) (Config, error) {
	c := Default()
	if err := c.applyEnv(env); err != nil {
		return c, err
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	c.Bind(fs)
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("config: unexpected argument %q", fs.Arg(0))
	}
	if c.NodeID == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "vigil"
		}
		c.NodeID = h
	}
	return c, c.Validate()
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
	check(c.RTMPApp != "" && !strings.Contains(c.RTMPApp, "/"), "rtmp-app %q: want one path element", c.RTMPApp)
	check(slices.Contains([]string{"keyframe", "interval", "adaptive"}, c.SamplePolicy), "sample-policy %q: want keyframe, interval or adaptive", c.SamplePolicy)
	check(c.SampleInterval >= 0, "sample-interval %s is negative", c.SampleInterval)
	check(c.MaxGap > 0, "max-gap %s must be positive", c.MaxGap)
	check(c.RandomSamples >= 0, "random-samples %g is negative", c.RandomSamples)
	check(c.MaxDistance >= 0 && c.MaxDistance <= 256, "max-distance %d: want 0 to 256", c.MaxDistance)
	check(c.MinQuality >= 0 && c.MinQuality <= 100, "min-quality %d: want 0 to 100", c.MinQuality)
	check(c.MinMatches >= 1, "min-matches %d: want at least 1", c.MinMatches)
	check(c.MatchWindow > 0 || c.MinMatches == 1, "match-window %s must be positive", c.MatchWindow)
	check(c.MaxPixels > 0, "max-pixels %d must be positive", c.MaxPixels)
	check(c.ReadTimeout > 0, "read-timeout %s must be positive", c.ReadTimeout)
	check(c.PublishTimeout > 0, "publish-timeout %s must be positive", c.PublishTimeout)
	check(c.LogFormat == "text" || c.LogFormat == "json", "log-format %q: want text or json", c.LogFormat)
	check(slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel), "log-level %q: want debug, info, warn or error", c.LogLevel)
	errs = append(errs, c.validateWebRTC()...)
	return errors.Join(errs...)
}
