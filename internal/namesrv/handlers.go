package namesrv

import (
	"fmt"
	"slices"
	"strings"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// Header fields of the route and topic requests.
const (
	fieldTopic   = "topic"
	fieldCluster = "cluster"
)

func (n *Namesrv) routeHandlers() {
	n.mux.HandleFunc(protocol.GetRouteInfoByTopic, n.getRouteInfoByTopic)
	n.mux.HandleFunc(protocol.RegisterBroker, n.registerBroker)
	n.mux.HandleFunc(protocol.UnregisterBroker, n.unregisterBroker)
	n.mux.HandleFunc(protocol.GetBrokerClusterInfo, n.getBrokerClusterInfo)
	n.mux.HandleFunc(protocol.GetAllTopicListFromNameServer, n.getAllTopicList)
	n.mux.HandleFunc(protocol.DeleteTopicInNamesrv, n.deleteTopic)
	n.mux.HandleFunc(protocol.GetTopicsByCluster, n.getTopicsByCluster)
	n.mux.HandleFunc(protocol.PutKVConfig, n.putKVConfig)
	n.mux.HandleFunc(protocol.GetKVConfig, n.getKVConfig)
	n.mux.HandleFunc(protocol.DeleteKVConfig, n.deleteKVConfig)
	n.mux.HandleFunc(protocol.GetKVListByNamespace, n.getKVListByNamespace)
}

// systemError answers SYSTEM_ERROR with err's text, which for header
// problems is the HeaderReader's Java-worded message.
func systemError(req *remoting.Request, err error) *protocol.Command {
	return req.Cmd.NewResponse(protocol.SystemError, err.Error())
}

func success(req *remoting.Request, b []byte) *protocol.Command {
	resp := req.Cmd.NewResponse(protocol.Success, "")
	resp.Body = b
	return resp
}

// getRouteInfoByTopic answers GET_ROUTEINFO_BY_TOPIC. The route is always
// standard JSON, which every client parses, so acceptStandardJsonOnly does
// not matter.
func (n *Namesrv) getRouteInfoByTopic(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	topic := r.String(fieldTopic)
	if err := r.Err(); err != nil {
		return systemError(req, err)
	}
	if err := message.ValidateTopic(topic); err != nil {
		return systemError(req, err)
	}
	n.mu.RLock()
	route, ok := n.mu.routes.Route(topic)
	n.mu.RUnlock()
	if !ok {
		return req.Cmd.NewResponse(protocol.TopicNotExist, "No topic route info in name server for the topic: "+topic)
	}
	return success(req, body.Marshal(route))
}

// registerBroker answers REGISTER_BROKER.
func (n *Namesrv) registerBroker(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	h := RegisterBrokerHeader{
		BrokerName:   r.String(fieldBrokerName),
		BrokerAddr:   r.String(fieldBrokerAddr),
		ClusterName:  r.String(fieldClusterName),
		HAServerAddr: r.String(fieldHAServerAddr),
		BrokerID:     r.Int64(fieldBrokerID),
		Compressed:   r.OptBool(fieldCompressed, false),
	}
	crc := r.OptInt32(fieldBodyCRC32, 0)
	if err := r.Err(); err != nil {
		return systemError(req, err)
	}
	if err := checkBrokerIdentity(h); err != nil {
		return systemError(req, err)
	}
	if crc != 0 && bodyCRC32(req.Cmd.Body) != crc {
		return req.Cmd.NewResponse(protocol.SystemError, "crc32 not match")
	}
	rb, err := decodeRegisterBrokerBody(req.Cmd.Body, h.Compressed)
	if err != nil {
		return systemError(req, err)
	}
	topics, invalid := validTopics(rb.TopicConfigSerializeWrapper)
	if len(invalid) > 0 {
		n.log.Warn("broker registered topics with invalid names; they are left out of the routes",
			"brokerName", h.BrokerName, "brokerAddr", h.BrokerAddr, "topics", invalid)
	}

	n.mu.Lock()
	if req.Conn != nil && isClosed(req.Conn) {
		// Its StateClosed event may already have run: registering now
		// would leave the address behind until it expires.
		n.mu.Unlock()
		return req.Cmd.NewResponse(protocol.SystemError, "connection closed")
	}
	_, known := n.mu.routes.BrokerLive(h.BrokerAddr)
	master, ha := n.mu.routes.RegisterBroker(h.ClusterName, h.BrokerName, h.BrokerAddr, h.HAServerAddr, h.BrokerID,
		topics, n.opts.Now())
	if req.Conn != nil {
		n.ownLocked(h.BrokerAddr, req.Conn.ID())
	}
	n.mu.Unlock()
	if !known {
		n.log.Info("broker registered", "clusterName", h.ClusterName, "brokerName", h.BrokerName,
			"brokerAddr", h.BrokerAddr, "brokerId", h.BrokerID, "topics", len(topics.TopicConfigTable))
	}

	resp := req.Cmd.NewResponse(protocol.Success, "")
	// Java leaves null fields out; a Java slave would try to sync from "".
	if master != "" {
		resp.Ext.Set(fieldMasterAddr, master)
	}
	if ha != "" {
		resp.Ext.Set(fieldHAServerAddr, ha)
	}
	return resp
}

func isClosed(c *remoting.Conn) bool {
	select {
	case <-c.Closed():
		return true
	default:
		return false
	}
}

// checkBrokerIdentity refuses registrations routes could not carry: the Go
// client splits brokerAddrs text on ',' and ':' and keeps everything else,
// quotes removed, so the address must be plain.
func checkBrokerIdentity(h RegisterBrokerHeader) error {
	switch {
	case h.ClusterName == "":
		return fmt.Errorf("the clusterName is empty")
	case h.BrokerName == "":
		return fmt.Errorf("the brokerName is empty")
	case h.BrokerAddr == "":
		return fmt.Errorf("the brokerAddr is empty")
	case strings.ContainsAny(h.BrokerAddr, ",\"{} \t\r\n"):
		return fmt.Errorf("the brokerAddr %q contains a character clients cannot parse (whitespace , \" { })", h.BrokerAddr)
	case h.BrokerID < 0:
		return fmt.Errorf("the brokerId %d is negative", h.BrokerID)
	}
	return nil
}

// validTopics returns the topic table without the entries whose names fail
// message.ValidateTopic (clients could never ask for their routes), and
// those names.
func validTopics(w body.TopicConfigSerializeWrapper) (body.TopicConfigSerializeWrapper, []string) {
	var invalid []string
	for key, tc := range w.TopicConfigTable {
		if message.ValidateTopic(topicName(key, tc)) != nil {
			invalid = append(invalid, topicName(key, tc))
		}
	}
	if len(invalid) == 0 {
		return w, nil
	}
	out := body.TopicConfigSerializeWrapper{DataVersion: w.DataVersion, TopicConfigTable: make(map[string]body.TopicConfig)}
	for key, tc := range w.TopicConfigTable {
		if message.ValidateTopic(topicName(key, tc)) == nil {
			out.TopicConfigTable[key] = tc
		}
	}
	slices.Sort(invalid)
	return out, invalid
}

// unregisterBroker answers UNREGISTER_BROKER.
func (n *Namesrv) unregisterBroker(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	brokerName := r.String(fieldBrokerName)
	brokerAddr := r.String(fieldBrokerAddr)
	clusterName := r.String(fieldClusterName)
	brokerID := r.Int64(fieldBrokerID)
	if err := r.Err(); err != nil {
		return systemError(req, err)
	}
	n.mu.Lock()
	removed := n.mu.routes.UnregisterBroker(clusterName, brokerName, brokerAddr, brokerID)
	n.disownLocked(brokerAddr)
	n.mu.Unlock()
	if removed {
		n.log.Info("broker unregistered", "clusterName", clusterName, "brokerName", brokerName,
			"brokerAddr", brokerAddr, "brokerId", brokerID)
	}
	return success(req, nil)
}

// getBrokerClusterInfo answers GET_BROKER_CLUSTER_INFO.
func (n *Namesrv) getBrokerClusterInfo(req *remoting.Request) *protocol.Command {
	n.mu.RLock()
	info := n.mu.routes.ClusterInfo()
	n.mu.RUnlock()
	return success(req, body.Marshal(info))
}

// getAllTopicList answers GET_ALL_TOPIC_LIST_FROM_NAMESERVER.
func (n *Namesrv) getAllTopicList(req *remoting.Request) *protocol.Command {
	n.mu.RLock()
	topics := n.mu.routes.Topics()
	n.mu.RUnlock()
	return success(req, body.Marshal(body.TopicList{TopicList: topics}))
}

// deleteTopic answers DELETE_TOPIC_IN_NAMESRV; an unknown topic is not an
// error.
func (n *Namesrv) deleteTopic(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	topic := r.String(fieldTopic)
	cluster := r.OptString(fieldClusterName, "")
	if err := r.Err(); err != nil {
		return systemError(req, err)
	}
	if err := message.ValidateTopic(topic); err != nil {
		return systemError(req, err)
	}
	n.mu.Lock()
	removed := n.mu.routes.DeleteTopic(topic, cluster)
	n.mu.Unlock()
	if removed {
		n.log.Info("topic deleted from the routes", "topic", topic, "clusterName", cluster)
	}
	return success(req, nil)
}

// getTopicsByCluster answers GET_TOPICS_BY_CLUSTER.
func (n *Namesrv) getTopicsByCluster(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	cluster := r.String(fieldCluster)
	if err := r.Err(); err != nil {
		return systemError(req, err)
	}
	n.mu.RLock()
	topics := n.mu.routes.TopicsByCluster(cluster)
	n.mu.RUnlock()
	return success(req, body.Marshal(body.TopicList{TopicList: topics}))
}
