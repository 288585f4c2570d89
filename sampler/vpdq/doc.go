// Package vpdq hashes the frames of a video file the way Meta's vPDQ tool
// (facebook/ThreatExchange, vpdq/cpp) does: every decoded frame is
// converted to RGB24 at its own size by swscale with SWS_AREA and hashed
// with PDQ, and each hash is reported with the frame's number, quality and
// time. Hash lists of known videos are distributed in that form, one
// "frameNumber,quality,pdqHex,timestampSeconds" line per frame.
//
// Decoding and conversion go through FFmpeg (go-astiav); every FFmpeg
// object is allocated once per file and freed before HashFile returns.
// Pixels are copied into Go memory before they are hashed and are not kept.
// FFmpeg's global log level is left alone: the binary decides where
// FFmpeg's messages go.
package vpdq
