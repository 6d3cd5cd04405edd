package store

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/kindlike/kindlike/pki"
)

func memberTLS(t *testing.T, ca *pki.CA, cn string, server, client bool) *tls.Config {
	t.Helper()
	kp, err := ca.Sign(pki.Request{CommonName: cn, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: server, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := kp.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.Pool()}
}

// TestTLSPeers runs a cluster over mutual TLS, then checks that the peer port refuses
// whoever lacks a member certificate from the cluster CA, and that members refuse to
// talk to a server without one.
func TestTLSPeers(t *testing.T) {
	ca, err := pki.NewCA("kindlike-test")
	if err != nil {
		t.Fatal(err)
	}
	var confs []*tls.Config
	for i := range 3 {
		confs = append(confs, memberTLS(t, ca, "member"+string(rune('0'+i)), true, true))
	}
	c := newTestCluster(t, 3, withTLS(confs))
	leader := c.leader(10 * time.Second)
	ctx := testCtx(t, 30*time.Second)
	f := c.followers(leader)
	e, err := c.stores[f[0]].Create(ctx, "/v1/secrets/default/s", []byte("over TLS"))
	if err != nil {
		t.Fatalf("create through a follower over TLS: %v", err)
	}
	got, err := c.stores[f[1]].Get(ctx, "/v1/secrets/default/s", true)
	if err != nil || got.Rev != e.Rev {
		t.Fatalf("consistent read on the other follower over TLS: %+v, %v", got, err)
	}

	rogueCA, err := pki.NewCA("rogue")
	if err != nil {
		t.Fatal(err)
	}
	leaderAddr := c.peers[leader].Addr
	tests := []struct {
		name string
		conf *tls.Config // nil: plain TCP
		ok   bool
	}{
		{"member certificate (control)", memberTLS(t, ca, "member9", true, true), true},
		{"plain TCP", nil, false},
		{"certificate from another CA", memberTLS(t, rogueCA, "rogue", true, true), false},
		{"client-only certificate from the cluster CA", memberTLS(t, ca, "kubectl-user", false, true), false},
		{"server-only certificate from the cluster CA", memberTLS(t, ca, "some-server", true, false), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fwd, closeFwd := testForwarder(t, tt.conf)
			defer closeFwd()
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			if tt.ok {
				if _, err := fwd.readIndex(cctx, leaderAddr, 0); err != nil {
					t.Fatalf("read index with a member certificate: %v", err)
				}
				return
			}
			if rev, err := fwd.readIndex(cctx, leaderAddr, 0); err == nil {
				t.Fatalf("read index over the peer port answered %d", rev)
			}
			cmd := command{Op: opCreate, Key: "/v1/secrets/default/injected", Value: []byte("x")}
			if _, err := fwd.write(cctx, leaderAddr, reqApply, cmd.encode()); err == nil {
				t.Fatal("write over the peer port accepted")
			}
		})
	}
	if _, err := c.stores[leader].Get(ctx, "/v1/secrets/default/injected", true); err == nil {
		t.Fatal("a refused peer managed to write")
	}

	// The other direction: a member dialling a server without a member certificate.
	rogueLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := newPeerNet(rogueLn, rogueLn.Addr(), memberTLS(t, rogueCA, "rogue", true, true), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	rogue.forward = func(net.Conn) { t.Error("rogue server got a forwarding connection") }
	rogue.serve()
	defer rogue.Close()
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := c.stores[f[0]].fwd.readIndex(cctx, rogueLn.Addr().String(), 0); err == nil {
		t.Fatal("member accepted a server with a rogue certificate")
	}
}

// testForwarder is a forwarding client with the given TLS config (nil: plain TCP).
func testForwarder(t *testing.T, conf *tls.Config) (*forwarder, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peerNet{ln: ln, advertise: ln.Addr(), log: testLogger(), conns: map[*peerConn]struct{}{}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.closing = p.ctx.Done()
	if conf != nil {
		// Use the config as given, as a rogue client would, not through peerTLS
		// (which refuses half-usable member certificates up front).
		cc := conf.Clone()
		cc.InsecureSkipVerify = true // the client trusting the member is not what is tested
		p.clientTLS = cc
	}
	f := newForwarder(p)
	return f, func() { f.close(); _ = p.Close() }
}

func TestPeerTLSConfigErrors(t *testing.T) {
	ca, err := pki.NewCA("kindlike-test")
	if err != nil {
		t.Fatal(err)
	}
	good := memberTLS(t, ca, "m", true, true)
	noCA := good.Clone()
	noCA.RootCAs = nil
	noCert := good.Clone()
	noCert.Certificates = nil
	for name, conf := range map[string]*tls.Config{"no CA": noCA, "no certificate": noCert} {
		if _, _, err := peerTLS(conf); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := peerTLS(good); err != nil {
		t.Errorf("good config: %v", err)
	}
}
