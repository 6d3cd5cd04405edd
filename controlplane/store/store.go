package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Peer is one voting member as every member's bootstrap configuration lists it.
type Peer struct {
	ID   string
	Addr string // host:port of the member's peer (Raft) listener
}

// Defaults for the Config fields left zero.
//
// The Raft timings aim at failover well under 3 s on a busy 2-core machine running a
// whole cluster of containers. A follower starts an election after 1-2 heartbeat
// timeouts without hearing from the leader, and an election round takes 1-2 election
// timeouts when votes split: 700 ms each gives ~1-1.5 s typically and under 3 s at
// worst, while the leader's heartbeats (every HeartbeatTimeout/10 = 70 ms) leave ten
// chances to get through a GC pause or a slow fsync before anyone calls an election.
// The leader lease (350 ms, 5 heartbeats) makes a partitioned leader step down, and
// stop its controllers, well before a new leader can be elected on the other side.
const (
	DefaultHeartbeatTimeout   = 700 * time.Millisecond
	DefaultElectionTimeout    = 700 * time.Millisecond
	DefaultLeaderLeaseTimeout = 350 * time.Millisecond

	// Snapshot after 4096 new entries (checked every 30 s) and keep 4096 entries
	// behind it for followers that lag, so the log holds at most ~8-10k entries
	// between compactions: a few tens of MB with Kubernetes-sized objects.
	DefaultSnapshotThreshold = 4096
	DefaultSnapshotInterval  = 30 * time.Second
	DefaultTrailingLogs      = 4096

	DefaultWatchHistory = 10000
	DefaultLeaderWait   = 4 * time.Second
)

// Internal tuning, measured with the package benchmarks (see bench_test.go).
const (
	// commitTimeout is how long an idle leader waits before telling followers the
	// new commit index (heartbeats do not carry it), raft's default. A follower that
	// waits for it (a write it forwarded, a read index it is behind on) gets it at
	// once through nudgeFollowers; a follower's watchers see a write made on the
	// leader 50-100 ms later when nothing else is written. Nudging after every
	// leader write too cost a single writer on the leader 40 % of its rate (a
	// barrier queued behind each write), and at 5 ms the leader's replication loops
	// alone kept an idle three-member cluster at about 20 % of a core (7 % now).
	commitTimeout = 50 * time.Millisecond
	// maxAppendEntries bounds the entries per AppendEntries RPC, per disk write
	// (one fsync each) and per FSM batch.
	maxAppendEntries = 256
	// logCacheSize keeps the newest entries in memory, for replication and apply.
	logCacheSize = 1024
	// snapshotsRetained: one to restore from and the one before it.
	snapshotsRetained = 2
	// applyEnqueueTimeout bounds waiting for room in raft's apply queue.
	applyEnqueueTimeout = 5 * time.Second
)

