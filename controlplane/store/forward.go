package store

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The forwarding RPC: followers send writes, read-index requests and membership
// changes to the leader over the peer port. A connection carries one request at a
// time; a pool of connections per leader address gives concurrency. Each message is a
// frame: a 4-byte big-endian length and a payload.
//
//	request:  kind byte, body
//	response: status byte, body
const (
	reqApply     byte = 1 // body: encoded command; answer: encoded applyResult
	reqReadIndex byte = 2 // body: uvarint rev the asker has applied; answer: uvarint rev
	reqJoin      byte = 3 // body: id, addr; answer: empty
	reqRemove    byte = 4 // body: id; answer: empty
	reqTxn       byte = 5 // body: encoded transaction; answer: encoded txnResult
)

const (
	statusOK        byte = 0
	statusNotLeader byte = 1 // nothing was done: ask the leader
	statusUncertain byte = 2 // leadership lost after the write was submitted; body: message
	statusError     byte = 3 // body: message
)

const (
	// maxFrame bounds a frame: objects are limited to ~1.5 MB by the API, as in
	// Kubernetes; this only protects against a corrupt length.
	maxFrame = 64 << 20
	// maxRPCTime bounds one forwarded request when the caller's ctx does not: a paused
	// leader must not hold a follower's caller forever.
	maxRPCTime = 10 * time.Second
	// dialTimeout bounds connecting to the leader. A dead container's address on a
	// Docker network does not refuse, it stays silent, so this must be short.
	dialTimeout = time.Second
	// maxIdlePerLeader bounds the pooled connections kept per leader address.
	maxIdlePerLeader = 64
)

func writeFrame(w *bufio.Writer, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(n))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return w.Flush()
}

func readFrame(r *bufio.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame || n == 0 {
		return nil, fmt.Errorf("frame of %d bytes refused", n)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

// forwarder is the client side: a pool of connections to leaders.
type forwarder struct {
	p    *peerNet
	mu   sync.Mutex
	idle map[string][]*fwdConn
}

type fwdConn struct {
	pc *peerConn
	r  *bufio.Reader
	w  *bufio.Writer
}

func newForwarder(p *peerNet) *forwarder {
	return &forwarder{p: p, idle: make(map[string][]*fwdConn)}
}

// call sends one request to addr. sent reports whether the request may have reached
// the leader, which matters for writes: before that, a failure is safe to retry.
func (f *forwarder) call(ctx context.Context, addr string, req ...[]byte) (status byte, body []byte, sent bool, err error) {
	c, err := f.get(ctx, addr)
	if err != nil {
		return 0, nil, false, err
	}
	dl := time.Now().Add(maxRPCTime)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = c.pc.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = c.pc.SetDeadline(time.Unix(1, 0)) })
	err = writeFrame(c.w, req...)
	var resp []byte
	if err == nil {
		resp, err = readFrame(c.r)
	}
	stopped := stop()
	if err != nil {
		_ = c.pc.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return 0, nil, true, err
	}
	if stopped {
		_ = c.pc.SetDeadline(time.Time{})
		f.put(addr, c)
	} else {
		_ = c.pc.Close() // its deadline was set in the past; the answer came anyway
	}
	return resp[0], resp[1:], true, nil
}

