package statsigclient

import (
	"bytes"
	"reflect"
	"runtime"
)

// Shutdown waits for the SDK's batches that have not reached a transport
// (see the package documentation). They are found in a dump of all stacks
// (runtime.Stack), a stop-the-world operation that costs about a
// microsecond per goroutine and runs only in Shutdown. A goroutine of the
// SDK that sends a batch is named in the dump as created by a logger
// method. It has reached a transport once its stack holds deliver (this
// package's, which has counted it by then) or a frame of net/http's
// Transport; the SDK's retry sleep (time.Sleep) comes after a transport
// too. Batches of other clients in the process are counted while they
// encode, which is CPU work of milliseconds: Shutdown may wait that long
// for them, never for their delivery.

const (
	// sdkBatchCreator starts the line of a dump that names the creator of
	// every goroutine that sends a batch: (*logger).flushInternal, or the
	// logger method it is inlined into. The logger starts no other
	// goroutine from its methods.
	sdkBatchCreator = "\ncreated by github.com/statsig-io/go-sdk.(*logger)."
	// maxStackDump bounds the buffer for a dump of all stacks.
	maxStackDump = 256 << 20
)

// deliverFrame is the name of batchTransport.deliver as it appears in a
// stack dump: a goroutine with this frame has been counted by this package.
var deliverFrame = []byte(runtime.FuncForPC(reflect.ValueOf((*batchTransport).deliver).Pointer()).Name() + "(")

// beyondTransport are frames of a goroutine that has handed its batch to a
// transport, or is waiting to retry one (the SDK's own retries, for clients
// that are not this package's).
var beyondTransport = [][]byte{
	deliverFrame,
	[]byte("\nnet/http.(*Transport)."),
	[]byte("\nnet/http.(*persistConn)."),
	[]byte("\ntime.Sleep("),
}

// sdkBatchesBeforeTransport returns how many goroutines of the process are
// sending an SDK event batch and have not yet handed it to a transport. buf
// is reused for the dump and returned, grown if it was too small. It returns
// -1 if the dump does not fit in maxStackDump.
func sdkBatchesBeforeTransport(buf []byte) (int, []byte) {
	// A dump takes a few hundred bytes per goroutine: start large enough
	// that one dump usually fits, as each try stops the world.
	if want := min(2<<10*runtime.NumGoroutine(), maxStackDump); len(buf) < want {
		buf = make([]byte, want)
	}
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return countBatchesBeforeTransport(buf[:n]), buf
		}
		if len(buf) >= maxStackDump {
			return -1, buf
		}
		buf = make([]byte, min(2*len(buf), maxStackDump))
	}
}

// countBatchesBeforeTransport counts, in a dump of all stacks, the
// goroutines created to send an SDK batch that have no frame of a transport.
func countBatchesBeforeTransport(dump []byte) int {
	count := 0
	for len(dump) > 0 {
		g := dump
		if i := bytes.Index(dump, []byte("\n\n")); i >= 0 {
			g, dump = dump[:i], dump[i+2:]
		} else {
			dump = nil
		}
		if !bytes.Contains(g, []byte(sdkBatchCreator)) {
			continue
		}
		handed := false
		for _, f := range beyondTransport {
			if bytes.Contains(g, f) {
				handed = true
				break
			}
		}
		if !handed {
			count++
		}
	}
	return count
}
