package broker

import (
	"fmt"
	"path"
	"sort"
	"sync"

	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// SubscriptionGroupConfig is a consumer group's broker-side settings
// (RocketMQ's SubscriptionGroupConfig; the JSON field names are the admin
// tools').
type SubscriptionGroupConfig struct {
	GroupName                      string `json:"groupName"`
	ConsumeEnable                  bool   `json:"consumeEnable"`
	ConsumeFromMinEnable           bool   `json:"consumeFromMinEnable"`
	ConsumeBroadcastEnable         bool   `json:"consumeBroadcastEnable"`
	RetryQueueNums                 int32  `json:"retryQueueNums"`
	RetryMaxTimes                  int32  `json:"retryMaxTimes"`
	BrokerID                       int64  `json:"brokerId"`
	WhichBrokerWhenConsumeSlowly   int64  `json:"whichBrokerWhenConsumeSlowly"`
	NotifyConsumerIdsChangedEnable bool   `json:"notifyConsumerIdsChangedEnable"`
}

// defaultGroup is what auto-creation makes.
func defaultGroup(name string) SubscriptionGroupConfig {
	return SubscriptionGroupConfig{
		GroupName: name, ConsumeEnable: true, ConsumeFromMinEnable: true, ConsumeBroadcastEnable: true,
		RetryQueueNums: 1, RetryMaxTimes: 16, WhichBrokerWhenConsumeSlowly: 1, NotifyConsumerIdsChangedEnable: true,
	}
}

type groupTable struct {
	SubscriptionGroupTable map[string]SubscriptionGroupConfig `json:"subscriptionGroupTable"`
	DataVersion            struct {
		Counter   int64 `json:"counter"`
		Timestamp int64 `json:"timestamp"`
	} `json:"dataVersion"`
}

// groupManager holds subscription groups, persisted in
// config/subscriptionGroup.json.
type groupManager struct {
	file       jsonFile
	autoCreate bool
	now        func() int64

	mu sync.RWMutex
	t  groupTable
}

func newGroupManager(fs vfs.FS, dir string, autoCreate bool, now func() int64) *groupManager {
	m := &groupManager{file: jsonFile{fs: fs, path: path.Join(dir, "subscriptionGroup.json")}, autoCreate: autoCreate, now: now}
	m.t.SubscriptionGroupTable = make(map[string]SubscriptionGroupConfig)
	return m
}

func (m *groupManager) load() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.file.load(&m.t); err != nil {
		return err
	}
	if m.t.SubscriptionGroupTable == nil {
		m.t.SubscriptionGroupTable = make(map[string]SubscriptionGroupConfig)
	}
	return nil
}

// findOrCreate returns the group's config, creating it when auto-creation
// is on; ok is false when the group does not exist and cannot be created.
func (m *groupManager) findOrCreate(name string) (SubscriptionGroupConfig, bool, error) {
	m.mu.RLock()
	g, ok := m.t.SubscriptionGroupTable[name]
	m.mu.RUnlock()
	if ok || !m.autoCreate {
		return g, ok, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if g, ok := m.t.SubscriptionGroupTable[name]; ok {
		return g, true, nil
	}
	g = defaultGroup(name)
	m.t.SubscriptionGroupTable[name] = g
	return g, true, m.saveLocked()
}

func (m *groupManager) put(g SubscriptionGroupConfig) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.t.SubscriptionGroupTable[g.GroupName] = g
	return m.saveLocked()
}

func (m *groupManager) remove(name string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.t.SubscriptionGroupTable[name]; !ok {
		return false, nil
	}
	delete(m.t.SubscriptionGroupTable, name)
	return true, m.saveLocked()
}

func (m *groupManager) saveLocked() error {
	m.t.DataVersion.Counter++
	m.t.DataVersion.Timestamp = m.now()
	if err := m.file.save(m.t); err != nil {
		return fmt.Errorf("save subscription groups: %w", err)
	}
	return nil
}

func (m *groupManager) snapshot() groupTable {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := m.t
	out.SubscriptionGroupTable = make(map[string]SubscriptionGroupConfig, len(m.t.SubscriptionGroupTable))
	for k, v := range m.t.SubscriptionGroupTable {
		out.SubscriptionGroupTable[k] = v
	}
	return out
}

func (m *groupManager) names() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.t.SubscriptionGroupTable))
	for k := range m.t.SubscriptionGroupTable {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
