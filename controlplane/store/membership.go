package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// Status is one member's view of the cluster, for `kindlike status`.
type Status struct {
	ID    string
	State string // Leader, Follower, Candidate, Shutdown
	// LeaderID and LeaderAddr name the leader this member knows of; empty if none.
	LeaderID, LeaderAddr string
	Term                 uint64
	LastLogIndex         uint64
	CommitIndex          uint64
	// AppliedIndex is raft's applied index; Rev is the last write the FSM holds (the
	// resourceVersion of this member's state), which lags AppliedIndex when the newest
	// entries are raft's own (no-ops, barriers, configuration changes).
	AppliedIndex uint64
	Rev          uint64
	Members      []Member
}

// Member is one server of the Raft configuration.
type Member struct {
	ID, Addr string
	Voter    bool
	Leader   bool
}

// Status reports this member's view. Members is empty if the configuration cannot
// be read (the store is closed).
func (s *Store) Status() Status {
	leaderAddr, leaderID := s.raft.LeaderWithID()
	st := Status{
		ID:           s.cfg.ID,
		State:        s.raft.State().String(),
		LeaderID:     string(leaderID),
		LeaderAddr:   string(leaderAddr),
		Term:         s.raft.CurrentTerm(),
		LastLogIndex: s.raft.LastIndex(),
		CommitIndex:  s.raft.CommitIndex(),
		AppliedIndex: s.raft.AppliedIndex(),
		Rev:          s.Rev(),
	}
	if s.isClosed() {
		return st
	}
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return st
	}
	for _, srv := range f.Configuration().Servers {
		st.Members = append(st.Members, Member{
			ID:     string(srv.ID),
			Addr:   string(srv.Address),
			Voter:  srv.Suffrage == raft.Voter,
			Leader: srv.ID == leaderID,
		})
	}
	return st
}

// Join adds a voting member, through the leader. The new member opens with no Peers
// (so it does not bootstrap a cluster of its own) and is caught up by the leader.
// Joining a member already present at the same address does nothing.
func (s *Store) Join(ctx context.Context, id, addr string) error {
	if id == "" || addr == "" {
		return errors.New("join: member ID and address are required")
	}
	req := appendString(appendString([]byte{reqJoin}, id), addr)
	err := s.onLeader(ctx, func(ctx context.Context, self bool, leader string) error {
		if self {
			return s.addVoter(id, addr)
		}
		return s.fwd.membership(ctx, leader, req)
	})
	if err != nil {
		return fmt.Errorf("join %s at %s: %w", id, addr, err)
	}
	return nil
}

// Remove removes a member, through the leader. Removing an absent member does nothing.
func (s *Store) Remove(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("remove: member ID is required")
	}
	req := appendString([]byte{reqRemove}, id)
	err := s.onLeader(ctx, func(ctx context.Context, self bool, leader string) error {
		if self {
			return s.removeServer(id)
		}
		return s.fwd.membership(ctx, leader, req)
	})
	if err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	return nil
}

func (s *Store) addVoter(id, addr string) error {
	srv, err := s.member(id)
	if err != nil {
		return err
	}
	if srv != nil && string(srv.Address) == addr && srv.Suffrage == raft.Voter {
		return nil
	}
	if !s.enter() {
		return ErrClosed
	}
	defer s.exit()
	return membershipErr(s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, 0).Error())
}

func (s *Store) removeServer(id string) error {
	srv, err := s.member(id)
	if err != nil || srv == nil {
		return err
	}
	if !s.enter() {
		return ErrClosed
	}
	defer s.exit()
	return membershipErr(s.raft.RemoveServer(raft.ServerID(id), 0, 0).Error())
}

func (s *Store) member(id string) (*raft.Server, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, membershipErr(err)
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == id {
			return &srv, nil
		}
	}
	return nil, nil
}

// membershipErr classifies a configuration change's failure. Adding or removing a
// server is idempotent, so a change cut short by a leader change is retried.
func membershipErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrEnqueueTimeout), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return retryable(err)
	}
	return err
}