// Config configures one member.
type Config struct {
	ID      string // this member's server ID
	DataDir string // raft.db (log and stable store) and snapshots/; created if missing
	// Bind is the address the peer port listens on ("0.0.0.0:6444", "127.0.0.1:0").
	Bind string
	// Listener, when set, is used instead of listening on Bind; the store owns it and
	// closes it. Tests use it to know every address before any member opens.
	Listener net.Listener
	// Advertise is the address peers dial. It defaults to this member's Addr in Peers,
	// else the listener's address (which must not be a wildcard).
	Advertise string
	// Peers is the full voter list including this member; every member bootstraps with
	// the same list, once: a data dir holding state is never bootstrapped again. Empty
	// means this member waits to be added with Join.
	Peers []Peer
	// TLS secures the peer port with mutual TLS: Certificates holds this member's
	// certificate (valid for server and client auth) and RootCAs or ClientCAs the
	// cluster CA. nil means plain TCP, which only unit tests may use.
	TLS *tls.Config

	// Raft timings; zero means the Default values above.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	// Log compaction; zero means the Default values above.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64

	// WatchHistory is the number of events kept for watch resumption (default 10000).
	WatchHistory int
	// LeaderWait is how long a request waits for a reachable leader before failing
	// with ErrNoLeader (default 4 s); the caller's ctx may end it sooner.
	LeaderWait time.Duration

	// Logger receives the store's logs; raft's own are passed on at warn and above.
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.ID == "" {
		return errors.New("store: Config.ID is empty")
	}
	if c.DataDir == "" {
		return errors.New("store: Config.DataDir is empty")
	}
	if c.Bind == "" && c.Listener == nil {
		return errors.New("store: Config.Bind is empty")
	}
	seen := map[string]bool{}
	self := false
	for _, p := range c.Peers {
		if p.ID == "" || p.Addr == "" || seen[p.ID] {
			return fmt.Errorf("store: bad peer list %v: IDs and addresses must be set, IDs unique", c.Peers)
		}
		seen[p.ID] = true
		if p.ID == c.ID {
			self = true
			if c.Advertise == "" {
				c.Advertise = p.Addr
			} else if c.Advertise != p.Addr {
				return fmt.Errorf("store: Advertise %s differs from this member's peer address %s", c.Advertise, p.Addr)
			}
		}
	}
	if len(c.Peers) > 0 && !self {
		return fmt.Errorf("store: this member %q is not in Peers", c.ID)
	}
	if c.WatchHistory < 0 || c.LeaderWait < 0 {
		return errors.New("store: WatchHistory and LeaderWait must not be negative")
	}
	setDefault(&c.HeartbeatTimeout, DefaultHeartbeatTimeout)
	setDefault(&c.ElectionTimeout, DefaultElectionTimeout)
	setDefault(&c.LeaderLeaseTimeout, DefaultLeaderLeaseTimeout)
	setDefault(&c.SnapshotThreshold, DefaultSnapshotThreshold)
	setDefault(&c.SnapshotInterval, DefaultSnapshotInterval)
	setDefault(&c.TrailingLogs, DefaultTrailingLogs)
	setDefault(&c.WatchHistory, DefaultWatchHistory)
	setDefault(&c.LeaderWait, DefaultLeaderWait)
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Store is one member of the replicated store.
type Store struct {
	cfg   Config
	log   *slog.Logger
	raft  *raft.Raft
	fsm   *fsm
	bolt  *raftboltdb.BoltStore
	trans *raft.NetworkTransport
	pn    *peerNet
	fwd   *forwarder
	self  string // advertised peer address

	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	closing <-chan struct{}
	closed  sync.Once
	wg      sync.WaitGroup // every goroutine the store starts itself

	// Raft futures queued in its buffered channels when it shuts down are never
	// answered, so every call that creates one goes through enter/exit, and Close lets
	// them finish before it shuts raft down.
	opsMu     sync.RWMutex
	opsClosed bool
	ops       sync.WaitGroup

	leaderMu      sync.Mutex
	lead          *leadership   // current leadership of this member, nil when not leader
	leaderChanged chan struct{} // closed and replaced when lead changes
	// raftLeaderChanged is closed and replaced when the leader this member knows of
	// changes, whoever it is.
	raftLeaderChanged chan struct{}
	leaderObserver    *raft.Observer
	// nudge asks the leader to tell followers its commit index now; see nudgeFollowers.
	nudge chan struct{}
	// readyTerm is the term in which this member, as leader, committed a barrier: from
	// then on its FSM holds every write acknowledged by earlier leaders.
	readyTerm atomic.Uint64
}

// Open starts a member: it opens or creates the data dir, bootstraps the cluster on
// first start, and joins the Raft group. It does not wait for a leader.
func Open(cfg Config) (_ *Store, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("member", cfg.ID)
	hlog := newRaftLogger(log)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}

	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Bind); err != nil {
			return nil, fmt.Errorf("store: listen on peer port: %w", err)
		}
	}
	undo = append(undo, func() { _ = ln.Close() })
	if cfg.Advertise == "" {
		tcp, ok := ln.Addr().(*net.TCPAddr)
		if !ok || tcp.IP.IsUnspecified() {
			return nil, fmt.Errorf("store: listening on %s: set Advertise to an address peers can dial", ln.Addr())
		}
		cfg.Advertise = tcp.String()
	}
	if cfg.TLS == nil {
		log.Warn("raft peer port is plain TCP; only tests should run like this", "addr", cfg.Advertise)
	}
	pn, err := newPeerNet(ln, advertiseAddr(cfg.Advertise), cfg.TLS, log)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	undo = append(undo, func() { _ = pn.Close() })

	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(cfg.DataDir, "raft.db"),
		BoltOptions: &bbolt.Options{
			Timeout: time.Second, // another process holding the file: fail, don't hang
			// The freelist is rebuilt on open instead of written on every commit:
			// less to fsync per write. Durability of the log is unaffected.
			NoFreelistSync: true,
			FreelistType:   bbolt.FreelistMapType,
		},
		MsgpackUseNewTimeFormat: true,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open raft log in %s: %w", cfg.DataDir, err)
	}
	undo = append(undo, func() { _ = bolt.Close() })
	logs, err := raft.NewLogCache(logCacheSize, bolt)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, snapshotsRetained, hlog)
	if err != nil {
		return nil, fmt.Errorf("store: open snapshots in %s: %w", cfg.DataDir, err)
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  raftLayer{pn},
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hlog,
	})
	undo = append(undo, func() { _ = trans.Close() })

	// Buffered so that raft's leader loop, which blocks on this send, never waits for
	// us; monitorLeadership drains it.
	notify := make(chan bool, 16)
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = commitTimeout
	rc.MaxAppendEntries = maxAppendEntries
	rc.BatchApplyCh = true
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.NotifyCh = notify
	rc.Logger = hlog
	rc.NoLegacyTelemetry = true
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}

	if len(cfg.Peers) > 0 {
		existing, err := raft.HasExistingState(logs, bolt, snaps)
		if err != nil {
			return nil, fmt.Errorf("store: read raft state in %s: %w", cfg.DataDir, err)
		}
		if !existing {
			var conf raft.Configuration
			for _, p := range cfg.Peers {
				conf.Servers = append(conf.Servers, raft.Server{
					Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr),
				})
			}
			err := raft.BootstrapCluster(rc, logs, bolt, snaps, trans, conf)
			if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
				return nil, fmt.Errorf("store: bootstrap: %w", err)
			}
			log.Info("bootstrapped raft cluster", "peers", len(cfg.Peers))
		}
	}

	f := newFSM(log, cfg.WatchHistory)
	r, err := raft.NewRaft(rc, f, logs, bolt, snaps, trans)
	if err != nil {
		return nil, fmt.Errorf("store: start raft: %w", err)
	}

	s := &Store{
		cfg:               cfg,
		log:               log,
		raft:              r,
		fsm:               f,
		bolt:              bolt,
		trans:             trans,
		pn:                pn,
		fwd:               newForwarder(pn),
		self:              cfg.Advertise,
		leaderChanged:     make(chan struct{}),
		raftLeaderChanged: make(chan struct{}),
		nudge:             make(chan struct{}, 1),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.closing = s.ctx.Done()
	pn.forward = s.serveForward
	pn.serve()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.monitorLeadership(notify)
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.nudgeFollowers()
	}()
	obs := make(chan raft.Observation, 16)
	s.leaderObserver = raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(s.leaderObserver)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.followLeader(obs)
	}()
	log.Info("store open", "addr", cfg.Advertise, "rev", s.Rev())
	return s, nil
}

