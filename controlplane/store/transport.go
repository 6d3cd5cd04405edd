package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The peer port carries two protocols on one listener. After the TLS handshake (when
// configured) the dialer sends one byte saying which: Raft's own RPCs, handed to
// raft's NetworkTransport through a StreamLayer, or our forwarding RPC (writes,
// read indexes and membership changes sent by followers to the leader).
const (
	protoRaft    byte = 'r'
	protoForward byte = 'f'
)

// handshakeTimeout bounds the TLS handshake and the protocol byte on a new connection.
const handshakeTimeout = 5 * time.Second

var errListenerClosed = errors.New("peer listener closed")

// peerNet owns the peer listener and every connection made through it, in either
// direction, so that Close can end them all.
type peerNet struct {
	ln        net.Listener
	advertise net.Addr
	serverTLS *tls.Config // nil: plain TCP, for unit tests only
	clientTLS *tls.Config
	log       *slog.Logger

	raftConns chan net.Conn
	forward   func(net.Conn) // serves one forwarding connection until it ends

	ctx       context.Context // cancelled at shutdown: bounds dials and handshakes
	cancel    context.CancelFunc
	closing   <-chan struct{}
	closeOnce sync.Once
	mu        sync.Mutex
	conns     map[*peerConn]struct{}
	wg        sync.WaitGroup
}

func newPeerNet(ln net.Listener, advertise net.Addr, tlsConf *tls.Config, log *slog.Logger) (*peerNet, error) {
	p := &peerNet{
		ln:        ln,
		advertise: advertise,
		log:       log,
		raftConns: make(chan net.Conn),
		conns:     make(map[*peerConn]struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.closing = p.ctx.Done()
	if tlsConf != nil {
		var err error
		if p.serverTLS, p.clientTLS, err = peerTLS(tlsConf); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// peerTLS derives the server and client sides of mutual TLS from one config.
//
// Both sides verify the other's chain against the cluster CA (RootCAs, else ClientCAs)
// and require the certificate to be good for both server and client auth, as member
// certificates are: a client-only certificate (a kubeconfig user, say) signed by the
// same CA is refused. Host names are not checked, because members are identified by
// their CA-signed certificate and their addresses can change across container restarts.
// A caller wanting more (a CN or O check) sets VerifyConnection, which still runs.
func peerTLS(c *tls.Config) (server, client *tls.Config, err error) {
	pool := c.RootCAs
	if pool == nil {
		pool = c.ClientCAs
	}
	if pool == nil {
		return nil, nil, errors.New("peer TLS: RootCAs or ClientCAs must hold the cluster CA")
	}
	if len(c.Certificates) == 0 && c.GetCertificate == nil {
		return nil, nil, errors.New("peer TLS: no certificate for this member")
	}
	verify := verifyPeer(pool, c.VerifyConnection)

	server = c.Clone()
	server.ClientAuth = tls.RequireAnyClientCert // chain checked by verify, with both usages
	server.ClientCAs = pool                      // advertised, so the client picks the right cert
	server.VerifyConnection = verify
	server.MinVersion = tls.VersionTLS13

	client = c.Clone()
	// Chain verification is done by verify, against the cluster CA only; Go's default
	// would also demand the dialled host name in the certificate.
	client.InsecureSkipVerify = true
	client.VerifyConnection = verify
	client.MinVersion = tls.VersionTLS13
	if client.GetClientCertificate == nil && len(client.Certificates) > 0 {
		cert := client.Certificates[0]
		client.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	return server, client, nil
}

func verifyPeer(pool *x509.CertPool, next func(tls.ConnectionState) error) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("peer presented no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				Roots:         pool,
				Intermediates: inter,
				KeyUsages:     []x509.ExtKeyUsage{usage},
			})
			if err != nil {
				return fmt.Errorf("peer certificate %q: %w", cs.PeerCertificates[0].Subject.CommonName, err)
			}
		}
		if next != nil {
			return next(cs)
		}
		return nil
	}
}

// serve accepts connections until Close.
func (p *peerNet) serve() {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var delay time.Duration
		for {
			conn, err := p.ln.Accept()
			if err != nil {
				select {
				case <-p.closing:
					return
				default:
				}
				// Out of file descriptors and the like: back off, as net/http does.
				delay = max(5*time.Millisecond, min(2*delay, time.Second))
				p.log.Warn("peer listener accept failed", "error", err, "retry_in", delay)
				select {
				case <-time.After(delay):
					continue
				case <-p.closing:
					return
				}
			}
			delay = 0
			pc, ok := p.track(conn)
			if !ok {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.route(pc)
			}()
		}
	}()
}

// route completes the handshake of an accepted connection and hands it to its protocol.
func (p *peerNet) route(pc *peerConn) {
	if p.serverTLS != nil {
		tc := tls.Server(pc.raw, p.serverTLS)
		ctx, cancel := context.WithTimeout(p.ctx, handshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			p.log.Warn("peer TLS handshake refused", "remote", pc.raw.RemoteAddr().String(), "error", err)
			_ = pc.Close()
			return
		}
		pc.Conn = tc
	}
	var proto [1]byte
	_ = pc.SetReadDeadline(time.Now().Add(handshakeTimeout))
	if _, err := io.ReadFull(pc, proto[:]); err != nil {
		_ = pc.Close()
		return
	}
	_ = pc.SetReadDeadline(time.Time{})
	switch proto[0] {
	case protoRaft:
		select {
		case p.raftConns <- pc: // raft's transport owns it now; Close still ends it
		case <-p.closing:
			_ = pc.Close()
		}
	case protoForward:
		p.forward(pc)
		_ = pc.Close()
	default:
		p.log.Warn("unknown protocol on peer port", "remote", pc.raw.RemoteAddr().String(), "byte", proto[0])
		_ = pc.Close()
	}
}

// dial opens a connection to a peer for one protocol.
func (p *peerNet) dial(ctx context.Context, addr string, proto byte) (*peerConn, error) {
	d := net.Dialer{}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	pc, ok := p.track(raw)
	if !ok {
		return nil, errListenerClosed
	}
	if p.clientTLS != nil {
		tc := tls.Client(raw, p.clientTLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = pc.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		pc.Conn = tc
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = pc.SetWriteDeadline(dl)
	}
	if _, err := pc.Write([]byte{proto}); err != nil {
		_ = pc.Close()
		return nil, err
	}
	_ = pc.SetWriteDeadline(time.Time{})
	return pc, nil
}

// Close stops accepting, ends every connection and waits for the routing goroutines.
func (p *peerNet) Close() error {
	p.shutdown()
	p.wg.Wait()
	return nil
}

// shutdown is Close without the wait.
func (p *peerNet) shutdown() {
	p.closeOnce.Do(func() {
		p.cancel()
		_ = p.ln.Close()
		p.mu.Lock()
		conns := p.conns
		p.conns = nil
		p.mu.Unlock()
		for pc := range conns {
			// The raw socket, not the TLS layer: a TLS close_notify could wait on a
			// peer that is not reading.
			_ = pc.raw.Close()
		}
	})
}

func (p *peerNet) track(raw net.Conn) (*peerConn, bool) {
	pc := &peerConn{Conn: raw, raw: raw, p: p}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		_ = raw.Close()
		return nil, false
	}
	p.conns[pc] = struct{}{}
	return pc, true
}

// peerConn is a connection on the peer port, removed from the tracking set on close.
type peerConn struct {
	net.Conn          // the TLS connection if any, else raw
	raw      net.Conn // the socket
	p        *peerNet
	once     sync.Once
}

func (c *peerConn) Close() error {
	var err error
	c.once.Do(func() {
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
		err = c.Conn.Close()
	})
	return err
}

// raftLayer is the peer port as raft's NetworkTransport sees it.
type raftLayer struct{ p *peerNet }

var _ raft.StreamLayer = raftLayer{}

func (l raftLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.p.raftConns:
		return c, nil
	case <-l.p.closing:
		return nil, errListenerClosed
	}
}

// Close is called by the transport when the store closes it, after raft has shut
// down; the whole peer port goes with it. The store waits for the goroutines itself.
func (l raftLayer) Close() error {
	l.p.shutdown()
	return nil
}

// Addr is the advertised address: raft uses it as this member's own address.
func (l raftLayer) Addr() net.Addr { return l.p.advertise }

func (l raftLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(l.p.ctx, timeout)
	defer cancel()
	return l.p.dial(ctx, string(address), protoRaft)
}

// advertiseAddr is a fixed address as a net.Addr.
type advertiseAddr string

func (a advertiseAddr) Network() string { return "tcp" }
func (a advertiseAddr) String() string  { return string(a) }
