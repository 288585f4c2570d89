// Package config is the node's configuration: one struct whose fields carry
// their flag name, environment variable, default and help, filled from
// defaults, then the environment (VIGIL_...), then command-line flags, and
// then validated as a whole.
package config