// Close stops the member: raft, the peer port, watchers, leader work. Every goroutine
// the store started has returned when it does. Calls in progress fail with ErrClosed.
func (s *Store) Close() error {
	var err error
	s.closed.Do(func() {
		s.cancel()
		s.opsMu.Lock()
		s.opsClosed = true
		s.opsMu.Unlock()
		s.ops.Wait()
		if e := s.raft.Shutdown().Error(); e != nil {
			err = fmt.Errorf("store: shut down raft: %w", e)
		}
		s.raft.DeregisterObserver(s.leaderObserver)
		_ = s.trans.Close()
		s.fwd.close()
		_ = s.pn.Close()
		s.wg.Wait()
		if e := s.bolt.Close(); e != nil && err == nil {
			err = fmt.Errorf("store: close raft log: %w", e)
		}
	})
	return err
}

// enter admits a call that will wait on a raft future; false once Close has begun.
// A successful enter must be paired with exit.
func (s *Store) enter() bool {
	s.opsMu.RLock()
	defer s.opsMu.RUnlock()
	if s.opsClosed {
		return false
	}
	s.ops.Add(1)
	return true
}

func (s *Store) exit() { s.ops.Done() }

func (s *Store) isClosed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// Get returns the object under key. With consistent, the read reflects every write
// acknowledged anywhere before Get was called; without, it is this member's state,
// which may lag the leader. Entry.Value is shared with the store: do not modify it.
func (s *Store) Get(ctx context.Context, key string, consistent bool) (Entry, error) {
	if err := s.readBarrier(ctx, consistent); err != nil {
		return Entry{}, fmt.Errorf("get %s: %w", key, err)
	}
	e, ok := s.fsm.get(key)
	if !ok {
		return Entry{}, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	return e, nil
}

// List returns the objects whose key starts with prefix, sorted by key, and the rev
// the list reflects: every write up to rev is in it, none after. Watch from that rev
// to follow on. Consistency is as for Get.
func (s *Store) List(ctx context.Context, prefix string, consistent bool) ([]Entry, uint64, error) {
	if err := s.readBarrier(ctx, consistent); err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", prefix, err)
	}
	entries, rev := s.fsm.list(prefix)
	return entries, rev, nil
}

