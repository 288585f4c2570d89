package main

import (
	"flag"
	"strconv"

	"github.com/vigilstream/vigil/internal/signal"
)

// natsFlags are the NATS connection flags of the tools that talk to a
// fleet (signals tail, index publish, jobs). They take their defaults from
// the environment variables `vigil serve` reads, so one environment serves
// both.
type natsFlags struct {
	url, creds, nkey, user, password, token, ca, cert, key string
	replicas                                               int
}

func bindNATSFlags(fs *flag.FlagSet, env []string) *natsFlags {
	f := &natsFlags{}
	str := func(p *string, name, envName, def, help string) {
		fs.StringVar(p, name, envOr(env, envName, def), help+" (env "+envName+")")
	}
	str(&f.url, "nats-url", "VIGIL_NATS_URL", "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated")
	str(&f.creds, "nats-creds", "VIGIL_NATS_CREDS", "", "credentials file (user JWT and NKey seed)")
	str(&f.nkey, "nats-nkey", "VIGIL_NATS_NKEY", "", "file holding an NKey seed")
	str(&f.user, "nats-user", "VIGIL_NATS_USER", "", "user name")
	str(&f.password, "nats-password", "VIGIL_NATS_PASSWORD", "", "password")
	str(&f.token, "nats-token", "VIGIL_NATS_TOKEN", "", "token")
	str(&f.ca, "nats-ca", "VIGIL_NATS_CA", "", "PEM file of CAs to verify the server with (TLS)")
	str(&f.cert, "nats-cert", "VIGIL_NATS_CERT", "", "client certificate (PEM)")
	str(&f.key, "nats-key", "VIGIL_NATS_KEY", "", "client certificate's key (PEM)")
	f.replicas, _ = strconv.Atoi(envOr(env, "VIGIL_NATS_REPLICAS", "1"))
	fs.IntVar(&f.replicas, "nats-replicas", f.replicas, "replicas of a bucket this tool has to create because no node has yet (env VIGIL_NATS_REPLICAS)")
	return f
}

func (f *natsFlags) bus(name string) signal.BusConfig {
	return signal.BusConfig{URLs: f.url, Name: name, NoSetup: true, Replicas: f.replicas, Auth: signal.Auth{
		CredsFile: f.creds, NKeyFile: f.nkey, User: f.user, Password: f.password, Token: f.token,
		CAFile: f.ca, CertFile: f.cert, KeyFile: f.key,
	}}
}
