// Package ingest holds the registry of live streams and their kill switch.
// Its sub-packages are the protocol servers and clients (RTMP, WebRTC, URL
// pull), each of which turns its protocol into sampler access units.
package ingest
