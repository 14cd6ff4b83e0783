module github.com/petrel-mq/petrel/bench/nats

go 1.26.8

require (
	github.com/nats-io/nats.go v1.55.0
	github.com/petrel-mq/petrel v0.0.0-00010101000000-000000000000
)

require (
	github.com/HdrHistogram/hdrhistogram-go v1.4.0 // indirect
	github.com/klauspost/compress v1.20.0 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/crypto v0.57.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

// The main module is the parent directory: the peer shares petrel's load
// generator (internal/bench) so both sides are measured by the same code.
replace github.com/petrel-mq/petrel => ../..
