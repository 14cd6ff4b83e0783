package remoting

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"testing"

	"github.com/petrel-mq/petrel/internal/protocol"
)

// BenchmarkInvoke measures request/response throughput over one client
// connection with many goroutines invoking at once against an echo handler
// (1 KiB body each way). allocs/op counts both sides.
func BenchmarkInvoke(b *testing.B) {
	for _, parallelism := range []int{1, 8, 64} {
		b.Run("goroutines="+strconv.Itoa(parallelism*runtime.GOMAXPROCS(0)), func(b *testing.B) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			srv := &Server{Handler: HandlerFunc(echo), Logger: quiet}
			go srv.Serve(l)
			defer srv.Close()
			client := NewClient(ClientOptions{Logger: quiet})
			defer client.Close()
			addr := l.Addr().String()
			ctx := context.Background()
			if _, err := client.Conn(ctx, addr); err != nil {
				b.Fatal(err)
			}
			body := bytes.Repeat([]byte("x"), 1024)
			ext := protocol.FieldsOf("producerGroup", "pg", "topic", "BenchmarkTopic", "queueId", "1", "sysFlag", "0",
				"bornTimestamp", "1718000000123", "flag", "0", "properties", "TAGS\x01a\x02", "reconsumeTimes", "0")
			b.SetParallelism(parallelism)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := protocol.NewRequest(protocol.SendMessage, ext, body)
				for pb.Next() {
					resp, err := client.Invoke(ctx, addr, req)
					if err != nil {
						b.Error(err)
						return
					}
					if len(resp.Body) != len(body) {
						b.Errorf("body of %d bytes", len(resp.Body))
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
