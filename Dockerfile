# syntax=docker/dockerfile:1
# Build: cgo against Debian bookworm's FFmpeg 5.1 (the release go-astiav
# v0.16.0 matches).
FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libavcodec-dev libavformat-dev libavutil-dev libswscale-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/vigil ./cmd/vigil

# Run: the FFmpeg runtime libraries only, as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libavcodec59 libavformat59 libavutil57 libswscale6 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/vigil --create-home vigil
COPY --from=build /out/vigil /usr/local/bin/vigil
USER vigil
WORKDIR /var/lib/vigil
# RTMP, HTTP (health, WHIP, API, metrics), and WebRTC media on one UDP port
# when run with --webrtc-udp-mux :8189 (and --webrtc-public-ip behind NAT).
# The embedded NATS server listens on 127.0.0.1:4222 inside the container;
# use --nats-url for a real cluster.
EXPOSE 1935 8080 8189/udp
ENTRYPOINT ["/usr/local/bin/vigil"]
CMD ["serve", "--data-dir", "/var/lib/vigil"]
