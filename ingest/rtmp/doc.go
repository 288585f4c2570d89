// Package rtmp is the node's RTMP ingest: it accepts publishers at
// rtmp://HOST:PORT/APP/STREAM with github.com/bluenviron/gortmplib and turns
// their video into sampler access units on an ingest.Stream.
package rtmp
