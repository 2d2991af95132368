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

// result is what any other call did (enum etcdhosts_result).
type result uint32

const (
	resultOK            result = C.ETCDHOSTS_RESULT_OK
	resultInvalidConfig result = C.ETCDHOSTS_RESULT_INVALID_CONFIG
	resultNullParameter result = C.ETCDHOSTS_RESULT_NULL_PARAMETER
	resultAlreadySet    result = C.ETCDHOSTS_RESULT_ALREADY_SET
	resultPanic         result = C.ETCDHOSTS_RESULT_PANIC
)

func (r result) String() string {
	switch r {
	case resultOK:
		return "OK"
	case resultInvalidConfig:
		return "INVALID_CONFIG"
	case resultNullParameter:
		return "NULL_PARAMETER"
	case resultAlreadySet:
		return "ALREADY_SET"
	case resultPanic:
		return "PANIC"
	}
	return "UNKNOWN"
}

// zone is struct etcdhosts_zone: a zone and the names of its SOA.
type zone struct {
	name, mname, rname string
}

// answer is struct etcdhosts_answer, with its zone resolved.
type answer struct {
	ttl uint32
	len int
	// zone is nil outside every zone (a PTR answered for any address).
	zone *zone
	soa  struct{ serial, refresh, retry, expire, minimum uint32 }
}

// stats mirrors struct etcdhosts_stats.
type stats struct {
	Records          uint64
	Revision         int64
	Reloads          uint64
	LastReloadUnixMs int64
	InvalidLines     uint64
	EtcdErrors       uint64
	BadVersions      uint64
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
	// What the handle was configured with (etcdhosts_get_info), copied at open.
	key   string
	zones []zone
}

var loggerOnce sync.Once

// checkBlock has Rust check a Corefile block (JSON). On an error, line is the
// 1-based index of the block's line at fault, 0 when no one line is.
func checkBlock(block []byte) (line int, err error) {
	var errBuf [1024]C.uint8_t
	var errLine C.size_t
	r := result(C.etcdhosts_config_check(bytesPtr(block), C.size_t(len(block)),
		&errBuf[0], C.size_t(len(errBuf)), &errLine))
	if r == resultOK {
		return 0, nil
	}
	return int(errLine), resultError(r, errBuf[:])
}

// open creates the Rust handle from a Corefile block (JSON).
func (h *handle) open(block []byte) error {
	loggerOnce.Do(func() {
		if r := result(C.etcdhosts_set_logger(C.etcdhosts_log_callback(C.etcdhostsGoLog))); r != resultOK {
			log.Warningf("etcdhosts_set_logger returned %s: Rust's log lines go elsewhere", r)
		}
	})
	var errBuf [1024]C.uint8_t

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ptr != nil {
		return errors.New("etcdhosts handle already open")
	}
	var p *C.etcdhosts_handle
	r := result(C.etcdhosts_new(bytesPtr(block), C.size_t(len(block)), &p, &errBuf[0], C.size_t(len(errBuf))))
	if r != resultOK {
		return resultError(r, errBuf[:])
	}
	var info C.struct_etcdhosts_info
	if r := result(C.etcdhosts_get_info(p, &info)); r != resultOK {
		C.etcdhosts_free(p)
		return errors.New("etcdhosts_get_info returned " + r.String())
	}
	h.key = goString(info.key)
	h.zones = make([]zone, int(info.zones_len))
	for i, z := range unsafe.Slice(info.zones, int(info.zones_len)) {
		h.zones[i] = zone{name: goString(z.name), mname: goString(z.mname), rname: goString(z.rname)}
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

// lookup is the one cgo call per query. out receives the records; a.len is the
// number of bytes written, or the number needed for statusBufferTooSmall. ok is
// false when the handle is not open.
func (h *handle) lookup(qname string, qtype uint16, out []byte) (st status, a answer, ok bool) {
	var ans C.struct_etcdhosts_answer
	h.mu.RLock()
	if h.ptr == nil {
		h.mu.RUnlock()
		return statusInvalidArgument, a, false
	}
	st = status(C.etcdhosts_lookup(h.ptr,
		(*C.uint8_t)(unsafe.Pointer(unsafe.StringData(qname))), C.size_t(len(qname)),
		C.uint16_t(qtype),
		bytesPtr(out), C.size_t(len(out)),
		&ans))
	if i := int(ans.zone); ans.zone != C.ETCDHOSTS_NO_ZONE && i < len(h.zones) {
		a.zone = &h.zones[i]
	}
	h.mu.RUnlock()
	a.ttl, a.len = uint32(ans.ttl), int(ans.len)
	a.soa.serial, a.soa.refresh, a.soa.retry = uint32(ans.soa.serial), uint32(ans.soa.refresh), uint32(ans.soa.retry)
	a.soa.expire, a.soa.minimum = uint32(ans.soa.expire), uint32(ans.soa.minimum)
	return st, a, true
}

// stats reads Rust's counters.
func (h *handle) stats() (stats, error) {
	var s C.struct_etcdhosts_stats
	h.mu.RLock()
	if h.ptr == nil {
		h.mu.RUnlock()
		return stats{}, errClosed
	}
	r := result(C.etcdhosts_get_stats(h.ptr, &s))
	h.mu.RUnlock()
	if r != resultOK {
		return stats{}, errors.New("etcdhosts_get_stats returned " + r.String())
	}
	return stats{
		Records:          uint64(s.records),
		Revision:         int64(s.revision),
		Reloads:          uint64(s.reloads),
		LastReloadUnixMs: int64(s.last_reload_unix_ms),
		InvalidLines:     uint64(s.invalid_lines),
		EtcdErrors:       uint64(s.etcd_errors),
		BadVersions:      uint64(s.bad_versions),
		WatchConnected:   bool(s.watch_connected),
		Ready:            bool(s.ready),
	}, nil
}

var (
	versionOnce sync.Once
	version     string
)

// libraryVersion is the Rust library's version (etcdhosts_version), or
// "unknown" should the call fail.
func libraryVersion() string {
	versionOnce.Do(func() {
		var s C.struct_etcdhosts_str
		if r := result(C.etcdhosts_version(&s)); r != resultOK {
			log.Warningf("etcdhosts_version returned %s", r)
			version = "unknown"
			return
		}
		version = goString(s)
	})
	return version
}

// bytesPtr passes b to C for the duration of a call (cgo allows Go memory
// without Go pointers in it).
func bytesPtr(b []byte) *C.uint8_t {
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b)))
}

func goString(s C.struct_etcdhosts_str) string {
	return C.GoStringN((*C.char)(unsafe.Pointer(s.data)), C.int(s.len))
}

// resultError is Rust's message in errBuf, or the result's name without one.
func resultError(r result, errBuf []C.uint8_t) error {
	if msg := C.GoString((*C.char)(unsafe.Pointer(&errBuf[0]))); msg != "" {
		return errors.New(msg)
	}
	return errors.New("etcdhosts returned " + r.String())
}

// maxLogLen caps one log line taken from Rust.
const maxLogLen = 1 << 16

// etcdhostsGoLog receives Rust's log lines (level 1=error 2=warning 3=info
// 4=debug) and writes them through CoreDNS's logger. It runs on Rust's threads
// and on the goroutine calling etcdhosts_new; msg is only valid for the
// duration of the call, so it is copied.
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
