module github.com/runnel-io/runnel/benchmarks

go 1.26.8

require github.com/runnel-io/runnel v0.0.0-00010101000000-000000000000

require (
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
)

replace github.com/runnel-io/runnel => ../
