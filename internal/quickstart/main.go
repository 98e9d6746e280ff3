package main

import (
	"cmp"
	"context"
	"html/template"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

func main() {
	statsigclient.RouteSDKLogs(slog.Default()) // the SDK's output through slog
	client, err := statsigclient.New(clientConfig())
	if err != nil {
		log.Fatal(err)
	}
	mw, err := statsigmw.New(client, statsigmw.Config{})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", cmp.Or(os.Getenv("ADDR"), "localhost:8080"))
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: mw.Handler(routes()), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	slog.Info("listening; Ctrl-C stops", "url", "http://"+ln.Addr().String()+"/")

	stop, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	<-stop.Done()
	ctx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	srv.Shutdown(ctx)                            // finish the requests under way
	if err := client.Shutdown(ctx); err != nil { // deliver the buffered events
		slog.Warn("shutdown", "err", err) // how many events were not delivered
	}
}

// clientConfig uses Statsig when STATSIG_SERVER_SECRET is set, and local
// values for button_color_v3 otherwise.
func clientConfig() statsigclient.Config {
	if secret := os.Getenv("STATSIG_SERVER_SECRET"); secret != "" {
		return statsigclient.Config{Secret: secret}
	}
	values, err := statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{
		Name: "button_color_v3",
		Groups: []statsigtest.Group{
			{Name: "Blue", Weight: 50, Params: map[string]any{"Button Color": "blue"}},
			{Name: "Red", Weight: 50, Params: map[string]any{"Button Color": "red"}},
		},
	}}}.JSON()
	if err != nil {
		log.Fatal(err)
	}
	slog.Info("offline: STATSIG_SERVER_SECRET is not set; serving local values, sending no events")
	return statsigclient.Config{Options: &statsig.Options{LocalMode: true, BootstrapValues: string(values)}}
}

var page = template.Must(template.New("").Parse(`<a href="/signup" style="color: {{.}}">Sign up</a>`))

// routes are the service's pages, which main serves through the middleware.
func routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		exp, _ := statsigmw.Experiment(r.Context(), "button_color_v3") // logs the exposure
		page.Execute(w, exp.GetString("Button Color", "blue"))
	})
	mux.HandleFunc("GET /signup", func(w http.ResponseWriter, r *http.Request) {
		if err := statsigmw.LogEvent(r.Context(), "visited_signup"); err != nil {
			slog.Warn("visited_signup", "err", err)
		}
		w.Write([]byte("Thanks for signing up.\n"))
	})
	return mux
}