func (s *Store) readBarrier(ctx context.Context, consistent bool) error {
	if s.isClosed() {
		return ErrClosed
	}
	if !consistent {
		return nil
	}
	return s.linearize(ctx)
}

// Create stores value under key if the key holds nothing; otherwise the error wraps
// ErrExists (a *ConflictError).
func (s *Store) Create(ctx context.Context, key string, value []byte) (Entry, error) {
	return s.write(ctx, command{Op: opCreate, Key: key, Value: value})
}

// Update replaces the value under key. With expectRev non-zero it succeeds only if the
// object's Rev is expectRev, else the error wraps ErrConflict (a *ConflictError). An
// absent key gives ErrNotFound.
func (s *Store) Update(ctx context.Context, key string, value []byte, expectRev uint64) (Entry, error) {
	return s.write(ctx, command{Op: opUpdate, Key: key, Value: value, ExpectRev: expectRev})
}

// Delete removes the object under key, under the same conditions as Update. It returns
// the object's last value with Rev set to the index of the delete.
func (s *Store) Delete(ctx context.Context, key string, expectRev uint64) (Entry, error) {
	return s.write(ctx, command{Op: opDelete, Key: key, ExpectRev: expectRev})
}

// Txn applies writes atomically, in one log entry: either every one of them is
// applied or none is. Each write is decided as Create, Update or Delete would decide
// it, against the state before the transaction; keys must be distinct. It returns the
// objects after the writes, in order (a delete: the object's last value with Rev the
// transaction's index), all with the same Rev. When a write is refused the error is a
// *TxnError naming it. Watchers see one event per write, all at that Rev.
//
// This is how the API server claims a Service's cluster IP and node ports under keys of
// their own in the same step as it writes the Service: two Services can never claim
// one address, whichever member they were written through.
func (s *Store) Txn(ctx context.Context, ops ...Op) ([]Entry, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	if len(ops) > maxTxnWrites {
		return nil, fmt.Errorf("transaction of %d writes: at most %d", len(ops), maxTxnWrites)
	}
	if len(ops) == 1 {
		// A transaction of one write is that write, in the single-write form.
		e, err := s.write(ctx, ops[0].c)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrExists) || errors.Is(err, ErrConflict) {
			return nil, &TxnError{Index: 0, Key: ops[0].c.Key, Err: err}
		}
		if err != nil {
			return nil, err
		}
		return []Entry{e}, nil
	}
	t := txnCommand{Writes: make([]command, len(ops))}
	seen := make(map[string]bool, len(ops))
	for i, o := range ops {
		if o.c.Key == "" || !o.c.Op.valid() {
			return nil, fmt.Errorf("transaction write %d: empty key or no operation", i)
		}
		if seen[o.c.Key] {
			return nil, fmt.Errorf("transaction write %d: key %s written twice", i, o.c.Key)
		}
		seen[o.c.Key] = true
		t.Writes[i] = o.c
	}
	resp, err := s.submit(ctx, reqTxn, t.encode())
	if err != nil {
		return nil, fmt.Errorf("transaction on %s: %w", ops[0].c.Key, err)
	}
	res, ok := resp.(*txnResult)
	if !ok {
		return nil, fmt.Errorf("transaction on %s: unexpected result %T", ops[0].c.Key, resp)
	}
	if err := res.err(t); err != nil {
		return nil, err
	}
	return res.Entries, nil
}

// write submits one command through the leader and returns once this member applied it.
func (s *Store) write(ctx context.Context, c command) (Entry, error) {
	if c.Key == "" {
		return Entry{}, fmt.Errorf("%s: empty key", c.Op)
	}
	resp, err := s.submit(ctx, reqApply, c.encode())
	if err != nil {
		return Entry{}, fmt.Errorf("%s %s: %w", c.Op, c.Key, err)
	}
	res, ok := resp.(*applyResult)
	if !ok {
		return Entry{}, fmt.Errorf("%s %s: unexpected result %T", c.Op, c.Key, resp)
	}
	if err := res.err(c.Op, c.Key); err != nil {
		return Entry{}, err
	}
	return res.Entry, nil
}

// fsmResult is what the FSM answers for an entry: *applyResult or *txnResult.
type fsmResult interface{ index() uint64 }

