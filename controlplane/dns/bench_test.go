package dns

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// BenchmarkQueries measures cluster-name lookups from concurrent UDP clients against
// a server with 100 services, as pods resolving their peers would.
func BenchmarkQueries(b *testing.B) {
	const services = 100
	var objs []runtime.Object
	for i := range services {
		objs = append(objs, service("bench", fmt.Sprintf("svc-%d", i), fmt.Sprintf("10.96.%d.%d", i/250, i%250+1),
			port("http", corev1.ProtocolTCP, 80)))
	}
	s := start(b, fake.NewClientset(objs...), startUpstream(b).addr)
	waitReady(b, s)

	for _, clients := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			var next atomic.Int64
			lat := make([][]time.Duration, clients)
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			b.ResetTimer()
			begin := time.Now()
			for c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					conn, err := dns.Dial("udp", s.Addr())
					if err != nil {
						errs <- err
						return
					}
					defer conn.Close()
					m := new(dns.Msg)
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						m.SetQuestion(fmt.Sprintf("svc-%d.bench.svc.cluster.local.", i%services), dns.TypeA)
						t0 := time.Now()
						_ = conn.SetDeadline(t0.Add(2 * time.Second))
						if err := conn.WriteMsg(m); err != nil {
							errs <- err
							return
						}
						r, err := conn.ReadMsg()
						if err != nil {
							errs <- err
							return
						}
						lat[c] = append(lat[c], time.Since(t0))
						if len(r.Answer) != 1 {
							errs <- fmt.Errorf("%s: %d answers", m.Question[0].Name, len(r.Answer))
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(begin)
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			all := slices.Concat(lat...)
			slices.Sort(all)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "qps")
			b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
