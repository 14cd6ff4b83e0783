package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// props indexes rendered properties by key.
func props(ps []Property) map[string]string {
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[p.Key] = p.Value
	}
	return m
}

func parseBroker(t *testing.T, text string) (*Broker, Warnings) {
	t.Helper()
	b, warns, err := ParseBroker(strings.NewReader(text), "broker.conf")
	if err != nil {
		t.Fatalf("ParseBroker(%q): %v", text, err)
	}
	return b, warns
}

func TestDefaultBroker(t *testing.T) {
	t.Setenv("NAMESRV_ADDR", "")
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = DefaultBrokerName
	}
	want := map[string]string{
		"brokerClusterName":                 "DefaultCluster",
		"brokerName":                        host,
		"brokerId":                          "0",
		"brokerRole":                        "ASYNC_MASTER",
		"brokerPermission":                  "6",
		"regionId":                          "DefaultRegion",
		"namesrvAddr":                       "",
		"bindAddress":                       "0.0.0.0",
		"listenPort":                        "10911",
		"brokerIP1":                         "",
		"registerNameServerPeriod":          "30000",
		"serverChannelMaxIdleTimeSeconds":   "120",
		"channelExpiredTimeout":             "120000",
		"storePathRootDir":                  "",
		"storePathCommitLog":                "",
		"mappedFileSizeCommitLog":           "1073741824",
		"mappedFileSizeConsumeQueue":        "6000000",
		"flushDiskType":                     "ASYNC_FLUSH",
		"flushIntervalCommitLog":            "500",
		"syncFlushTimeout":                  "5000",
		"fileReservedTime":                  "72",
		"deleteWhen":                        "04",
		"diskMaxUsedSpaceRatio":             "75",
		"diskSpaceWarningLevelRatio":        "90",
		"diskSpaceCleanForciblyRatio":       "85",
		"maxMessageSize":                    "4194304",
		"maxHashSlotNum":                    "5000000",
		"maxIndexNum":                       "20000000",
		"flushConsumerOffsetInterval":       "5000",
		"autoCreateTopicEnable":             "true",
		"autoCreateSubscriptionGroup":       "true",
		"defaultTopicQueueNums":             "8",
		"longPollingEnable":                 "true",
		"shortPollingTimeMills":             "1000",
		"notifyConsumerIdsChangedEnable":    "true",
		"maxTransferBytesOnMessageInMemory": "262144",
		"maxTransferCountOnMessageInMemory": "32",
		"maxTransferBytesOnMessageInDisk":   "65536",
		"maxTransferCountOnMessageInDisk":   "8",
		"accessMessageInMemoryMaxRatio":     "40",
		"slaveReadEnable":                   "false",
		"enablePropertyFilter":              "false",
		"filterSupportRetry":                "false",
		"defaultQueryMaxNum":                "32",
		"traceOn":                           "true",
		"traceTopicEnable":                  "false",
		"msgTraceTopicName":                 "RMQ_SYS_TRACE_TOPIC",
		"messageDelayLevel":                 "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h",
		"timerWheelEnable":                  "true",
		"timerMaxDelaySec":                  "259200",
		"timerPrecisionMs":                  "1000",
		"transactionTimeOut":                "6000",
		"transactionCheckMax":               "15",
		"transactionCheckInterval":          "60000",
		"rejectTransactionMessage":          "false",
	}
	b := DefaultBroker()
	got := props(b.Properties())
	if !reflect.DeepEqual(got, want) {
		for k := range want {
			if got[k] != want[k] {
				t.Errorf("default %s = %q, want %q", k, got[k], want[k])
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected key %s=%q", k, got[k])
			}
		}
	}
	// Typed fields, spot-checked in their Go units.
	if b.FlushIntervalCommitLog != 500*time.Millisecond || b.FileReservedTime != 72*time.Hour ||
		b.TimerMaxDelay != 72*time.Hour || b.ServerChannelMaxIdleTime != 2*time.Minute ||
		len(b.MessageDelayLevel) != 18 || b.MessageDelayLevel[17] != 2*time.Hour {
		t.Errorf("typed defaults wrong: %+v", b)
	}
	if b.NamesrvAddr != nil {
		t.Errorf("NamesrvAddr = %q, want none", b.NamesrvAddr)
	}
	if err := b.Validate(); err != nil && host != DefaultBrokerName {
		// A host name can be an invalid broker name; only then may this fail.
		if checkName(host) == "" {
			t.Errorf("defaults do not validate: %v", err)
		}
	}
}

func TestDefaultBrokerNamesrvAddrFromEnv(t *testing.T) {
	t.Setenv("NAMESRV_ADDR", " h1:9876; 10.0.0.2:9877 ;")
	if got := DefaultBroker().NamesrvAddr; !slices.Equal(got, []string{"h1:9876", "10.0.0.2:9877"}) {
		t.Fatalf("NamesrvAddr = %q", got)
	}
	t.Setenv("NAMESRV_ADDR", "no-port")
	b := DefaultBroker()
	b.BrokerName = "broker-a"
	err := b.Validate()
	if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), "namesrvAddr") {
		t.Fatalf("Validate with NAMESRV_ADDR=no-port: %v", err)
	}
}

