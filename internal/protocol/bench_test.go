package protocol

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
)

// sendMessageRequest is a SEND_MESSAGE request as the Go client builds it:
// long field names, 14 extFields, a 1 KiB body.
func sendMessageRequest(st SerializeType) *Command {
	return &Command{
		Code: SendMessage, Language: "GO", Version: 317, Opaque: 123456, SerializeType: st,
		Ext: FieldsOf(
			"producerGroup", "please_rename_unique_group_name",
			"topic", "BenchmarkTopic",
			"defaultTopic", "TBW102",
			"defaultTopicQueueNums", "4",
			"queueId", "3",
			"sysFlag", "0",
			"bornTimestamp", "1718000000123",
			"flag", "0",
			"properties", "KEYS\x01order-42\x02UNIQ_KEY\x01C0A8010A1B2C18B4AAC2466F6F0000\x02WAIT\x01true\x02TAGS\x01TagA\x02",
			"reconsumeTimes", "0",
			"unitMode", "false",
			"maxReconsumeTimes", "0",
			"batch", "false",
			"bname", "broker-a",
		),
		Body: bytes.Repeat([]byte("x"), 1024),
	}
}

func benchmarkFrame(b *testing.B, st SerializeType, decode, encode bool) {
	frame := sendMessageRequest(st).AppendFrame(nil)
	src := bytes.NewReader(frame)
	r := bufio.NewReaderSize(src, 64<<10)
	cmd, _ := ReadFrame(r, 0)
	out := make([]byte, 0, 4096)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if decode {
			src.Reset(frame)
			r.Reset(src)
			var err error
			if cmd, err = ReadFrame(r, 0); err != nil {
				b.Fatal(err)
			}
		}
		if encode {
			out = cmd.AppendFrame(out[:0])
		}
	}
}

func BenchmarkSendMessageFrame(b *testing.B) {
	for _, st := range []SerializeType{JSON, RocketMQ} {
		b.Run(st.String()+"/decode+encode", func(b *testing.B) { benchmarkFrame(b, st, true, true) })
		b.Run(st.String()+"/decode", func(b *testing.B) { benchmarkFrame(b, st, true, false) })
		b.Run(st.String()+"/encode", func(b *testing.B) { benchmarkFrame(b, st, false, true) })
	}
}

// BenchmarkReadSendHeader is what a send handler does with the decoded header.
func BenchmarkReadSendHeader(b *testing.B) {
	cmd := sendMessageRequest(JSON)
	b.ReportAllocs()
	for b.Loop() {
		r := ReadHeader(cmd)
		_ = r.String("producerGroup")
		_ = r.String("topic")
		_ = r.String("defaultTopic")
		_ = r.Int32("defaultTopicQueueNums")
		_ = r.Int32("queueId")
		_ = r.Int32("sysFlag")
		_ = r.Int64("bornTimestamp")
		_ = r.Int32("flag")
		_ = r.OptString("properties", "")
		_ = r.OptInt32("reconsumeTimes", 0)
		_ = r.OptBool("unitMode", false)
		_ = r.OptInt32("maxReconsumeTimes", 16)
		_ = r.OptBool("batch", false)
		if r.Err() != nil {
			b.Fatal(r.Err())
		}
	}
}

// BenchmarkJSONHeaderDecode compares the hand-written decoder with
// encoding/json on a SEND_MESSAGE header.
func BenchmarkJSONHeaderDecode(b *testing.B) {
	header := AppendJSONHeader(nil, sendMessageRequest(JSON))
	b.Run("petrel", func(b *testing.B) {
		b.SetBytes(int64(len(header)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeJSONHeader(header); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(header)))
		b.ReportAllocs()
		for b.Loop() {
			var h stdHeader
			if err := json.Unmarshal(header, &h); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRocketMQHeaderDecode(b *testing.B) {
	header, _ := AppendRocketMQHeader(nil, sendMessageRequest(RocketMQ))
	b.SetBytes(int64(len(header)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRocketMQHeader(header); err != nil {
			b.Fatal(err)
		}
	}
}