func (r *applyResult) index() uint64 { return r.Index }
func (r *txnResult) index() uint64   { return r.Index }

// submit hands an encoded entry (kind reqApply: a command, reqTxn: a transaction) to
// the leader and returns the FSM's answer once this member applied it.
//
// The caller's ctx bounds waiting for a leader and, on a follower, waiting to apply;
// once an entry is handed to raft on the leader it runs to its end (raft answers every
// submitted entry, on commit or on loss of leadership), so ctx cannot abandon a write
// whose outcome would then be unknown.
func (s *Store) submit(ctx context.Context, kind byte, data []byte) (fsmResult, error) {
	var res fsmResult
	var remote bool
	err := s.onLeader(ctx, func(ctx context.Context, self bool, addr string) error {
		var err error
		if remote = !self; self {
			res, err = s.applyLocal(data)
		} else {
			res, err = s.fwd.write(ctx, addr, kind, data)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if remote {
		// Read-your-writes on this member: the leader applied it; wait until we have.
		if err := s.waitApplied(ctx, res.index()); err != nil {
			return nil, fmt.Errorf("committed at %d, not yet applied here: %w", res.index(), err)
		}
	}
	return res, nil
}

// applyLocal submits an encoded entry on this member, which must lead, and waits
// for the FSM's answer.
func (s *Store) applyLocal(data []byte) (fsmResult, error) {
	if !s.enter() {
		return nil, retryable(ErrClosed) // not submitted
	}
	defer s.exit()
	f := s.raft.Apply(data, applyEnqueueTimeout)
	if err := f.Error(); err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader),
			errors.Is(err, raft.ErrEnqueueTimeout),
			errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return nil, retryable(err) // never entered the log
		case errors.Is(err, raft.ErrRaftShutdown) && s.isClosed():
			return nil, ErrClosed
		}
		return nil, uncertain(err)
	}
	res, ok := f.Response().(fsmResult)
	if !ok {
		return nil, fmt.Errorf("unexpected FSM response %T", f.Response())
	}
	return res, nil
}

// nudgeFollowersSoon asks nudgeFollowers for a barrier, unless one is already due.
func (s *Store) nudgeFollowersSoon() {
	select {
	case s.nudge <- struct{}{}:
	default: // a nudge is already due
	}
}

// nudgeFollowers runs on every member and acts while it leads. A follower that
// forwarded a write answers only once it has applied it (read-your-writes), a
// follower serving a linearizable read waits to apply the leader's read index, and
// raft tells an idle follower the new commit index only after commitTimeout. A
// barrier entry is replicated at once and carries the commit index, so the leader
// appends one whenever it applied forwarded writes or gave a read index to a
// follower behind it: at most one in flight, nudges arriving meanwhile folded into
// the next. An idle cluster appends nothing.
func (s *Store) nudgeFollowers() {
	for {
		select {
		case <-s.closing:
			return
		case <-s.nudge:
		}
		if s.raft.State() != raft.Leader || !s.enter() {
			continue
		}
		_ = s.raft.Barrier(applyEnqueueTimeout).Error()
		s.exit()
	}
}