// TestBrokerKeys sets every honoured key from a file and checks how it is
// rendered back (in the key's RocketMQ unit and syntax).
func TestBrokerKeys(t *testing.T) {
	tests := []struct {
		key, value, want string
	}{
		{"brokerClusterName", "prod_cluster-1.x", "prod_cluster-1.x"},
		{"brokerName", "broker-a", "broker-a"},
		{"brokerId", "+3", "3"},
		{"brokerRole", "SLAVE", "SLAVE"},
		{"brokerRole", "SYNC_MASTER", "SYNC_MASTER"},
		{"brokerPermission", "4", "4"},
		{"regionId", "eu west", "eu west"},
		{"namesrvAddr", "h1:9876; [::1]:9876 ;", "h1:9876;[::1]:9876"},
		{"namesrvAddr", "", ""},
		{"bindAddress", "127.0.0.1", "127.0.0.1"},
		{"bindAddress", "", ""},
		{"listenPort", "0010912", "10912"},
		{"brokerIP1", "192.168.0.7", "192.168.0.7"},
		{"brokerIP1", "broker-a.example.com", "broker-a.example.com"},
		{"registerNameServerPeriod", "20000", "20000"},
		{"serverChannelMaxIdleTimeSeconds", "0", "0"},
		{"channelExpiredTimeout", "90000", "90000"},
		{"storePathRootDir", "/var/lib/petrel", "/var/lib/petrel"},
		{"storePathCommitLog", "/fast/commitlog", "/fast/commitlog"},
		{"mappedFileSizeCommitLog", "67108864", "67108864"},
		{"mappedFileSizeConsumeQueue", "600000", "600000"},
		{"flushDiskType", "SYNC_FLUSH", "SYNC_FLUSH"},
		{"flushIntervalCommitLog", "200", "200"},
		{"syncFlushTimeout", "10000", "10000"},
		{"fileReservedTime", "48", "48"},
		{"deleteWhen", "4;16", "04;16"},
		{"deleteWhen", "00;23;", "00;23"},
		{"diskMaxUsedSpaceRatio", "80", "80"},
		{"diskSpaceWarningLevelRatio", "88", "88"},
		{"diskSpaceCleanForciblyRatio", "70", "70"},
		{"maxMessageSize", "1048576", "1048576"},
		{"maxHashSlotNum", "1000", "1000"},
		{"maxIndexNum", "4000", "4000"},
		{"flushConsumerOffsetInterval", "1000", "1000"},
		{"autoCreateTopicEnable", "FALSE", "false"},
		{"autoCreateSubscriptionGroup", "False", "false"},
		{"defaultTopicQueueNums", "4", "4"},
		{"longPollingEnable", "false", "false"},
		{"shortPollingTimeMills", "0", "0"},
		{"notifyConsumerIdsChangedEnable", "false", "false"},
		{"maxTransferBytesOnMessageInMemory", "1024", "1024"},
		{"maxTransferCountOnMessageInMemory", "64", "64"},
		{"maxTransferBytesOnMessageInDisk", "2048", "2048"},
		{"maxTransferCountOnMessageInDisk", "16", "16"},
		{"accessMessageInMemoryMaxRatio", "0", "0"},
		{"slaveReadEnable", "TRUE", "true"},
		{"enablePropertyFilter", "true", "true"},
		{"filterSupportRetry", "true", "true"},
		{"defaultQueryMaxNum", "64", "64"},
		{"traceOn", "false", "false"},
		{"traceTopicEnable", "true", "true"},
		{"msgTraceTopicName", "%TRACE|x_y-z", "%TRACE|x_y-z"},
		{"messageDelayLevel", "1s  90s\t2m 24h 2d", "1s 90s 2m 1d 2d"},
		{"timerWheelEnable", "false", "false"},
		{"timerMaxDelaySec", "31536000", "31536000"},
		{"timerPrecisionMs", "100", "100"},
		{"transactionTimeOut", "3000", "3000"},
		{"transactionCheckMax", "5", "5"},
		{"transactionCheckInterval", "30000", "30000"},
		{"rejectTransactionMessage", "true", "true"},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.key] = true
		b, warns := parseBroker(t, tt.key+" = "+tt.value+"  \n")
		if len(warns) != 0 {
			t.Errorf("%s=%q: unexpected warnings %q", tt.key, tt.value, warns.Strings())
		}
		if got := props(b.Properties())[tt.key]; got != tt.want {
			t.Errorf("%s=%q: rendered %q, want %q", tt.key, tt.value, got, tt.want)
		}
	}
	for _, k := range Keys() {
		if !k.Ignored && !covered[k.Name] {
			t.Errorf("key %s has no parse test", k.Name)
		}
	}
}

