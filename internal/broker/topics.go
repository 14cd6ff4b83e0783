package broker

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/config"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// Topics the broker creates or reserves (RocketMQ's TopicValidator).
const (
	TopicDefault          = "TBW102"
	TopicSelfTest         = "SELF_TEST_TOPIC"
	TopicOffsetMovedEvent = "OFFSET_MOVED_EVENT"
	TopicSchedule         = "SCHEDULE_TOPIC_XXXX"
	TopicTransHalf        = "RMQ_SYS_TRANS_HALF_TOPIC"
	TopicTransOpHalf      = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
	TopicTransCheckMax    = "TRANS_CHECK_MAX_TIME_TOPIC"
	TopicTrace            = "RMQ_SYS_TRACE_TOPIC"
	RetryGroupTopicPrefix = "%RETRY%"
	DLQGroupTopicPrefix   = "%DLQ%"
	systemTopicPrefix     = "rmq_sys_"
)

// notAllowedToSend are system topics a client may not write.
var notAllowedToSend = map[string]bool{
	TopicSchedule: true, TopicTimer: true, TopicTransHalf: true, TopicTransOpHalf: true,
	TopicTransCheckMax: true, TopicSelfTest: true, TopicOffsetMovedEvent: true,
}

// isSystemTopic reports topics that admin requests may not create or delete.
func isSystemTopic(topic string, c *config.Broker) bool {
	if notAllowedToSend[topic] || topic == TopicDefault || topic == TopicTrace ||
		strings.HasPrefix(strings.ToLower(topic), systemTopicPrefix) {
		return true
	}
	return topic == c.BrokerClusterName || topic == c.BrokerName || topic == c.BrokerClusterName+"_REPLY_TOPIC"
}

// topicManager is the broker's topic table, persisted in config/topics.json.
type topicManager struct {
	file jsonFile

	mu      sync.RWMutex
	table   map[string]body.TopicConfig
	version body.DataVersion
	now     func() int64
}

func newTopicManager(fs vfs.FS, dir string, now func() int64) *topicManager {
	return &topicManager{
		file:  jsonFile{fs: fs, path: path.Join(dir, "topics.json")},
		table: make(map[string]body.TopicConfig),
		now:   now,
	}
}

// load reads the table and adds the topics every broker has.
func (m *topicManager) load(c *config.Broker) error {
	var w body.TopicConfigSerializeWrapper
	if _, err := m.file.load(&w); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, tc := range w.TopicConfigTable {
		if err := message.ValidateTopic(name); err != nil || tc.TopicName != name {
			return fmt.Errorf("%s: bad topic entry %q", m.file.path, name)
		}
		m.table[name] = tc
	}
	m.version = w.DataVersion
	builtin := []body.TopicConfig{
		{TopicName: TopicSelfTest, ReadQueueNums: 1, WriteQueueNums: 1, Perm: body.PermRead | body.PermWrite},
		{TopicName: TopicOffsetMovedEvent, ReadQueueNums: 1, WriteQueueNums: 1, Perm: body.PermRead | body.PermWrite},
		{TopicName: TopicSchedule, ReadQueueNums: 18, WriteQueueNums: 18, Perm: body.PermRead | body.PermWrite},
		{TopicName: c.BrokerClusterName, ReadQueueNums: 16, WriteQueueNums: 16, Perm: body.PermInherit},
		{TopicName: c.BrokerName, ReadQueueNums: 1, WriteQueueNums: 1, Perm: body.PermInherit},
		{TopicName: c.BrokerClusterName + "_REPLY_TOPIC", ReadQueueNums: 1, WriteQueueNums: 1, Perm: body.PermRead | body.PermWrite},
	}
	if c.AutoCreateTopicEnable {
		n := int32(c.DefaultTopicQueueNums)
		builtin = append(builtin, body.TopicConfig{TopicName: TopicDefault, ReadQueueNums: n, WriteQueueNums: n,
			Perm: body.PermRead | body.PermWrite | body.PermInherit})
	} else {
		delete(m.table, TopicDefault)
	}
	for _, tc := range builtin {
		if tc.TopicFilterType == "" {
			tc.TopicFilterType = "SINGLE_TAG"
		}
		if _, ok := m.table[tc.TopicName]; !ok || tc.TopicName == TopicDefault {
			m.table[tc.TopicName] = tc
		}
	}
	m.version.Counter++
	m.version.Timestamp = m.now()
	return m.saveLocked()
}

func (m *topicManager) saveLocked() error {
	return m.file.save(body.TopicConfigSerializeWrapper{TopicConfigTable: m.table, DataVersion: m.version})
}

func (m *topicManager) get(name string) (body.TopicConfig, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	tc, ok := m.table[name]
	return tc, ok
}

// put creates or replaces a topic and persists the table. It reports
// whether anything changed.
func (m *topicManager) put(tc body.TopicConfig) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.table[tc.TopicName]; ok && old == tc {
		return false, nil
	}
	m.table[tc.TopicName] = tc
	m.version.Counter++
	m.version.Timestamp = m.now()
	return true, m.saveLocked()
}

// createIfAbsent creates tc unless the topic exists, and returns the
// topic's config and whether it was created.
func (m *topicManager) createIfAbsent(tc body.TopicConfig) (body.TopicConfig, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.table[tc.TopicName]; ok {
		return old, false, nil
	}
	m.table[tc.TopicName] = tc
	m.version.Counter++
	m.version.Timestamp = m.now()
	return tc, true, m.saveLocked()
}

func (m *topicManager) remove(name string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.table[name]; !ok {
		return false, nil
	}
	delete(m.table, name)
	m.version.Counter++
	m.version.Timestamp = m.now()
	return true, m.saveLocked()
}

// snapshot copies the table with its version.
func (m *topicManager) snapshot() body.TopicConfigSerializeWrapper {
	m.mu.RLock()
	defer m.mu.RUnlock()
	t := make(map[string]body.TopicConfig, len(m.table))
	for k, v := range m.table {
		t[k] = v
	}
	return body.TopicConfigSerializeWrapper{TopicConfigTable: t, DataVersion: m.version}
}

func (m *topicManager) names() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.table))
	for k := range m.table {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
