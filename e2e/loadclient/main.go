// Command loadclient is the benchmarks' client inside a cluster: the Services
// benchmark copies it, statically linked, into a pod's network namespace and runs it
// there, so figures are taken from where a pod stands.
//
//	loadclient http URL -c N -d DURATION      requests/s and latency percentiles (JSON)
//	loadclient dns SERVER NAME -c N -d DURATION
//	loadclient connect HOST:PORT -timeout D    prints the Unix time (ns) of the first
//	                                           successful TCP connection
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// result is one load run's figures.
type result struct {
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	PerSec   float64 `json:"perSec"`
	P50ms    float64 `json:"p50ms"`
	P99ms    float64 `json:"p99ms"`
	// LastSeen is, with -hosts, the Unix time (ns) of each answering pod's last
	// answer (simple-service's /info names its pod).
	LastSeen map[string]int64 `json:"lastSeen,omitempty"`
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: loadclient http|dns|connect ...")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	conc := fs.Int("c", 8, "concurrent clients")
	dur := fs.Duration("d", 5*time.Second, "how long")
	timeout := fs.Duration("timeout", 30*time.Second, "connect: give up after")
	rate := fs.Int("rate", 0, "requests per second in all (0: as fast as the clients go)")
	hosts := fs.Bool("hosts", false, "http: record when each pod (the hostname in the JSON answer) last answered")
	mode, args := os.Args[1], os.Args[2:]
	var pos []string
	for len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		pos, args = append(pos, args[0]), args[1:]
	}
	_ = fs.Parse(args)
	switch mode {
	case "http":
		if len(pos) != 1 {
			fail("http URL")
		}
		// With -hosts every request is a new connection, so each is balanced afresh.
		tr := &http.Transport{MaxIdleConnsPerHost: *conc, DisableCompression: true, DisableKeepAlives: *hosts}
		cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		var mu sync.Mutex
		seen := map[string]int64{}
		r := load(*conc, *rate, *dur, func() error {
			resp, err := cl.Get(pos[0])
			if err != nil {
				return err
			}
			var info struct {
				Hostname string `json:"hostname"`
			}
			if *hosts {
				err = json.NewDecoder(resp.Body).Decode(&info)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s", resp.Status)
			}
			if *hosts && err == nil {
				mu.Lock()
				seen[info.Hostname] = time.Now().UnixNano()
				mu.Unlock()
			}
			return nil
		})
		if *hosts {
			r.LastSeen = seen
		}
		report(r)
	case "dns":
		if len(pos) != 2 {
			fail("dns SERVER NAME")
		}
		server := net.JoinHostPort(pos[0], "53")
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(pos[1]), dns.TypeA)
		report(load(*conc, *rate, *dur, func() error {
			cl := dns.Client{Timeout: 2 * time.Second}
			r, _, err := cl.Exchange(q, server)
			if err != nil {
				return err
			}
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
				return fmt.Errorf("rcode %d, %d answers", r.Rcode, len(r.Answer))
			}
			return nil
		}))
	case "connect":
		if len(pos) != 1 {
			fail("connect HOST:PORT")
		}
		deadline := time.Now().Add(*timeout)
		for time.Now().Before(deadline) {
			c, err := net.DialTimeout("tcp", pos[0], 200*time.Millisecond)
			if err == nil {
				fmt.Println(time.Now().UnixNano())
				c.Close()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		fail("no connection to " + pos[0])
	default:
		fail("unknown mode " + mode)
	}
}

// load runs op from conc goroutines for dur, paced to rate operations per second in
// all when rate > 0, so latency is measured at a load the server can carry rather
// than at saturation.
func load(conc, rate int, dur time.Duration, op func() error) result {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	end := time.Now().Add(dur)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			var gap time.Duration
			if rate > 0 {
				gap = time.Duration(int64(time.Second) * int64(conc) / int64(rate))
			}
			next := time.Now()
			for time.Now().Before(end) {
				if gap > 0 {
					next = next.Add(gap)
					time.Sleep(time.Until(next))
				}
				t := time.Now()
				if err := op(); err != nil {
					bad++
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	return result{Requests: len(lat), Errors: errs, PerSec: float64(len(lat)) / dur.Seconds(), P50ms: pct(0.50), P99ms: pct(0.99)}
}

func report(r result) {
	_ = json.NewEncoder(os.Stdout).Encode(r)
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "loadclient:", msg)
	os.Exit(2)
}