func TestBrokerTypedFields(t *testing.T) {
	b, _ := parseBroker(t, `
flushIntervalCommitLog=250
syncFlushTimeout=7000
fileReservedTime=2
registerNameServerPeriod=15000
serverChannelMaxIdleTimeSeconds=30
timerMaxDelaySec=600
timerPrecisionMs=100
transactionTimeOut=1500
transactionCheckInterval=2000
shortPollingTimeMills=300
channelExpiredTimeout=45000
flushConsumerOffsetInterval=700
deleteWhen=03;15
namesrvAddr=a:1;b:2
brokerId=2
`)
	checks := []struct {
		name      string
		got, want any
	}{
		{"FlushIntervalCommitLog", b.FlushIntervalCommitLog, 250 * time.Millisecond},
		{"SyncFlushTimeout", b.SyncFlushTimeout, 7 * time.Second},
		{"FileReservedTime", b.FileReservedTime, 2 * time.Hour},
		{"RegisterNameServerPeriod", b.RegisterNameServerPeriod, 15 * time.Second},
		{"ServerChannelMaxIdleTime", b.ServerChannelMaxIdleTime, 30 * time.Second},
		{"TimerMaxDelay", b.TimerMaxDelay, 10 * time.Minute},
		{"TimerPrecision", b.TimerPrecision, 100 * time.Millisecond},
		{"TransactionTimeout", b.TransactionTimeout, 1500 * time.Millisecond},
		{"TransactionCheckInterval", b.TransactionCheckInterval, 2 * time.Second},
		{"ShortPollingTime", b.ShortPollingTime, 300 * time.Millisecond},
		{"ChannelExpiredTimeout", b.ChannelExpiredTimeout, 45 * time.Second},
		{"FlushConsumerOffsetInterval", b.FlushConsumerOffsetInterval, 700 * time.Millisecond},
		{"DeleteWhen", b.DeleteWhen, []int{3, 15}},
		{"NamesrvAddr", b.NamesrvAddr, []string{"a:1", "b:2"}},
		{"BrokerID", b.BrokerID, int64(2)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestBrokerValueErrors(t *testing.T) {
	tests := []struct {
		line string
		want string
	}{
		{"flushDiskType=SYNCFLUSH", `broker.conf:2: flushDiskType: "SYNCFLUSH" is not one of ASYNC_FLUSH, SYNC_FLUSH`},
		{"flushDiskType=sync_flush", `broker.conf:2: flushDiskType: "sync_flush" is not one of ASYNC_FLUSH, SYNC_FLUSH`},
		{"brokerRole=MASTER", `broker.conf:2: brokerRole: "MASTER" is not one of ASYNC_MASTER, SYNC_MASTER, SLAVE`},
		{"autoCreateTopicEnable=yes", `broker.conf:2: autoCreateTopicEnable: "yes" is not a boolean (true or false)`},
		{"traceOn=1", `broker.conf:2: traceOn: "1" is not a boolean (true or false)`},
		{"traceOn=", `broker.conf:2: traceOn: "" is not a boolean (true or false)`},
		{"listenPort=abc", `broker.conf:2: listenPort: "abc" is not an integer from 1 to 65535`},
		{"listenPort=70000", `broker.conf:2: listenPort: "70000" is not an integer from 1 to 65535`},
		{"listenPort=0", `broker.conf:2: listenPort: "0" is not an integer from 1 to 65535`},
		{"listenPort=0x2A", `broker.conf:2: listenPort: "0x2A" is not an integer from 1 to 65535`},
		{"listenPort=1_000", `broker.conf:2: listenPort: "1_000" is not an integer from 1 to 65535`},
		{"listenPort=10 911", `broker.conf:2: listenPort: "10 911" is not an integer from 1 to 65535`},
		{"brokerId=-1", `broker.conf:2: brokerId: "-1" is not an integer from 0 to 9223372036854775807`},
		{"brokerId=9223372036854775808", `broker.conf:2: brokerId: "9223372036854775808" is not an integer from 0 to 9223372036854775807`},
		{"brokerPermission=8", `broker.conf:2: brokerPermission: "8" is not an integer from 0 to 7`},
		{"brokerName=a/b", `broker.conf:2: brokerName: "a/b" is not a name of 1 to 127 letters, digits, '.', '_' or '-'`},
		{"brokerName=..", `broker.conf:2: brokerName: ".." is not a name of 1 to 127 letters, digits, '.', '_' or '-'`},
		{"brokerName=", `broker.conf:2: brokerName: "" is not a name of 1 to 127 letters, digits, '.', '_' or '-'`},
		{"brokerClusterName=" + strings.Repeat("c", 128), `broker.conf:2: brokerClusterName: "` + strings.Repeat("c", 128) + `" is not a name of 1 to 127 letters, digits, '.', '_' or '-'`},
		{"regionId=", `broker.conf:2: regionId: "" is not a non-empty text without control characters`},
		{`regionId=a\u0001b`, `broker.conf:2: regionId: "a\x01b" is not a non-empty text without control characters`},
		{"namesrvAddr=h1:9876;h2", `broker.conf:2: namesrvAddr: "h1:9876;h2" is not a ';'-separated list of name server host:port addresses: "h2" is not host:port`},
		{"namesrvAddr=h1:0", `broker.conf:2: namesrvAddr: "h1:0" is not a ';'-separated list of name server host:port addresses: "h1:0" has a port outside 1..65535`},
		{"namesrvAddr=h 1:9876", `broker.conf:2: namesrvAddr: "h 1:9876" is not a ';'-separated list of name server host:port addresses: "h 1:9876" has a bad host`},
		{"brokerIP1=10.0.0.1:10911", `broker.conf:2: brokerIP1: "10.0.0.1:10911" is not an IP address or host name without a port`},
		{"bindAddress=a b", `broker.conf:2: bindAddress: "a b" is not an IP address or host name without a port`},
		{"registerNameServerPeriod=-1", `broker.conf:2: registerNameServerPeriod: "-1" is not a whole number of milliseconds from 0 to 2147483647`},
		{"serverChannelMaxIdleTimeSeconds=-5", `broker.conf:2: serverChannelMaxIdleTimeSeconds: "-5" is not a whole number of seconds from 0 to 2147483647`},
		{"storePathRootDir=a\\nb", `broker.conf:2: storePathRootDir: "a\nb" is not a path without control characters`},
		{"mappedFileSizeCommitLog=1024", `broker.conf:2: mappedFileSizeCommitLog: "1024" is not an integer from 4096 to 2147483647`},
		{"mapedFileSizeCommitLog=2147483648", `broker.conf:2: mapedFileSizeCommitLog: "2147483648" is not an integer from 4096 to 2147483647`},
		{"mappedFileSizeConsumeQueue=10", `broker.conf:2: mappedFileSizeConsumeQueue: "10" is not an integer from 20 to 2147483640`},
		{"mappedFileSizeConsumeQueue=2147483641", `broker.conf:2: mappedFileSizeConsumeQueue: "2147483641" is not an integer from 20 to 2147483640`},
		{"flushIntervalCommitLog=0", `broker.conf:2: flushIntervalCommitLog: "0" is not a whole number of milliseconds from 1 to 2147483647`},
		{"flushIntervalCommitLog=500ms", `broker.conf:2: flushIntervalCommitLog: "500ms" is not a whole number of milliseconds from 1 to 2147483647`},
		{"syncFlushTimeout=0", `broker.conf:2: syncFlushTimeout: "0" is not a whole number of milliseconds from 1 to 31622400000`},
		{"fileReservedTime=0", `broker.conf:2: fileReservedTime: "0" is not a whole number of hours from 1 to 2562047`},
		{"fileReservedTime=2147483647", `broker.conf:2: fileReservedTime: "2147483647" is not a whole number of hours from 1 to 2562047`},
		{"deleteWhen=24", `broker.conf:2: deleteWhen: "24" is not a list of hours 0..23 separated by ';' (e.g. "04" or "04;16")`},
		{"deleteWhen=4am", `broker.conf:2: deleteWhen: "4am" is not a list of hours 0..23 separated by ';' (e.g. "04" or "04;16")`},
		{"deleteWhen=", `broker.conf:2: deleteWhen: "" is not a list of hours 0..23 separated by ';' (e.g. "04" or "04;16")`},
		{"diskMaxUsedSpaceRatio=101", `broker.conf:2: diskMaxUsedSpaceRatio: "101" is not an integer from 0 to 100`},
		{"diskSpaceWarningLevelRatio=-1", `broker.conf:2: diskSpaceWarningLevelRatio: "-1" is not an integer from 0 to 100`},
		{"diskSpaceCleanForciblyRatio=0.85", `broker.conf:2: diskSpaceCleanForciblyRatio: "0.85" is not an integer from 0 to 100`},
		{"maxMessageSize=0", `broker.conf:2: maxMessageSize: "0" is not an integer from 1 to 2147483647`},
		{"maxHashSlotNum=0", `broker.conf:2: maxHashSlotNum: "0" is not an integer from 1 to 2147483647`},
		{"maxIndexNum=x", `broker.conf:2: maxIndexNum: "x" is not an integer from 1 to 2147483647`},
		{"flushConsumerOffsetInterval=0", `broker.conf:2: flushConsumerOffsetInterval: "0" is not a whole number of milliseconds from 1 to 2147483647`},
		{"defaultTopicQueueNums=0", `broker.conf:2: defaultTopicQueueNums: "0" is not an integer from 1 to 65535`},
		{"shortPollingTimeMills=-1", `broker.conf:2: shortPollingTimeMills: "-1" is not a whole number of milliseconds from 0 to 31622400000`},
		{"maxTransferBytesOnMessageInMemory=0", `broker.conf:2: maxTransferBytesOnMessageInMemory: "0" is not an integer from 1 to 2147483647`},
		{"maxTransferCountOnMessageInMemory=0", `broker.conf:2: maxTransferCountOnMessageInMemory: "0" is not an integer from 1 to 2147483647`},
		{"maxTransferBytesOnMessageInDisk=0", `broker.conf:2: maxTransferBytesOnMessageInDisk: "0" is not an integer from 1 to 2147483647`},
		{"maxTransferCountOnMessageInDisk=0", `broker.conf:2: maxTransferCountOnMessageInDisk: "0" is not an integer from 1 to 2147483647`},
		{"accessMessageInMemoryMaxRatio=101", `broker.conf:2: accessMessageInMemoryMaxRatio: "101" is not an integer from 0 to 100`},
		{"defaultQueryMaxNum=0", `broker.conf:2: defaultQueryMaxNum: "0" is not an integer from 1 to 2147483647`},
		{"msgTraceTopicName=a.b", `broker.conf:2: msgTraceTopicName: "a.b" is not a topic name of 1 to 127 letters, digits, '%', '|', '_' or '-'`},
		{"messageDelayLevel=1s 5x", `broker.conf:2: messageDelayLevel: "1s 5x" is not a list of delays like "1s 5s 1m 2h" (whole numbers from 1 with unit s, m, h or d, each at most 366d): level 2 "5x" does not end in s, m, h or d`},
		{"messageDelayLevel=1s 0s", `broker.conf:2: messageDelayLevel: "1s 0s" is not a list of delays like "1s 5s 1m 2h" (whole numbers from 1 with unit s, m, h or d, each at most 366d): level 2 "0s" is not between 1s and 366d`},
		{"messageDelayLevel=1.5s", `broker.conf:2: messageDelayLevel: "1.5s" is not a list of delays like "1s 5s 1m 2h" (whole numbers from 1 with unit s, m, h or d, each at most 366d): level 1 "1.5s" does not start with a whole number`},
		{"messageDelayLevel=s", `broker.conf:2: messageDelayLevel: "s" is not a list of delays like "1s 5s 1m 2h" (whole numbers from 1 with unit s, m, h or d, each at most 366d): level 1 "s" does not start with a whole number`},
		{"messageDelayLevel=367d", `broker.conf:2: messageDelayLevel: "367d" is not a list of delays like "1s 5s 1m 2h" (whole numbers from 1 with unit s, m, h or d, each at most 366d): level 1 "367d" is not between 1s and 366d`},
		{"messageDelayLevel=1S", `broker.conf:2: messageDelayLevel: "1S" is not a list of delays like "1s 5s 1m 2h" (whole numbers from 1 with unit s, m, h or d, each at most 366d): level 1 "1S" does not end in s, m, h or d`},
		{"messageDelayLevel=", `broker.conf:2: messageDelayLevel: "" is not a list of delays like "1s 5s 1m 2h" (whole numbers from 1 with unit s, m, h or d, each at most 366d): no levels`},
		{"timerMaxDelaySec=31622401", `broker.conf:2: timerMaxDelaySec: "31622401" is not a whole number of seconds from 1 to 31622400`},
		{"timerMaxDelaySec=0", `broker.conf:2: timerMaxDelaySec: "0" is not a whole number of seconds from 1 to 31622400`},
		{"timerPrecisionMs=0", `broker.conf:2: timerPrecisionMs: "0" is not a whole number of milliseconds from 1 to 60000`},
		{"transactionTimeOut=-1", `broker.conf:2: transactionTimeOut: "-1" is not a whole number of milliseconds from 0 to 31622400000`},
		{"transactionCheckMax=0", `broker.conf:2: transactionCheckMax: "0" is not an integer from 1 to 2147483647`},
		{"transactionCheckInterval=0", `broker.conf:2: transactionCheckInterval: "0" is not a whole number of milliseconds from 1 to 31622400000`},
		{"channelExpiredTimeout=0", `broker.conf:2: channelExpiredTimeout: "0" is not a whole number of milliseconds from 1 to 31622400000`},
	}
	for _, tt := range tests {
		b, _, err := ParseBroker(strings.NewReader("# line 1\n"+tt.line+"\n"), "broker.conf")
		if err == nil {
			t.Errorf("%s: no error", tt.line)
			continue
		}
		if b != nil {
			t.Errorf("%s: broker returned with error", tt.line)
		}
		var ve *ValueError
		if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidValue) {
			t.Errorf("%s: %v is not a *ValueError wrapping ErrInvalidValue", tt.line, err)
		}
		if err.Error() != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.line, err, tt.want)
		}
	}
}

