package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestRecorderPercentiles(t *testing.T) {
	r := NewRecorder()
	for i := 1; i <= 1000; i++ {
		r.Record(time.Duration(i) * time.Millisecond)
	}
	r.RecordN(time.Hour, 2) // beyond the range: clamped, counted
	l := r.Snapshot()
	near := func(got, want float64) bool { return got >= want*0.99 && got <= want*1.01 } // HDR: 3 significant digits, bucket upper bounds
	if l.Count != 1002 || !near(l.P50Micros, 500_000) || !near(l.P99Micros, 991_000) || !near(l.MaxMicros, 60_000_000) || l.Clamped != 2 {
		t.Fatalf("got %+v", l)
	}
	if (&Recorder{h: NewRecorder().h}).Snapshot() != (Latency{}) {
		t.Fatal("empty recorder must report zeros")
	}
}

func TestResultOutputs(t *testing.T) {
	r := &Result{Target: "petrel", Workload: DefaultWorkload(), Elapsed: Duration(2 * time.Second), Sent: 10, SentRate: 5,
		Errors: map[string]int64{"SYSTEM_BUSY": 3}, Publish: Latency{Count: 10, P50Micros: 1500}}
	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"petrel", "SYSTEM_BUSY", "1.500", "p99.9"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back["sent_msgs_per_s"] != 5.0 || back["elapsed"] != "2s" {
		t.Fatalf("json: %s", js.String())
	}
}
