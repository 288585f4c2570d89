// Package pull joins streams the node does not host: it reads an RTMP, HLS,
// SRT or RTSP URL with FFmpeg's demuxers and samples it like a hosted
// stream (protocol "pull").
package pull