func TestBrokerReportsEveryBadLine(t *testing.T) {
	_, _, err := ParseBroker(strings.NewReader("listenPort=x\nbrokerName=ok\nflushDiskType=NO\n"), "b.conf")
	want := "b.conf:1: listenPort: \"x\" is not an integer from 1 to 65535\n" +
		"b.conf:3: flushDiskType: \"NO\" is not one of ASYNC_FLUSH, SYNC_FLUSH"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestBrokerWarnings(t *testing.T) {
	text := `brokerName=broker-a
brokerNmae=typo
brokername=case
storePathIndex=/x
listenPort=10911
listenPort=10915
mapedFileSizeCommitLog=67108864
mappedFileSizeCommitLog=33554432
diskMaxUsedSpaceRatio=98
diskMaxUsedSpaceRatio=5
diskSpaceWarningLevelRatio=95
diskSpaceCleanForciblyRatio=10
registerNameServerPeriod=5000
registerNameServerPeriod=120000
mappedFileSizeConsumeQueue=1000001
useReentrantLockWhenPutMessage=whatever
sendMessageThreadPoolNums=16
`
	b, warns := parseBroker(t, text)
	want := []string{
		`broker.conf:2: unknown key "brokerNmae" ignored`,
		`broker.conf:3: unknown key "brokername" ignored (did you mean brokerName?)`,
		`broker.conf:4: unknown key "storePathIndex" ignored (petrel keeps the index under storePathRootDir)`,
		`broker.conf:6: listenPort set again (first set at line 5); this later value wins`,
		`broker.conf:8: mappedFileSizeCommitLog set again (first set at line 7); this later value wins`,
		`broker.conf:9: diskMaxUsedSpaceRatio: 98 lowered to 95 (RocketMQ keeps it within 10..95)`,
		`broker.conf:10: diskMaxUsedSpaceRatio set again (first set at line 9); this later value wins`,
		`broker.conf:10: diskMaxUsedSpaceRatio: 5 raised to 10 (RocketMQ keeps it within 10..95)`,
		`broker.conf:11: diskSpaceWarningLevelRatio: 95 lowered to 90 (RocketMQ keeps it within 35..90)`,
		`broker.conf:12: diskSpaceCleanForciblyRatio: 10 raised to 30 (RocketMQ keeps it within 30..85)`,
		`broker.conf:13: registerNameServerPeriod: 5000 raised to 10000 (RocketMQ keeps it within 10000..60000)`,
		`broker.conf:14: registerNameServerPeriod set again (first set at line 13); this later value wins`,
		`broker.conf:14: registerNameServerPeriod: 120000 lowered to 60000 (RocketMQ keeps it within 10000..60000)`,
		`broker.conf:15: mappedFileSizeConsumeQueue: 1000001 rounded up to 1000020, a multiple of 20`,
	}
	if got := warns.Strings(); !slices.Equal(got, want) {
		t.Fatalf("warnings\n got %q\nwant %q", got, want)
	}
	if warns[0].Key != "brokerNmae" || warns[0].Line != 2 || warns[0].File != "broker.conf" {
		t.Errorf("warning fields: %+v", warns[0])
	}
	if b.ListenPort != 10915 {
		t.Errorf("later duplicate should win: listenPort %d", b.ListenPort)
	}
	if b.MappedFileSizeCommitLog != 32<<20 {
		t.Errorf("alias duplicate: later should win, got %d", b.MappedFileSizeCommitLog)
	}
	if b.DiskMaxUsedSpaceRatio != 10 || b.DiskSpaceWarningLevelRatio != 90 || b.DiskSpaceCleanForciblyRatio != 30 {
		t.Errorf("ratios not clamped: %d %d %d", b.DiskMaxUsedSpaceRatio, b.DiskSpaceWarningLevelRatio, b.DiskSpaceCleanForciblyRatio)
	}
	if b.RegisterNameServerPeriod != time.Minute || b.MappedFileSizeConsumeQueue != 1000020 {
		t.Errorf("clamp/round: %v %d", b.RegisterNameServerPeriod, b.MappedFileSizeConsumeQueue)
	}
	if _, ok := props(b.Properties())["useReentrantLockWhenPutMessage"]; ok {
		t.Errorf("ignored key rendered in Properties")
	}
}

func TestMappedFileSizeAlias(t *testing.T) {
	for _, key := range []string{"mapedFileSizeCommitLog", "mappedFileSizeCommitLog"} {
		b, warns := parseBroker(t, key+"=268435456\n")
		if len(warns) != 0 || b.MappedFileSizeCommitLog != 256<<20 {
			t.Errorf("%s: size %d, warnings %q", key, b.MappedFileSizeCommitLog, warns.Strings())
		}
		if got := props(b.Properties())["mappedFileSizeCommitLog"]; got != "268435456" {
			t.Errorf("%s: rendered under the new name as %q", key, got)
		}
	}
	for _, key := range []string{"mapedFileSizeConsumeQueue", "mappedFileSizeConsumeQueue"} {
		b, _ := parseBroker(t, key+"=60000\n")
		if b.MappedFileSizeConsumeQueue != 60000 {
			t.Errorf("%s: size %d", key, b.MappedFileSizeConsumeQueue)
		}
	}
	b := DefaultBroker()
	if err := b.Set("mapedFileSizeCommitLog", "1048576"); err != nil || b.MappedFileSizeCommitLog != 1<<20 {
		t.Errorf("Set alias: %v, %d", err, b.MappedFileSizeCommitLog)
	}
	if err := b.Set("mapedFileSizeCommitLog", "x"); err == nil || !strings.HasPrefix(err.Error(), "mapedFileSizeCommitLog: ") {
		t.Errorf("Set alias error should name the alias: %v", err)
	}
}

func TestMessageDelayLevel(t *testing.T) {
	got, err := ParseDelayLevels("1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h")
	if err != nil || !slices.Equal(got, DefaultMessageDelayLevel()) {
		t.Fatalf("default levels: %v, %v", got, err)
	}
	got, err = ParseDelayLevels(" 2d\t+3h 45m 366d ")
	want := []time.Duration{48 * time.Hour, 3 * time.Hour, 45 * time.Minute, 366 * 24 * time.Hour}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
	if s := FormatDelayLevels(want); s != "2d 3h 45m 366d" {
		t.Errorf("FormatDelayLevels = %q", s)
	}
	if s := FormatDelayLevels([]time.Duration{90 * time.Second, 1500 * time.Millisecond}); s != "90s 1s" {
		t.Errorf("FormatDelayLevels = %q", s)
	}
	for _, bad := range []string{"", "5", "5x", "-1s", "0m", "1.5s", "367d", "9223372036854775807s"} {
		if _, err := ParseDelayLevels(bad); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("ParseDelayLevels(%q) = %v, want ErrInvalidValue", bad, err)
		}
	}
	b, _ := parseBroker(t, "messageDelayLevel=1s 2s 3s\n")
	if !slices.Equal(b.MessageDelayLevel, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}) {
		t.Errorf("broker levels %v", b.MessageDelayLevel)
	}
}

