package namesrv

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"reflect"
	"strings"
	"testing"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/protocol"
)

// handCompressed builds a compressed REGISTER_BROKER body piece by piece, the
// way Java's RegisterBrokerBody.encode(true) writes it, independently of
// encodeRegisterBrokerBody.
func handCompressed(dataVersion string, topics []string, filters string, trailing []byte) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	chunk := func(s string) {
		zw.Write(binary.BigEndian.AppendUint32(nil, uint32(len(s))))
		zw.Write([]byte(s))
	}
	chunk(dataVersion)
	zw.Write(binary.BigEndian.AppendUint32(nil, uint32(len(topics))))
	for _, t := range topics {
		chunk(t)
	}
	chunk(filters)
	zw.Write(trailing)
	zw.Close()
	return buf.Bytes()
}

// zlibOf compresses the concatenation of parts.
func zlibOf(parts ...[]byte) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	for _, p := range parts {
		zw.Write(p)
	}
	zw.Close()
	return buf.Bytes()
}

func TestRegisterBodyRoundTrip(t *testing.T) {
	full := body.TopicConfig{TopicName: "T1", ReadQueueNums: 4, WriteQueueNums: 8, Perm: 7,
		TopicFilterType: "MULTI_TAG", TopicSysFlag: 1, Order: true}
	tests := []struct {
		name       string
		in         body.RegisterBrokerBody
		compressed bool
		want       body.RegisterBrokerBody
	}{
		{
			name: "json keeps every field",
			in: body.RegisterBrokerBody{
				TopicConfigSerializeWrapper: body.TopicConfigSerializeWrapper{
					DataVersion:      body.DataVersion{Counter: 12, Timestamp: 1700000000000},
					TopicConfigTable: map[string]body.TopicConfig{"T1": full, "T2": tc("T2", 16)},
				},
				FilterServerList: []string{"10.0.0.9:3000"},
			},
			want: body.RegisterBrokerBody{
				TopicConfigSerializeWrapper: body.TopicConfigSerializeWrapper{
					DataVersion:      body.DataVersion{Counter: 12, Timestamp: 1700000000000},
					TopicConfigTable: map[string]body.TopicConfig{"T1": full, "T2": tc("T2", 16)},
				},
				FilterServerList: []string{"10.0.0.9:3000"},
			},
		},
		{
			name: "json of an empty table",
			in:   body.RegisterBrokerBody{},
			want: body.RegisterBrokerBody{
				TopicConfigSerializeWrapper: body.TopicConfigSerializeWrapper{TopicConfigTable: map[string]body.TopicConfig{}},
				FilterServerList:            []string{},
			},
		},
		{
			name:       "compressed drops topicSysFlag and order",
			compressed: true,
			in: body.RegisterBrokerBody{
				TopicConfigSerializeWrapper: body.TopicConfigSerializeWrapper{
					DataVersion:      body.DataVersion{Counter: 3, Timestamp: 42},
					TopicConfigTable: map[string]body.TopicConfig{"T1": full, "T2": tc("T2", 16)},
				},
			},
			want: body.RegisterBrokerBody{
				TopicConfigSerializeWrapper: body.TopicConfigSerializeWrapper{
					DataVersion: body.DataVersion{Counter: 3, Timestamp: 42},
					TopicConfigTable: map[string]body.TopicConfig{
						"T1": {TopicName: "T1", ReadQueueNums: 4, WriteQueueNums: 8, Perm: 7, TopicFilterType: "MULTI_TAG"},
						"T2": tc("T2", 16),
					},
				},
				FilterServerList: []string{},
			},
		},
		{
			name:       "compressed defaults an empty filter type to SINGLE_TAG",
			compressed: true,
			in: body.RegisterBrokerBody{TopicConfigSerializeWrapper: body.TopicConfigSerializeWrapper{
				TopicConfigTable: map[string]body.TopicConfig{"T": {TopicName: "T", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}},
			}},
			want: body.RegisterBrokerBody{
				TopicConfigSerializeWrapper: body.TopicConfigSerializeWrapper{TopicConfigTable: map[string]body.TopicConfig{"T": tc("T", 1)}},
				FilterServerList:            []string{},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRegisterBrokerBody(encodeRegisterBrokerBody(tt.in, tt.compressed), tt.compressed)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeRegisterBody(t *testing.T) {
	javaJSON := `{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":12,"timestamp":1700000000000},` +
		`"topicConfigTable":{"T":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG",` +
		`"topicName":"T","topicSysFlag":0,"writeQueueNums":4},"D":{"topicName":"D"}}}}`
	dv := body.DataVersion{Counter: 12, Timestamp: 1700000000000}
	tests := []struct {
		name       string
		in         []byte
		compressed bool
		want       body.RegisterBrokerBody
	}{
		{
			name: "Java JSON, defaults for missing topic fields",
			in:   []byte(javaJSON),
			want: body.RegisterBrokerBody{
				TopicConfigSerializeWrapper: body.TopicConfigSerializeWrapper{DataVersion: dv,
					TopicConfigTable: map[string]body.TopicConfig{"T": tc("T", 4), "D": tc("D", 16)}},
				FilterServerList: []string{},
			},
		},
		{name: "empty body", in: nil, want: body.RegisterBrokerBody{}},
		{name: "empty compressed body", in: nil, compressed: true, want: body.RegisterBrokerBody{}},
		{
			name:       "compressed, RocketMQ 4.9 form",
			compressed: true,
			in:         handCompressed(`{"counter":12,"timestamp":1700000000000}`, []string{"T 4 4 6 SINGLE_TAG", "U 1 2 2 MULTI_TAG"}, `[]`, nil),
			want: body.RegisterBrokerBody{
				TopicConfigSerializeWrapper: body.TopicConfigSerializeWrapper{DataVersion: dv,
					TopicConfigTable: map[string]body.TopicConfig{
						"T": tc("T", 4),
						"U": {TopicName: "U", ReadQueueNums: 1, WriteQueueNums: 2, Perm: 2, TopicFilterType: "MULTI_TAG"},
					}},
				FilterServerList: []string{},
			},
		},
		{
			name:       "compressed, RocketMQ 5 form: attributes, stateVersion and trailing mapping data",
			compressed: true,
			in: handCompressed(`{"counter":12,"stateVersion":0,"timestamp":1700000000000}`,
				[]string{`T 4 4 6 SINGLE_TAG {"+message.type":"NORMAL"}`, "V 2 2 6 SINGLE_TAG "}, `["10.0.0.9:3000"]`,
				[]byte{0, 0, 0, 2, '{', '}'}),
			want: body.RegisterBrokerBody{
				TopicConfigSerializeWrapper: body.TopicConfigSerializeWrapper{DataVersion: dv,
					TopicConfigTable: map[string]body.TopicConfig{"T": tc("T", 4), "V": tc("V", 2)}},
				FilterServerList: []string{"10.0.0.9:3000"},
			},
		},
		{
			name:       "compressed, a bad filter server list is ignored as in Java",
			compressed: true,
			in:         handCompressed(`{"counter":1,"timestamp":2}`, nil, `not json`, nil),
			want: body.RegisterBrokerBody{
				TopicConfigSerializeWrapper: body.TopicConfigSerializeWrapper{DataVersion: body.DataVersion{Counter: 1, Timestamp: 2},
					TopicConfigTable: map[string]body.TopicConfig{}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRegisterBrokerBody(tt.in, tt.compressed)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeRegisterBodyErrors(t *testing.T) {
	dv := `{"counter":1,"timestamp":2}`
	valid := handCompressed(dv, []string{"T 1 1 6 SINGLE_TAG"}, `[]`, nil)
	lenDV := binary.BigEndian.AppendUint32(nil, uint32(len(dv)))
	negativeCount := zlibOf(lenDV, []byte(dv), []byte{0xFF, 0xFF, 0xFF, 0xFF})
	hugeLength := zlibOf([]byte{0x7F, 0xFF, 0xFF, 0xFF, '{'})
	noFilterList := zlibOf(lenDV, []byte(dv), []byte{0, 0, 0, 0})
	tests := []struct {
		name       string
		in         []byte
		compressed bool
		wantText   string
	}{
		{"json garbage", []byte("{"), false, "unexpected end of JSON input"},
		{"json wrong type", []byte(`{"topicConfigSerializeWrapper":[]}`), false, "cannot unmarshal array"},
		{"not zlib", []byte("hello world"), true, "zlib: invalid header"},
		{"truncated stream", valid[:len(valid)/2], true, "unexpected EOF"},
		{"json body sent as compressed", []byte(`{"filterServerList":[]}`), true, "zlib"},
		{"data version not json", handCompressed("x", nil, "[]", nil), true, "data version"},
		{"negative topic count", negativeCount, true, "topic count -1"},
		{"length beyond the data", hugeLength, true, "data version: unexpected EOF"},
		{"four fields", handCompressed(dv, []string{"T 1 1 6"}, "[]", nil), true, "has 4 fields"},
		{"bad number", handCompressed(dv, []string{"T 1 x 6 SINGLE_TAG"}, "[]", nil), true, "invalid syntax"},
		{"number out of int32", handCompressed(dv, []string{"T 1 2147483648 6 SINGLE_TAG"}, "[]", nil), true, "out of range"},
		{"unknown filter type", handCompressed(dv, []string{"T 1 1 6 TAG"}, "[]", nil), true, `unknown topic filter type "TAG"`},
		{"missing filter server list", noFilterList, true, "filter server list length: EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeRegisterBrokerBody(tt.in, tt.compressed)
			if !errors.Is(err, ErrBadRegisterBody) {
				t.Fatalf("err = %v, want ErrBadRegisterBody", err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("err = %q, want it to mention %q", err, tt.wantText)
			}
		})
	}
}

func TestRegisterBrokerRequest(t *testing.T) {
	h := RegisterBrokerHeader{BrokerName: "broker-a", BrokerAddr: addrA, ClusterName: "c1",
		HAServerAddr: "10.0.0.1:10912", BrokerID: 2}
	rb := body.RegisterBrokerBody{TopicConfigSerializeWrapper: table(7, tc("T1", 4))}
	for _, compressed := range []bool{false, true} {
		h.Compressed = compressed
		cmd := NewRegisterBrokerRequest(h, rb)
		want := map[string]string{
			"brokerName": "broker-a", "brokerAddr": addrA, "clusterName": "c1", "haServerAddr": "10.0.0.1:10912",
			"brokerId": "2", "compressed": map[bool]string{false: "false", true: "true"}[compressed],
		}
		got := cmd.Ext.Map()
		crc := got["bodyCrc32"]
		delete(got, "bodyCrc32")
		if cmd.Code != protocol.RegisterBroker || !reflect.DeepEqual(got, want) {
			t.Errorf("compressed=%v: code %d fields %v, want %v", compressed, cmd.Code, got, want)
		}
		if wantCRC := int64(crc32.ChecksumIEEE(cmd.Body) & 0x7FFFFFFF); protocol.ReadHeader(cmd).Int64("bodyCrc32") != wantCRC {
			t.Errorf("compressed=%v: bodyCrc32 %q, want %d", compressed, crc, wantCRC)
		}
		back, err := decodeRegisterBrokerBody(cmd.Body, compressed)
		if err != nil || back.TopicConfigSerializeWrapper.TopicConfigTable["T1"].ReadQueueNums != 4 {
			t.Errorf("compressed=%v: body decodes to %+v, %v", compressed, back, err)
		}
	}

	un := NewUnregisterBrokerRequest(h)
	wantUn := map[string]string{"brokerName": "broker-a", "brokerAddr": addrA, "clusterName": "c1", "brokerId": "2"}
	if un.Code != protocol.UnregisterBroker || !reflect.DeepEqual(un.Ext.Map(), wantUn) || un.Body != nil {
		t.Errorf("unregister request = %v %v", un, un.Ext.Map())
	}
}

func TestParseRegisterBrokerResponse(t *testing.T) {
	req := protocol.NewRequest(protocol.RegisterBroker, nil, nil)
	slaveResp := req.NewResponse(protocol.Success, "")
	slaveResp.Ext.Set("masterAddr", addrA)
	slaveResp.Ext.Set("haServerAddr", "10.0.0.1:10912")
	tests := []struct {
		name           string
		resp           *protocol.Command
		wantMaster     string
		wantHA         string
		wantErrMention string
	}{
		{name: "master", resp: req.NewResponse(protocol.Success, "")},
		{name: "slave", resp: slaveResp, wantMaster: addrA, wantHA: "10.0.0.1:10912"},
		{name: "refused", resp: req.NewResponse(protocol.SystemError, "crc32 not match"), wantErrMention: "SYSTEM_ERROR: crc32 not match"},
		{name: "nil", resp: nil, wantErrMention: "no response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ha, err := ParseRegisterBrokerResponse(tt.resp)
			if tt.wantErrMention != "" {
				if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.wantErrMention) {
					t.Fatalf("err = %v, want ErrRefused mentioning %q", err, tt.wantErrMention)
				}
				return
			}
			if err != nil || m != tt.wantMaster || ha != tt.wantHA {
				t.Errorf("got (%q, %q, %v), want (%q, %q, nil)", m, ha, err, tt.wantMaster, tt.wantHA)
			}
		})
	}
}
