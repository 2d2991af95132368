package etcdhosts

// The cgo declarations and conversions, nothing else: every call into the Rust
// library goes through this file.
//
// The library is the static libetcdhosts.a with its header etcdhosts.h. A CoreDNS
// build names where they are, as with any C library:
//
//	CGO_CFLAGS="-I$DIR/include" CGO_LDFLAGS="-L$DIR/lib" go build
//
// (README: "Build it into your own CoreDNS"; build.sh does the same). The
// ${SRCDIR} paths below only serve `go test` and `go vet` inside this repository,
// after `cargo build --release --lib`; elsewhere they name nothing. -l:NAME picks
// the static archive even where a shared libetcdhosts.so lies beside it.

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#cgo LDFLAGS: -L${SRCDIR}/../target/release -l:libetcdhosts.a -ldl -lpthread -lm
#cgo noescape etcdhosts_lookup
#cgo nocallback etcdhosts_lookup
#cgo noescape etcdhosts_get_stats
#cgo nocallback etcdhosts_get_stats
#include <stdlib.h>
#include "etcdhosts.h"

// Implemented in Go below (//export etcdhostsGoLog); the signature must match
// the one cgo writes to _cgo_export.h, hence no const.
extern void etcdhostsGoLog(int32_t level, uint8_t *msg, size_t msg_len);
*/
import "C"

import (
	"errors"
	"sync"
	"unsafe"
)

// status is the result of one lookup (enum etcdhosts_status).
type status uint32

const (
	statusAnswer           status = C.ETCDHOSTS_ANSWER
	statusNoData           status = C.ETCDHOSTS_NODATA
	statusNXDomain         status = C.ETCDHOSTS_NXDOMAIN
	statusNotMine          status = C.ETCDHOSTS_NOT_MINE
	statusBufferTooSmall   status = C.ETCDHOSTS_BUFFER_TOO_SMALL
	statusInvalidArgument  status = C.ETCDHOSTS_INVALID_ARGUMENT
	statusPanic            status = C.ETCDHOSTS_PANIC
	statusEmptyNonTerminal status = C.ETCDHOSTS_EMPTY_NON_TERMINAL
)

// outHeaderLen is the fixed header (u32 LE TTL, u32 LE SOA serial) at the start
// of every ANSWER, NODATA and NXDOMAIN buffer.
const outHeaderLen = C.ETCDHOSTS_OUT_HEADER_LEN

func (s status) String() string {
	switch s {
	case statusAnswer:
		return "ANSWER"
	case statusNoData:
		return "NODATA"
	case statusNXDomain:
		return "NXDOMAIN"
	case statusNotMine:
		return "NOT_MINE"
	case statusBufferTooSmall:
		return "BUFFER_TOO_SMALL"
	case statusInvalidArgument:
		return "INVALID_ARGUMENT"
	case statusPanic:
		return "PANIC"
	case statusEmptyNonTerminal:
		return "EMPTY_NON_TERMINAL"
	}
	return "UNKNOWN"
}

// stats mirrors struct etcdhosts_stats.
type stats struct {
	Entries          uint64
	Revision         int64
	Reloads          uint64
	LastReloadUnixMs int64
	InvalidLines     uint64
	EtcdErrors       uint64
	WatchConnected   bool
	Ready            bool
}

// errClosed is returned for calls on a handle that was never started or is freed.
var errClosed = errors.New("etcdhosts handle is not open")

// handle owns one etcdhosts_handle. The read lock is held for the duration of
// every lookup and stats call, the write lock while the Rust handle is created
// or freed, so a query racing a shutdown (CoreDNS stops the old servers only
// after the old instance's OnShutdown ran) never touches freed memory.
type handle struct {
	mu  sync.RWMutex
	ptr *C.etcdhosts_handle
}

var loggerOnce sync.Once

// open creates the Rust handle from a JSON config. Rust's error message (bad
// config) is returned as the error.
func (h *handle) open(config []byte) error {
	loggerOnce.Do(func() {
		C.etcdhosts_set_logger(C.etcdhosts_log_callback(C.etcdhostsGoLog))
	})

	cfg := C.CBytes(config)
	defer C.free(cfg)
	var errBuf [1024]C.uint8_t

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ptr != nil {
		return errors.New("etcdhosts handle already open")
	}
	p := C.etcdhosts_new((*C.uint8_t)(cfg), C.size_t(len(config)), &errBuf[0], C.size_t(len(errBuf)))
	if p == nil {
		msg := C.GoString((*C.char)(unsafe.Pointer(&errBuf[0])))
		if msg == "" {
			msg = "etcdhosts_new failed"
		}
		return errors.New(msg)
	}
	h.ptr = p
	return nil
}

// close frees the Rust handle (stopping its tasks); calling it twice is harmless.
// The pointer is detached under the lock (which waits for in-flight lookups, a
// few microseconds) and freed outside it: etcdhosts_free may wait for the etcd
// task to stop, and queries must not wait for that.
func (h *handle) close() {
	h.mu.Lock()
	p := h.ptr
	h.ptr = nil
	h.mu.Unlock()
	if p != nil {
		C.etcdhosts_free(p)
	}
}

// lookup is the one cgo call per query. out is written by Rust; n is the
// number of bytes written, or the number needed for statusBufferTooSmall.
// ok is false when the handle is not open.
func (h *handle) lookup(qname string, qtype uint16, out []byte) (st status, n int, ok bool) {
	var written C.size_t
	h.mu.RLock()
	if h.ptr == nil {
		h.mu.RUnlock()
		return statusInvalidArgument, 0, false
	}
	st = status(C.etcdhosts_lookup(h.ptr,
		(*C.uint8_t)(unsafe.Pointer(unsafe.StringData(qname))), C.size_t(len(qname)),
		C.uint16_t(qtype),
		(*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(out))), C.size_t(len(out)),
		&written))
	h.mu.RUnlock()
	return st, int(written), true
}

// stats reads Rust's counters.
func (h *handle) stats() (stats, error) {
	var s C.struct_etcdhosts_stats
	h.mu.RLock()
	if h.ptr == nil {
		h.mu.RUnlock()
		return stats{}, errClosed
	}
	st := status(C.etcdhosts_get_stats(h.ptr, &s))
	h.mu.RUnlock()
	if st != statusAnswer {
		return stats{}, errors.New("etcdhosts_stats returned " + st.String())
	}
	return stats{
		Entries:          uint64(s.entries),
		Revision:         int64(s.revision),
		Reloads:          uint64(s.reloads),
		LastReloadUnixMs: int64(s.last_reload_unix_ms),
		InvalidLines:     uint64(s.invalid_lines),
		EtcdErrors:       uint64(s.etcd_errors),
		WatchConnected:   bool(s.watch_connected),
		Ready:            bool(s.ready),
	}, nil
}

// maxLogLen caps one log line taken from Rust.
const maxLogLen = 1 << 16

// etcdhostsGoLog receives Rust's log lines (level 1=error 2=warning 3=info
// 4=debug) and writes them through CoreDNS's logger. It may run on a Rust
// thread; msg is only valid for the duration of the call, so it is copied.
//
//export etcdhostsGoLog
func etcdhostsGoLog(level C.int32_t, msg *C.uint8_t, msgLen C.size_t) {
	var s string
	if msg != nil && msgLen > 0 {
		if msgLen > maxLogLen {
			msgLen = maxLogLen
		}
		s = C.GoStringN((*C.char)(unsafe.Pointer(msg)), C.int(msgLen))
	}
	logLine(int32(level), s)
}