func TestFlagsOverrideFile(t *testing.T) {
	b, _ := parseBroker(t, "brokerName=from-file\nlistenPort=10911\nflushDiskType=ASYNC_FLUSH\n")
	for _, kv := range [][2]string{{"listenPort", "20911"}, {"flushDiskType", " SYNC_FLUSH "}, {"storePathRootDir", "/data"}} {
		if err := b.Set(kv[0], kv[1]); err != nil {
			t.Fatalf("Set(%q, %q): %v", kv[0], kv[1], err)
		}
	}
	if b.ListenPort != 20911 || b.FlushDiskType != SyncFlush || b.BrokerName != "from-file" {
		t.Fatalf("after flags: port %d, flush %s, name %s", b.ListenPort, b.FlushDiskType, b.BrokerName)
	}
	if b.CommitLogDir() != filepath.Join("/data", "commitlog") {
		t.Errorf("CommitLogDir %q", b.CommitLogDir())
	}
	if err := b.SetListenAddr("127.0.0.1:30911"); err != nil || b.ListenAddr() != "127.0.0.1:30911" {
		t.Errorf("SetListenAddr: %v, %s", err, b.ListenAddr())
	}
	if err := b.SetListenAddr(":40911"); err != nil || b.ListenAddr() != ":40911" {
		t.Errorf("SetListenAddr empty host: %v, %s", err, b.ListenAddr())
	}
	for _, bad := range []string{"127.0.0.1", "h:0", "h:99999", "a b:1", ""} {
		if err := b.SetListenAddr(bad); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("SetListenAddr(%q) = %v", bad, err)
		}
	}
	if b.ListenAddr() != ":40911" {
		t.Errorf("a refused SetListenAddr changed the address to %s", b.ListenAddr())
	}
}

