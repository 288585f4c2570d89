package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Reference renders the configuration reference as a Markdown table: flag,
// environment variable, default, meaning. The README embeds it between
// markers and a test keeps the two equal.
func Reference() string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	def := Default()
	eachField(&def, func(f reflect.StructField, v reflect.Value) {
		name := f.Tag.Get("flag")
		d := fmt.Sprint(v.Interface())
		if dur, ok := v.Interface().(time.Duration); ok {
			d = dur.String()
		}
		if d == "" || d == "0" {
			d = "—"
		} else {
			d = "`" + d + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s |\n", name, EnvName(name), d, strings.ReplaceAll(f.Tag.Get("help"), "|", "\\|"))
	})
	return b.String()
}
