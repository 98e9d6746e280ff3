// Command benchserver serves the benchmark page of internal/benchpage three
// ways, for measurement over loopback with a load generator
// (scripts/bench-loopback.sh):
//
//	GET /plain       no middleware, no SDK
//	GET /handrolled  cookie, statsig.User and GetExperiment by hand
//	GET /mw          statsigmw
//
// Each page has a client of its own: a LocalMode client, or with -events URL
// a client that sends its event batches to the backend at URL, such as
// another benchserver started with -sink, which serves only
// benchpage.Sink. The server listens on -addr, a loopback address (by
// default a free port), prints "listening on ADDR" once it accepts
// connections, and serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/labkit/statsigmw/internal/benchpage"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback `address` to listen on")
	events := flag.String("events", "", "base `URL` of the backend the pages' clients send events to (default: LocalMode clients)")
	sink := flag.Bool("sink", false, "serve only benchpage.Sink, a backend for -events")
	cache := flag.Int("exposure-cache", 0, "the middleware's ExposureCacheSize (default: its default)")
	appHeap := flag.Int("app-heap", 0, "`MB` of live heap held beside the pages, as an application's data (benchpage.HoldAppHeap)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to `file`")
	flag.Parse()
	benchpage.HoldAppHeap(*appHeap)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchserver:", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if err := run(*addr, *sink, benchpage.Options{Events: *events, ExposureCacheSize: *cache}); err != nil {
		fmt.Fprintln(os.Stderr, "benchserver:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(addr string, sink bool, opts benchpage.Options) error {
	if ap, err := netip.ParseAddrPort(addr); err != nil || !ap.Addr().IsLoopback() {
		return fmt.Errorf("-addr %q is not a loopback address and port", addr)
	}
	mux := http.NewServeMux()
	if sink {
		h, err := benchpage.Sink()
		if err != nil {
			return err
		}
		mux.Handle("/", h)
	}
	for _, name := range benchpage.Pages {
		if sink {
			break
		}
		h, shutdown, err := benchpage.New(name, opts)
		if err != nil {
			return err
		}
		defer shutdown()
		mux.Handle("GET /"+name, h)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Println("listening on", ln.Addr())
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