func TestBrokerSetErrors(t *testing.T) {
	b := DefaultBroker()
	err := b.Set("noSuchKey", "1")
	if !errors.Is(err, ErrUnknownKey) || err.Error() != `unknown key "noSuchKey" for the broker` {
		t.Errorf("unknown key: %v", err)
	}
	err = b.Set("listenPort", "99999")
	if !errors.Is(err, ErrInvalidValue) || err.Error() != `listenPort: "99999" is not an integer from 1 to 65535` {
		t.Errorf("bad value: %v", err)
	}
	if b.ListenPort != 10911 {
		t.Errorf("refused value changed the field to %d", b.ListenPort)
	}
	if err := b.Set("useReentrantLockWhenPutMessage", "true"); err != nil {
		t.Errorf("ignored key: %v", err)
	}
	if err := b.Set("diskMaxUsedSpaceRatio", "99"); err != nil || b.DiskMaxUsedSpaceRatio != 95 {
		t.Errorf("Set clamps: %v, %d", err, b.DiskMaxUsedSpaceRatio)
	}
}

func TestBrokerValidate(t *testing.T) {
	valid := func() *Broker {
		b := DefaultBroker()
		b.BrokerName = "broker-a"
		b.NamesrvAddr = nil
		return b
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid broker: %v", err)
	}
	slave := valid()
	slave.BrokerID, slave.BrokerRole = 1, Slave
	if err := slave.Validate(); err != nil {
		t.Fatalf("valid slave: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(b *Broker)
		want   string
		is     error
	}{
		{"slave id on a master", func(b *Broker) { b.BrokerID = 1 },
			"invalid configuration: brokerId 1 needs brokerRole SLAVE, not ASYNC_MASTER (brokerId 0 is the master)", ErrInvalidConfig},
		{"slave role with id 0", func(b *Broker) { b.BrokerRole = Slave },
			"invalid configuration: brokerRole SLAVE needs a brokerId above 0 (0 is the master)", ErrInvalidConfig},
		{"file too small for a message", func(b *Broker) { b.MappedFileSizeCommitLog = 4 << 20 },
			"invalid configuration: mappedFileSizeCommitLog 4194304 must be at least maxMessageSize 4194304 + 65536 so a message fits in one commit log file", ErrInvalidConfig},
		{"bad broker name set by code", func(b *Broker) { b.BrokerName = "a b" },
			`brokerName: "a b" is not a name of 1 to 127 letters, digits, '.', '_' or '-'`, ErrInvalidValue},
		{"port set by code", func(b *Broker) { b.ListenPort = 0 },
			`listenPort: "0" is not an integer from 1 to 65535`, ErrInvalidValue},
		{"namesrv entry without port", func(b *Broker) { b.NamesrvAddr = []string{"h1:9876", "h2"} },
			`namesrvAddr: "h1:9876;h2" is not a ';'-separated list of name server host:port addresses: "h2" is not host:port`, ErrInvalidValue},
		{"zero enum", func(b *Broker) { b.FlushDiskType = "" },
			`flushDiskType: "" is not one of ASYNC_FLUSH, SYNC_FLUSH`, ErrInvalidValue},
		{"no delay levels", func(b *Broker) { b.MessageDelayLevel = nil },
			`messageDelayLevel: "" is not a list of delays like "1s 5s 1m 2h" (whole numbers from 1 with unit s, m, h or d, each at most 366d): no levels`, ErrInvalidValue},
		{"timer delay over a year", func(b *Broker) { b.TimerMaxDelay = 400 * 24 * time.Hour },
			`timerMaxDelaySec: "34560000" is not a whole number of seconds from 1 to 31622400`, ErrInvalidValue},
	}
	for _, tt := range tests {
		b := valid()
		tt.mutate(b)
		err := b.Validate()
		if err == nil || err.Error() != tt.want || !errors.Is(err, tt.is) {
			t.Errorf("%s:\n got %v\nwant %s", tt.name, err, tt.want)
		}
	}
	both := valid()
	both.BrokerID, both.MappedFileSizeCommitLog = 2, 1<<20
	if err := both.Validate(); err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("two cross-field errors should both be reported: %v", err)
	}
}

