package namesrv

import (
	"maps"
	"sync"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// Header fields of the KV config requests.
const (
	fieldNamespace = "namespace"
	fieldKey       = "key"
	fieldValue     = "value"
)

// kvConfig is the name server's namespaced key-value store (RocketMQ's
// KVConfigManager). Petrel keeps it in memory: RocketMQ uses it for
// ORDER_TOPIC_CONFIG, which petrel does not apply to routes.
type kvConfig struct {
	mu    sync.RWMutex
	table map[string]map[string]string // namespace → key → value
}

// kvTable is the GET_KVLIST_BY_NAMESPACE body (RocketMQ's KVTable).
type kvTable struct {
	Table map[string]string `json:"table"`
}

// putKVConfig answers PUT_KV_CONFIG.
func (n *Namesrv) putKVConfig(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	ns, key, value := r.String(fieldNamespace), r.String(fieldKey), r.String(fieldValue)
	if err := r.Err(); err != nil {
		return systemError(req, err)
	}
	n.kv.mu.Lock()
	m := n.kv.table[ns]
	if m == nil {
		m = make(map[string]string)
		n.kv.table[ns] = m
	}
	m[key] = value
	n.kv.mu.Unlock()
	n.log.Info("kv config put", "namespace", ns, "key", key, "value", value)
	return success(req, nil)
}

// getKVConfig answers GET_KV_CONFIG: the value in the header field value,
// or QUERY_NOT_FOUND.
func (n *Namesrv) getKVConfig(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	ns, key := r.String(fieldNamespace), r.String(fieldKey)
	if err := r.Err(); err != nil {
		return systemError(req, err)
	}
	n.kv.mu.RLock()
	value, ok := n.kv.table[ns][key]
	n.kv.mu.RUnlock()
	if !ok {
		return req.Cmd.NewResponse(protocol.QueryNotFound, "No config item, Namespace: "+ns+" Key: "+key)
	}
	resp := success(req, nil)
	resp.Ext.Set(fieldValue, value)
	return resp
}

// deleteKVConfig answers DELETE_KV_CONFIG; a missing key is not an error.
func (n *Namesrv) deleteKVConfig(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	ns, key := r.String(fieldNamespace), r.String(fieldKey)
	if err := r.Err(); err != nil {
		return systemError(req, err)
	}
	n.kv.mu.Lock()
	if m, ok := n.kv.table[ns]; ok {
		delete(m, key)
		if len(m) == 0 {
			delete(n.kv.table, ns)
		}
	}
	n.kv.mu.Unlock()
	return success(req, nil)
}

// getKVListByNamespace answers GET_KVLIST_BY_NAMESPACE with a KVTable body,
// or QUERY_NOT_FOUND for an empty namespace.
func (n *Namesrv) getKVListByNamespace(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	ns := r.String(fieldNamespace)
	if err := r.Err(); err != nil {
		return systemError(req, err)
	}
	n.kv.mu.RLock()
	m := maps.Clone(n.kv.table[ns])
	n.kv.mu.RUnlock()
	if len(m) == 0 {
		return req.Cmd.NewResponse(protocol.QueryNotFound, "No config item, Namespace: "+ns)
	}
	return success(req, body.Marshal(kvTable{Table: m}))
}