// onLeader runs fn against the leader: on this member (self) or at the leader's peer
// address. Retryable failures (no leader elected yet, leader unreachable or no longer
// leading) are retried, at once when this member learns of a new leader and with
// backoff otherwise, for up to LeaderWait; then the error is ErrNoLeader.
//
// fn's ctx for a remote leader is cancelled, with cause errLeaderChanged, when this
// member stops seeing that leader: a request to a leader that died or was paused is
// given up as soon as raft gives up on it, not after a timeout of its own.
func (s *Store) onLeader(ctx context.Context, fn func(ctx context.Context, self bool, addr string) error) error {
	deadline := time.Now().Add(s.cfg.LeaderWait)
	delay := 2 * time.Millisecond
	for {
		if s.isClosed() {
			return ErrClosed
		}
		changed := s.leaderSeen()
		var err error
		if s.raft.State() == raft.Leader {
			err = fn(ctx, true, "")
		} else if addr, _ := s.raft.LeaderWithID(); addr != "" && string(addr) != s.self {
			err = s.remoteAttempt(ctx, string(addr), changed, fn)
		} else {
			err = retryable(errors.New("no leader elected"))
		}
		if err == nil || !isRetryable(err) {
			return err
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w after %s: %v", ErrNoLeader, s.cfg.LeaderWait, err)
		}
		t := time.NewTimer(min(delay, time.Until(deadline)))
		select {
		case <-t.C:
		case <-changed:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-s.closing:
			t.Stop()
			return ErrClosed
		}
		t.Stop()
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// errLeaderChanged is the cause of a forwarded request's ctx ending because this member
// no longer sees the leader it was sent to.
var errLeaderChanged = errors.New("leader changed")

func (s *Store) remoteAttempt(ctx context.Context, addr string, changed <-chan struct{}, fn func(context.Context, bool, string) error) error {
	actx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	defer func() {
		close(done)
		cancel(nil)
	}()
	go func() {
		for {
			select {
			case <-changed:
				if a, _ := s.raft.LeaderWithID(); string(a) != addr {
					cancel(errLeaderChanged)
					return
				}
				changed = s.leaderSeen()
			case <-done:
				return
			}
		}
	}()
	return fn(actx, false, addr)
}

// leaderSeen returns a channel closed at the next change of the leader this member
// knows of (raft's LeaderObservation).
func (s *Store) leaderSeen() <-chan struct{} {
	s.leaderMu.Lock()
	defer s.leaderMu.Unlock()
	return s.raftLeaderChanged
}

// followLeader turns raft's leader observations into leaderSeen's broadcast.
func (s *Store) followLeader(obs <-chan raft.Observation) {
	for {
		select {
		case <-obs:
			s.leaderMu.Lock()
			close(s.raftLeaderChanged)
			s.raftLeaderChanged = make(chan struct{})
			s.leaderMu.Unlock()
		case <-s.closing:
			return
		}
	}
}

// linearize waits until this member's state reflects every write acknowledged before
// the call: the leader names a read index, this member waits to have applied it.
func (s *Store) linearize(ctx context.Context) error {
	var rev uint64
	err := s.onLeader(ctx, func(ctx context.Context, self bool, addr string) error {
		var err error
		if self {
			rev, err = s.leaderReadIndex(ctx)
		} else {
			rev, err = s.fwd.readIndex(ctx, addr, s.Rev())
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.waitApplied(ctx, rev)
}

// waitApplied waits for this member to apply rev, which the leader has committed. A
// member that cannot get there within LeaderWait has lost touch with the leader, and
// the caller gets ErrNoLeader rather than a wait as long as its ctx.
func (s *Store) waitApplied(ctx context.Context, rev uint64) error {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.LeaderWait)
	defer cancel()
	err := s.WaitForRev(wctx, rev)
	if err != nil && ctx.Err() == nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("%w: revision %d not applied on this member within %s", ErrNoLeader, rev, s.cfg.LeaderWait)
	}
	return err
}

// leaderReadIndex is the ReadIndex step on the leader. Every write acknowledged so far
// is in this member's FSM: those of earlier leaders because a barrier committed in
// this term (readyTerm), those of this term because the leader applies a write before
// acknowledging it. So the FSM's rev, read while the term is unchanged and confirmed
// by a quorum (VerifyLeader) afterwards, is a valid read index.
func (s *Store) leaderReadIndex(ctx context.Context) (uint64, error) {
	if s.raft.State() != raft.Leader {
		return 0, retryable(errNotLeader)
	}
	term := s.raft.CurrentTerm()
	if s.readyTerm.Load() != term {
		if err := s.waitEstablished(ctx); err != nil {
			return 0, err
		}
		if s.readyTerm.Load() != term {
			return 0, retryable(errors.New("leadership not yet established"))
		}
	}
	rev, _ := s.fsm.current()
	if !s.enter() {
		return 0, ErrClosed
	}
	err := s.raft.VerifyLeader().Error()
	s.exit()
	if err != nil {
		if errors.Is(err, raft.ErrRaftShutdown) {
			return 0, ErrClosed
		}
		return 0, retryable(err)
	}
	if s.raft.CurrentTerm() != term {
		return 0, retryable(errors.New("term changed during read"))
	}
	return rev, nil
}

// Rev returns the index of the last write this member applied: the resourceVersion
// its state reflects.
func (s *Store) Rev() uint64 {
	rev, _ := s.fsm.current()
	return rev
}

// WaitForRev waits until this member has applied rev.
func (s *Store) WaitForRev(ctx context.Context, rev uint64) error {
	for {
		cur, changed := s.fsm.current()
		if cur >= rev {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("wait for revision %d (at %d): %w", rev, cur, ctx.Err())
		case <-s.closing:
			return ErrClosed
		}
	}
}