func TestBrokerPropertiesRoundTrip(t *testing.T) {
	b, _ := parseBroker(t, `brokerName=broker-b
brokerId=1
brokerRole=SLAVE
namesrvAddr=n1:9876;n2:9876
storePathRootDir=/srv/petrel data
storePathCommitLog=/srv/cl
messageDelayLevel=3s 1m 1d
deleteWhen=01;13
flushDiskType=SYNC_FLUSH
regionId=r\u00e9gion 1
traceOn=false
`)
	text := b.String()
	back, warns, err := ParseBroker(strings.NewReader(text), "rendered")
	if err != nil || len(warns) != 0 {
		t.Fatalf("re-parse of\n%s\n: %v %q", text, err, warns.Strings())
	}
	if !reflect.DeepEqual(b, back) {
		t.Fatalf("round trip changed the config:\n%+v\n%+v", b, back)
	}
	order := b.Properties()
	if order[0].Key != "brokerClusterName" || order[1].Key != "brokerName" {
		t.Errorf("unstable order: %v", order[:2])
	}
}

func TestCommitLogDir(t *testing.T) {
	b := DefaultBroker()
	if b.CommitLogDir() != "" {
		t.Errorf("unset root: %q", b.CommitLogDir())
	}
	b.StorePathRootDir = "data"
	if b.CommitLogDir() != filepath.Join("data", "commitlog") {
		t.Errorf("derived: %q", b.CommitLogDir())
	}
	if got := props(b.Properties())["storePathCommitLog"]; got != filepath.Join("data", "commitlog") {
		t.Errorf("rendered effective dir %q", got)
	}
	b.StorePathCommitLog = "/cl"
	if b.CommitLogDir() != "/cl" {
		t.Errorf("explicit: %q", b.CommitLogDir())
	}
}

