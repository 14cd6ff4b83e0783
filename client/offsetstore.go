package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/petrel-mq/petrel/internal/protocol"
)

// offsetStore keeps a group's consumed offsets: on the brokers for a
// clustering group, in a local file for a broadcasting one (every member
// has its own).
type offsetStore interface {
	// read returns the committed offset of mq; found is false when there
	// is none.
	read(ctx context.Context, mq MessageQueue) (off int64, found bool, err error)
	// commit records off as the next offset to consume of mq.
	commit(ctx context.Context, mq MessageQueue, off int64) error
}

// remoteOffsets is QUERY_CONSUMER_OFFSET / UPDATE_CONSUMER_OFFSET on the
// master of the queue's broker.
type remoteOffsets struct {
	inst  *instance
	group string
}

func (r *remoteOffsets) read(ctx context.Context, mq MessageQueue) (int64, bool, error) {
	req := protocol.NewRequest(protocol.QueryConsumerOffset, protocol.FieldsOf(
		"consumerGroup", r.group, "topic", mq.Topic, "queueId", strconv.Itoa(mq.QueueID)), nil)
	resp, err := r.inst.invokeBroker(ctx, mq.BrokerName, req)
	if err != nil {
		return 0, false, err
	}
	switch resp.Code {
	case protocol.Success:
		off, err := strconv.ParseInt(resp.Ext.Get("offset"), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("petrel client: QUERY_CONSUMER_OFFSET of %s: bad offset: %w", mq, err)
		}
		return off, true, nil
	case protocol.QueryNotFound:
		return 0, false, nil
	}
	return 0, false, r.inst.codeError(req, mq.BrokerName, resp)
}

func (r *remoteOffsets) commit(ctx context.Context, mq MessageQueue, off int64) error {
	req := protocol.NewRequest(protocol.UpdateConsumerOffset, protocol.FieldsOf(
		"consumerGroup", r.group, "topic", mq.Topic, "queueId", strconv.Itoa(mq.QueueID),
		"commitOffset", strconv.FormatInt(off, 10)), nil)
	resp, err := r.inst.invokeBroker(ctx, mq.BrokerName, req)
	if err != nil {
		return err
	}
	if resp.Code != protocol.Success {
		return r.inst.codeError(req, mq.BrokerName, resp)
	}
	return nil
}

// localOffsets is a broadcasting member's offsets, kept in memory and
// written to a JSON file (atomically: a temporary file renamed over it)
// every persist interval and on Close.
type localOffsets struct {
	path string

	mu      sync.Mutex
	offsets map[string]int64 // by MessageQueue.String()
	dirty   bool
}

// DefaultOffsetStoreDir is where broadcasting consumers keep offsets when
// OffsetStoreDir is empty: $HOME/.petrel_offsets.
func DefaultOffsetStoreDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".petrel_offsets")
}

func openLocalOffsets(dir, clientID, group string) (*localOffsets, error) {
	if dir == "" {
		dir = DefaultOffsetStoreDir()
	}
	safe := func(s string) string { return strings.NewReplacer("/", "_", "\\", "_", ":", "_").Replace(s) }
	lo := &localOffsets{path: filepath.Join(dir, safe(clientID), safe(group), "offsets.json"), offsets: make(map[string]int64)}
	b, err := os.ReadFile(lo.path)
	if errors.Is(err, os.ErrNotExist) {
		return lo, nil
	}
	if err != nil {
		return nil, fmt.Errorf("petrel client: read local offsets: %w", err)
	}
	if err := json.Unmarshal(b, &lo.offsets); err != nil {
		return nil, fmt.Errorf("petrel client: local offsets %s are corrupt: %w", lo.path, err)
	}
	return lo, nil
}

func (lo *localOffsets) read(_ context.Context, mq MessageQueue) (int64, bool, error) {
	lo.mu.Lock()
	defer lo.mu.Unlock()
	off, ok := lo.offsets[mq.String()]
	return off, ok, nil
}

func (lo *localOffsets) commit(_ context.Context, mq MessageQueue, off int64) error {
	lo.mu.Lock()
	defer lo.mu.Unlock()
	if lo.offsets[mq.String()] != off {
		lo.offsets[mq.String()] = off
		lo.dirty = true
	}
	return nil
}

// flush writes the offsets if they changed.
func (lo *localOffsets) flush() error {
	lo.mu.Lock()
	defer lo.mu.Unlock()
	if !lo.dirty {
		return nil
	}
	b, err := json.MarshalIndent(lo.offsets, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(lo.path), 0o755); err != nil {
		return fmt.Errorf("petrel client: local offsets: %w", err)
	}
	tmp := lo.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("petrel client: local offsets: %w", err)
	}
	if err := os.Rename(tmp, lo.path); err != nil {
		return fmt.Errorf("petrel client: local offsets: %w", err)
	}
	lo.dirty = false
	return nil
}

// invokeBroker sends a request to the master of a broker name, bounded by
// the request timeout.
func (in *instance) invokeBroker(ctx context.Context, brokerName string, req *protocol.Command) (*protocol.Command, error) {
	addr, ok := in.brokerAddr(brokerName)
	if !ok {
		return nil, &BrokerError{Op: protocol.RequestName(req.Code), Broker: brokerName, Err: errors.New("no master address in the cached routes")}
	}
	ctx, cancel := context.WithTimeout(ctx, in.cfg.RequestTimeout)
	defer cancel()
	return in.invoke(ctx, brokerName, addr, req)
}

// codeError turns an error response into a *BrokerError.
func (in *instance) codeError(req *protocol.Command, brokerName string, resp *protocol.Command) error {
	addr, _ := in.brokerAddr(brokerName)
	return &BrokerError{Op: protocol.RequestName(req.Code), Broker: brokerName, Addr: addr, Code: resp.Code, Remark: resp.Remark}
}
