module github.com/etcdhosts/etcdhosts/bench/tool

go 1.24.0

toolchain go1.26.8

require github.com/miekg/dns v1.1.68

require (
	golang.org/x/mod v0.24.0 // indirect
	golang.org/x/net v0.40.0 // indirect
	golang.org/x/sync v0.14.0 // indirect
	golang.org/x/sys v0.33.0 // indirect
	golang.org/x/tools v0.33.0 // indirect
)
