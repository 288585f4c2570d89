# Vigil: `make run` starts a demo node, `make test` runs every test.
# Both install the Debian packages they need when missing.

GO        ?= go
BIN       := bin/vigil
APT_BUILD := libavcodec-dev libavformat-dev libavutil-dev libswscale-dev pkg-config
APT_TOOLS := ffmpeg chromium
RTMP_PORT ?= 1935
# The demo node admits one stream key; production nodes configure their own
# (--stream-keys, or --auth http|nats).
DEMO_KEY  ?= demo-key

.PHONY: all deps build demo run test fuzz bench clean

all: build

deps:
	@.ci/install-deps $(APT_BUILD) $(APT_TOOLS)

build: deps
	$(GO) build -o $(BIN) ./cmd/vigil

# The demo list holds the hash of one benign picture (a Mandelbrot render),
# standing in for known material.
demo/hashes.txt: $(BIN)
	@mkdir -p demo
	ffmpeg -hide_banner -loglevel error -y -f lavfi -i mandelbrot=size=640x360 -frames:v 1 demo/known.png
	$(BIN) hash image demo/known.png | awk -F, '{print $$1 ",demo known picture (mandelbrot)"}' > demo/hashes.txt

demo: demo/hashes.txt

run: build demo
	@echo
	@echo "Push a stream that shows the demo picture after 5 s (the node cuts it):"
	@echo "  ffmpeg -re -f lavfi -i testsrc2=size=640x360:rate=30 -re -loop 1 -framerate 30 -i demo/known.png \\"
	@echo "    -filter_complex \"[0:v][1:v]overlay=enable='gte(t,5)'\" -c:v libx264 -preset veryfast -g 60 \\"
	@echo "    -f flv 'rtmp://localhost:$(RTMP_PORT)/live/demo?key=$(DEMO_KEY)'"
	@echo "Watch block signals:  ./$(BIN) signals tail"
	@echo "The block also bans the key for 24 h; to push again: ./$(BIN) blocklist rm --key $(DEMO_KEY)"
	@echo
	$(BIN) serve --index demo/hashes.txt --rtmp-addr :$(RTMP_PORT) --stream-keys '*=$(DEMO_KEY)'

# The race detector's shadow memory hides C memory leaks, so the RSS soak
# tests run once more without it; and its sync.Pool drops entries at
# random, so do the tests that a warm query allocates nothing.
test: deps
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run 'NoCMemoryGrowth|NoLeaks' ./sampler/...
	$(GO) test -count=1 -run 'ZeroAllocs' ./detector

# Runs every fuzz target for FUZZTIME each.
FUZZTIME ?= 30s
fuzz: deps
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10x $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin demo