func TestLoadBroker(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "broker.conf")
	if err := os.WriteFile(path, []byte("brokerName = broker-a\r\nlistenPort = 10921\r\nbogus = 1\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, warns, err := LoadBroker(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.BrokerName != "broker-a" || b.ListenPort != 10921 {
		t.Errorf("loaded %s:%d", b.BrokerName, b.ListenPort)
	}
	if want := []string{path + `:3: unknown key "bogus" ignored`}; !slices.Equal(warns.Strings(), want) {
		t.Errorf("warnings %q, want %q", warns.Strings(), want)
	}

	if _, _, err := LoadBroker(filepath.Join(dir, "missing.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}

	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("a=b\nc=\\uZZZZ\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = LoadBroker(bad)
	if !errors.Is(err, ErrSyntax) || err.Error() != bad+`:2: malformed \uxxxx escape "\uZZZZ"` {
		t.Errorf("syntax error: %v", err)
	}
}

func TestKeys(t *testing.T) {
	keys := Keys()
	names := map[string]KeyDoc{}
	for _, k := range keys {
		if k.Description == "" {
			t.Errorf("%s has no description", k.Name)
		}
		names[k.Name] = k
	}
	for _, p := range DefaultBroker().Properties() {
		if _, ok := names[p.Key]; !ok {
			t.Errorf("rendered key %s is not documented", p.Key)
		}
	}
	checks := map[string]string{
		"brokerName":         "host name",
		"namesrvAddr":        "$NAMESRV_ADDR",
		"storePathCommitLog": "<storePathRootDir>/commitlog",
		"listenPort":         "10911",
		"messageDelayLevel":  "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h",
	}
	for name, def := range checks {
		if names[name].Default != def {
			t.Errorf("Keys default of %s = %q, want %q", name, names[name].Default, def)
		}
	}
	if !slices.Equal(names["mappedFileSizeCommitLog"].Aliases, []string{"mapedFileSizeCommitLog"}) {
		t.Errorf("alias not documented: %+v", names["mappedFileSizeCommitLog"])
	}
	if k := names["useReentrantLockWhenPutMessage"]; !k.Ignored || k.Default != "" {
		t.Errorf("ignored key doc: %+v", k)
	}
	md := MarkdownTable(keys)
	if !strings.HasPrefix(md, "| key | default | description |\n|---|---|---|\n") ||
		!strings.Contains(md, "| `mappedFileSizeCommitLog` (or `mapedFileSizeCommitLog`) | `1073741824` | ") ||
		strings.Count(md, "\n") != len(keys)+2 {
		t.Errorf("markdown table:\n%s", md)
	}
	if strings.Contains(md, "`%TRACE|") {
		t.Errorf("pipe not escaped")
	}
}
