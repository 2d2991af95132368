module github.com/etcdhosts/etcdhosts/tests/e2e

go 1.24.0

toolchain go1.26.8

require (
	github.com/miekg/dns v1.1.72
	golang.org/x/sys v0.39.0
)

require (
	golang.org/x/mod v0.31.0 // indirect
	golang.org/x/net v0.48.0 // indirect
	golang.org/x/sync v0.19.0 // indirect
	golang.org/x/tools v0.40.0 // indirect
)
