package config

import (
	"reflect"
	"strings"
	"testing"
)

var propertiesSeeds = []string{
	"a=b\nc:d\ne f\n",
	"# comment\n! comment\n  key  =  value  \n",
	"a=b\\\n   c\\\r\n d\r\ne=f\\",
	"a\\=b\\:c\\ d=\\t\\n\\r\\f\\\\\\u00e9\\uD83D\\uDE00\\uD83D",
	"\uFEFFbrokerName=broker-a\r\nbrokerId=0\rdeleteWhen=04;16\n",
	"a=\\u12",
	"=\n:\n \\\n",
	"名前=値\n\\#k=#v\n",
}

// FuzzParseProperties checks that any input either fails with a syntax
// error or yields properties with increasing line numbers that
// FormatProperties renders and ParseProperties reads back unchanged.
func FuzzParseProperties(f *testing.F) {
	for _, s := range propertiesSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ps, err := ParseProperties(strings.NewReader(in))
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("error %v is not a *SyntaxError", err)
			}
			return
		}
		last := 0
		for _, p := range ps {
			if p.Line <= last {
				t.Fatalf("line numbers not increasing: %+v", ps)
			}
			last = p.Line
		}
		back, err := ParseProperties(strings.NewReader(FormatProperties(ps)))
		if err != nil {
			t.Fatalf("re-parse of formatted output: %v", err)
		}
		if len(back) != len(ps) {
			t.Fatalf("round trip: %d properties, want %d", len(back), len(ps))
		}
		for i := range ps {
			if back[i].Key != ps[i].Key || back[i].Value != ps[i].Value {
				t.Fatalf("round trip %d: %q=%q became %q=%q", i, ps[i].Key, ps[i].Value, back[i].Key, back[i].Value)
			}
		}
	})
}

// FuzzParseBroker checks that any broker.conf either loads or fails with a
// value or syntax error, and that a loaded config renders to a file that
// loads back to the same config without warnings.
func FuzzParseBroker(f *testing.F) {
	for _, s := range propertiesSeeds {
		f.Add(s)
	}
	f.Add("listenPort=10911\nflushDiskType=SYNC_FLUSH\nmessageDelayLevel=1s 2m 3h 4d\n")
	f.Add("namesrvAddr=h1:9876;[::1]:9876\ndeleteWhen=04;;16\ndiskMaxUsedSpaceRatio=99\n")
	f.Add("mapedFileSizeConsumeQueue=1000001\nregisterNameServerPeriod=1\nbrokerName=x\n")
	f.Fuzz(func(t *testing.T, in string) {
		b, _, err := ParseBroker(strings.NewReader(in), "fuzz.conf")
		if err != nil {
			if b != nil {
				t.Fatalf("broker returned with error %v", err)
			}
			return
		}
		// Normalise the derived commit log path, which renders explicitly.
		b.StorePathCommitLog = b.CommitLogDir()
		back, warns, err := ParseBroker(strings.NewReader(b.String()), "rendered")
		if err != nil || len(warns) != 0 {
			t.Fatalf("rendered config does not load cleanly: %v %q\n%s", err, warns.Strings(), b.String())
		}
		if !reflect.DeepEqual(b, back) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", b, back)
		}
		_ = b.Validate() // must not panic
	})
}
