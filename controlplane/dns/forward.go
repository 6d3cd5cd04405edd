package dns

import (
	"log/slog"
	"time"

	"github.com/miekg/dns"
)

// forwarder sends the queries the cluster does not answer to the upstream resolvers.
type forwarder struct {
	upstreams []string
	timeout   time.Duration
	log       *slog.Logger
}

// forward asks each upstream in turn until one answers, over UDP and again over TCP
// when the answer was truncated; SERVFAIL when none does. Upstreams are tried in
// order, as glibc does with resolv.conf, so the first one is the one normally used.
func (f *forwarder) forward(req *dns.Msg) *dns.Msg {
	udp := &dns.Client{Net: "udp", Timeout: f.timeout}
	tcp := &dns.Client{Net: "tcp", Timeout: f.timeout}
	// Exchange writes the message; a copy keeps the caller's (and the ID it answers) intact.
	q := req.Copy()
	q.Id = dns.Id()
	for _, up := range f.upstreams {
		r, _, err := udp.Exchange(q, up)
		if err == nil && r.Truncated {
			r, _, err = tcp.Exchange(q, up)
		}
		if err != nil {
			// Debug only: a dead upstream would otherwise log once per query.
			f.log.Debug("upstream did not answer", "upstream", up, "name", q.Question[0].Name, "err", err)
			continue
		}
		r.Id = req.Id
		return r
	}
	return new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
}