func (f *forwarder) get(ctx context.Context, addr string) (*fwdConn, error) {
	for {
		f.mu.Lock()
		pool := f.idle[addr]
		if len(pool) == 0 {
			f.mu.Unlock()
			break
		}
		c := pool[len(pool)-1]
		f.idle[addr] = pool[:len(pool)-1]
		f.mu.Unlock()
		if c.alive() {
			return c, nil
		}
		_ = c.pc.Close()
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	pc, err := f.p.dial(dctx, addr, protoForward)
	if err != nil {
		return nil, err
	}
	return &fwdConn{pc: pc, r: bufio.NewReader(pc), w: bufio.NewWriter(pc)}, nil
}

// alive checks that a pooled connection was not closed by the other side (a leader
// that restarted, say) without blocking, so that a write is not sent into a dead
// connection and then reported as uncertain.
func (c *fwdConn) alive() bool {
	if c.r.Buffered() > 0 {
		return false // nothing is expected between requests
	}
	_ = c.pc.SetReadDeadline(time.Now())
	_, err := c.r.Peek(1)
	_ = c.pc.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (f *forwarder) put(addr string, c *fwdConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.idle[addr]) >= maxIdlePerLeader {
		_ = c.pc.Close()
		return
	}
	f.idle[addr] = append(f.idle[addr], c)
}

// write forwards an encoded entry to the leader at addr: a command (reqApply) or a
// transaction (reqTxn).
func (f *forwarder) write(ctx context.Context, addr string, kind byte, data []byte) (fsmResult, error) {
	status, body, sent, err := f.call(ctx, addr, []byte{kind}, data)
	if err != nil {
		if !sent {
			return nil, retryable(fmt.Errorf("forward to leader %s: %w", addr, err))
		}
		if callerGaveUp(ctx) {
			return nil, fmt.Errorf("forward to leader %s, outcome unknown: %w", addr, err)
		}
		return nil, uncertain(fmt.Errorf("forward to leader %s: %w", addr, err))
	}
	switch status {
	case statusOK:
		if kind == reqTxn {
			return decodeTxnResult(body)
		}
		return decodeApplyResult(body)
	case statusNotLeader:
		return nil, retryable(fmt.Errorf("forward to %s: %w", addr, errNotLeader))
	case statusUncertain:
		return nil, uncertain(fmt.Errorf("leader %s: %s", addr, body))
	}
	return nil, fmt.Errorf("leader %s: %s", addr, body)
}

// readIndex asks the leader at addr for a rev that covers every write acknowledged
// before the call, telling it the rev this member has applied (so that the leader
// can hurry the commit index along when this member is behind). It is safe to retry
// whatever happens.
func (f *forwarder) readIndex(ctx context.Context, addr string, applied uint64) (uint64, error) {
	status, body, _, err := f.call(ctx, addr, binary.AppendUvarint([]byte{reqReadIndex}, applied))
	if err != nil {
		if callerGaveUp(ctx) {
			return 0, err
		}
		return 0, retryable(fmt.Errorf("read index from leader %s: %w", addr, err))
	}
	switch status {
	case statusOK:
		d := decoder{b: body}
		rev := d.uvarint()
		if err := d.finish(); err != nil {
			return 0, fmt.Errorf("read index from leader %s: %w", addr, err)
		}
		return rev, nil
	case statusNotLeader:
		return 0, retryable(fmt.Errorf("read index from %s: %w", addr, errNotLeader))
	}
	return 0, fmt.Errorf("read index from leader %s: %s", addr, body)
}

// membership forwards a join or remove. Adding or removing the same server twice is
// harmless in raft, so failures in transit are retried.
func (f *forwarder) membership(ctx context.Context, addr string, req []byte) error {
	status, body, _, err := f.call(ctx, addr, req)
	if err != nil {
		if callerGaveUp(ctx) {
			return err
		}
		return retryable(fmt.Errorf("forward to leader %s: %w", addr, err))
	}
	switch status {
	case statusOK:
		return nil
	case statusNotLeader, statusUncertain:
		return retryable(fmt.Errorf("forward to %s: %w", addr, errNotLeader))
	}
	return fmt.Errorf("leader %s: %s", addr, body)
}

// callerGaveUp tells the caller's ctx ending from a request abandoned because the
// leader changed (which is worth retrying).
func callerGaveUp(ctx context.Context) bool {
	return ctx.Err() != nil && !errors.Is(context.Cause(ctx), errLeaderChanged)
}

func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for addr, pool := range f.idle {
		for _, c := range pool {
			_ = c.pc.Close()
		}
		delete(f.idle, addr)
	}
}

// serveForward answers forwarding requests on one connection until it closes. It runs
// on the goroutine the peer listener gave the connection.
func (s *Store) serveForward(conn net.Conn) {
	r := bufio.NewReader(conn)
	w := bufio.NewWriter(conn)
	for {
		req, err := readFrame(r)
		if err != nil {
			return
		}
		status, body := s.handleForward(req)
		if err := writeFrame(w, []byte{status}, body); err != nil {
			return
		}
	}
}

func (s *Store) handleForward(req []byte) (byte, []byte) {
	ctx, cancel := context.WithTimeout(s.ctx, maxRPCTime)
	defer cancel()
	kind, body := req[0], req[1:]
	switch kind {
	case reqApply, reqTxn:
		if s.raft.State() != raft.Leader {
			return statusNotLeader, nil
		}
		// The entry's first byte is its format; the answer's shape follows the kind,
		// so a body of the other format is refused before it reaches the log.
		if len(body) == 0 || (body[0] == txnVersion) != (kind == reqTxn) {
			return statusError, []byte("entry format does not match the request")
		}
		res, err := s.applyLocal(body)
		if err != nil {
			return forwardError(err)
		}
		s.nudgeFollowersSoon()
		switch r := res.(type) {
		case *applyResult:
			return statusOK, r.encode()
		case *txnResult:
			return statusOK, r.encode()
		}
		return statusError, fmt.Appendf(nil, "unexpected FSM response %T", res)
	case reqReadIndex:
		d := decoder{b: body}
		applied := d.uvarint()
		if err := d.finish(); err != nil {
			return statusError, []byte(err.Error())
		}
		rev, err := s.leaderReadIndex(ctx)
		if errors.Is(err, ErrClosed) {
			return statusNotLeader, nil // ask whoever leads next
		}
		if err != nil {
			return forwardError(err)
		}
		if rev > applied {
			// The asker waits to apply rev, which it may not know is committed.
			s.nudgeFollowersSoon()
		}
		return statusOK, binary.AppendUvarint(nil, rev)
	case reqJoin, reqRemove:
		if s.raft.State() != raft.Leader {
			return statusNotLeader, nil
		}
		d := decoder{b: body}
		id := d.string()
		var addr string
		if kind == reqJoin {
			addr = d.string()
		}
		if err := d.finish(); err != nil {
			return statusError, []byte(err.Error())
		}
		var err error
		if kind == reqJoin {
			err = s.addVoter(id, addr)
		} else {
			err = s.removeServer(id)
		}
		if err != nil {
			return forwardError(err)
		}
		return statusOK, nil
	}
	return statusError, fmt.Appendf(nil, "unknown request kind %d", kind)
}

func forwardError(err error) (byte, []byte) {
	switch {
	case isRetryable(err):
		return statusNotLeader, nil
	case errors.Is(err, ErrUncertain), errors.Is(err, ErrClosed):
		// Shutting down with the write handed to raft: it may be in the log.
		return statusUncertain, []byte(err.Error())
	}
	return statusError, []byte(err.Error())
}
