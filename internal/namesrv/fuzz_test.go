package namesrv

import (
	"errors"
	"reflect"
	"testing"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// normalized treats nil and empty lists and tables alike: encoding writes
// [] and {} for them.
func normalized(rb body.RegisterBrokerBody) body.RegisterBrokerBody {
	if rb.FilterServerList == nil {
		rb.FilterServerList = []string{}
	}
	if rb.TopicConfigSerializeWrapper.TopicConfigTable == nil {
		rb.TopicConfigSerializeWrapper.TopicConfigTable = map[string]body.TopicConfig{}
	}
	return rb
}

// FuzzRegisterBrokerBody feeds REGISTER_BROKER bodies, in both forms, to the
// decoder and to the whole handler. A body that decodes must survive a
// round trip through the encoder, and its valid topics must be routed
// afterwards; one that does not must be refused with SYSTEM_ERROR.
func FuzzRegisterBrokerBody(f *testing.F) {
	typical := registerBody(3, tc("TopicTest", 4), tc("%RETRY%group", 1), tc("TBW102", 8))
	typical.FilterServerList = []string{"10.0.0.9:3000"}
	f.Add(encodeRegisterBrokerBody(typical, false), false)
	f.Add(encodeRegisterBrokerBody(typical, true), true)
	f.Add(encodeRegisterBrokerBody(body.RegisterBrokerBody{}, true), true)
	f.Add([]byte(`{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":12,"timestamp":1700000000000},`+
		`"topicConfigTable":{"T":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG",`+
		`"topicName":"T","topicSysFlag":0,"writeQueueNums":4},"D":{}}}}`), false)
	f.Add(handCompressed(`{"counter":12,"stateVersion":0,"timestamp":1700000000000}`,
		[]string{`T 4 4 6 SINGLE_TAG {"+message.type":"NORMAL"}`, "V 2 2 6 MULTI_TAG "}, `["a"]`, []byte{0, 0, 0, 2, '{', '}'}), true)
	f.Add(handCompressed(`{"counter":1}`, []string{"T 1 x 6 SINGLE_TAG"}, `[]`, nil), true)
	f.Add([]byte{}, false)
	f.Add([]byte("{"), false)
	f.Add([]byte("\x78\x9c"), true)

	f.Fuzz(checkRegisterBody)
}

// FuzzCompressedRegisterBodyContent fuzzes what a compressed body inflates
// to, which random bytes seldom reach through zlib.
func FuzzCompressedRegisterBodyContent(f *testing.F) {
	dv := `{"counter":1,"timestamp":2}`
	lenDV := []byte{0, 0, 0, byte(len(dv))}
	f.Add(append(append(lenDV, dv...), 0, 0, 0, 1, 0, 0, 0, 18, 'T', ' ', '1', ' ', '1', ' ', '6', ' ',
		'S', 'I', 'N', 'G', 'L', 'E', '_', 'T', 'A', 'G', 0, 0, 0, 2, '[', ']'))
	f.Add(append(append(lenDV, dv...), 0, 0, 0, 0, 0, 0, 0, 2, '[', ']', 0, 0))
	f.Add(append(append(lenDV, dv...), 0xFF, 0xFF, 0xFF, 0xFF))
	f.Fuzz(func(t *testing.T, inflated []byte) {
		checkRegisterBody(t, zlibOf(inflated), true)
	})
}

func checkRegisterBody(t *testing.T, data []byte, compressed bool) {
	{
		rb, decodeErr := decodeRegisterBrokerBody(data, compressed)
		if decodeErr != nil && !errors.Is(decodeErr, ErrBadRegisterBody) {
			t.Fatalf("error %v does not wrap ErrBadRegisterBody", decodeErr)
		}
		if decodeErr == nil {
			again, err := decodeRegisterBrokerBody(encodeRegisterBrokerBody(rb, compressed), compressed)
			if err != nil {
				t.Fatalf("re-encoded body does not decode: %v", err)
			}
			if !reflect.DeepEqual(normalized(again), normalized(rb)) {
				t.Fatalf("round trip changed the body:\n %+v\n %+v", rb, again)
			}
		}

		ns := New(Options{Logger: quietLogger()})
		cmd := NewRegisterBrokerRequest(brokerA(), body.RegisterBrokerBody{})
		cmd.Body = data
		cmd.Ext.SetBool("compressed", compressed)
		cmd.Ext.SetInt("bodyCrc32", int64(bodyCRC32(data)))
		resp := ns.ServeRemoting(&remoting.Request{Cmd: cmd})
		if decodeErr != nil {
			if resp.Code != protocol.SystemError || resp.Remark != decodeErr.Error() {
				t.Fatalf("bad body answered %s %q", protocol.ResponseName(resp.Code), resp.Remark)
			}
			return
		}
		if resp.Code != protocol.Success {
			t.Fatalf("good body answered %s %q", protocol.ResponseName(resp.Code), resp.Remark)
		}
		for key, c := range rb.TopicConfigSerializeWrapper.TopicConfigTable {
			name := topicName(key, c)
			if message.ValidateTopic(name) != nil {
				continue
			}
			ns.mu.RLock()
			_, ok := ns.mu.routes.Route(name)
			ns.mu.RUnlock()
			if !ok {
				t.Fatalf("registered topic %q has no route", name)
			}
		}
	}
}
