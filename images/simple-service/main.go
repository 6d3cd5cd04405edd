// Command simple-service is kindlike's demo web app. It answers like the tutorials'
// quay.io/openshiftlabs/simple-service:0.5.0 (a small Python/Tornado service) so the
// lessons work offline, and adds a switch that makes /health fail, for showing a
// liveness probe restart a container.
//
//	GET /endpoint0    {"host": ..., "result": "all is well", "version": "0.5.0"}
//	GET /health       {"healthy": true}, after HEALTH_MIN..HEALTH_MAX ms; 500 and
//	                  {"healthy": false} once failing
//	GET /info         {"from": client IP, "host": Host header, "version": ...,
//	                  "hostname": the pod's hostname, "ip": the pod's IP}
//	GET /env          {"env": "{'HOME': '/root', ...}", "version": ...}
//	/health/fail      make /health fail from now on (any method)
//	/health/ok        make /health pass again
//
// Environment: PORT0 (default 9876), SIMPLE_SERVICE_VERSION (0.5.0), HEALTH_MIN and
// HEALTH_MAX (ms), HEALTH_FAIL_AFTER (fail after that many healthy answers).
//
// Usage:
//
//	simple-service [-port N] [-index FILE]   serve; -index serves FILE at / and any
//	                                         path no endpoint answers
//	simple-service health fail|ok            flip the switch of the server on this
//	                                         host's port (for kubectl exec)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/kindlike/kindlike/images"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "simple-service:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simple-service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 0, "port to listen on (default $PORT0, else 9876)")
	index := fs.String("index", "", "HTML file to serve at / and at paths no endpoint answers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	if *port != 0 {
		cfg.Port = *port
	}
	if *index != "" {
		if cfg.Index, err = os.ReadFile(*index); err != nil {
			return err
		}
	}
	switch rest := fs.Args(); {
	case len(rest) == 0:
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		return serve(ctx, cfg, stdout)
	case len(rest) == 2 && rest[0] == "health" && (rest[1] == "fail" || rest[1] == "ok"):
		return flipHealth(cfg.Port, rest[1], stdout)
	default:
		return fmt.Errorf("unknown arguments %q: run it without arguments to serve, or `health fail` / `health ok`", rest)
	}
}

func configFromEnv(getenv func(string) string) (config, error) {
	cfg := config{Version: images.SimpleServiceVersion, Port: 9876, FailAfter: -1}
	if v := getenv("SIMPLE_SERVICE_VERSION"); v != "" {
		cfg.Version = v
	}
	ints := []struct {
		name string
		set  func(int)
	}{
		{"PORT0", func(n int) { cfg.Port = n }},
		{"HEALTH_MIN", func(n int) { cfg.HealthMin = time.Duration(n) * time.Millisecond }},
		{"HEALTH_MAX", func(n int) { cfg.HealthMax = time.Duration(n) * time.Millisecond }},
		{"HEALTH_FAIL_AFTER", func(n int) { cfg.FailAfter = n }},
	}
	for _, v := range ints {
		s := getenv(v.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return cfg, fmt.Errorf("%s=%q: want a whole number", v.name, s)
		}
		v.set(n)
	}
	return cfg, nil
}

func serve(ctx context.Context, cfg config, out io.Writer) error {
	s := newService(cfg, out)
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	s.logf("INFO", "This is simple service in version v%s listening on port %d", cfg.Version, cfg.Port)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	// SIGTERM: stop at once (a pod's deletion should not wait out its grace period),
	// letting requests in flight finish for a moment.
	s.logf("INFO", "Shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// flipHealth asks the server listening on this network namespace to fail or pass
// /health: `kubectl exec <pod> -c <container> -- /simple-service health fail` works
// although the image has no shell or curl.
func flipHealth(port int, state string, out io.Writer) error {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/health/%s", port, state), "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	_, err = out.Write(body)
	return err
}
