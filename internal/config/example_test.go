package config_test

import (
	"fmt"
	"strings"

	"github.com/petrel-mq/petrel/internal/config"
)

// The start-up sequence of `petrel broker -c broker.conf`: file over
// defaults, flags over the file, then Validate; warnings are logged.
func Example() {
	conf := `# broker-a.properties
brokerClusterName = DefaultCluster
brokerName = broker-a
brokerId = 0
deleteWhen = 04
fileReservedTime = 48
brokerRole = ASYNC_MASTER
flushDiskType = ASYNC_FLUSH
mapedFileSizeCommitLog = 268435456
aclEnable = true
`
	b, warns, err := config.ParseBroker(strings.NewReader(conf), "broker.conf")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range warns {
		fmt.Println("warning:", w)
	}
	if err := b.Set("flushDiskType", "SYNC_FLUSH"); err != nil { // e.g. from a flag
		fmt.Println(err)
		return
	}
	b.NamesrvAddr = []string{"127.0.0.1:9876"}
	if err := b.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(b.BrokerName, b.FlushDiskType, b.FileReservedTime, b.MappedFileSizeCommitLog>>20, "MiB")
	fmt.Println(config.Keys()[0].Name, "=", config.Keys()[0].Default)
	// Output:
	// warning: broker.conf:10: unknown key "aclEnable" ignored
	// broker-a SYNC_FLUSH 48h0m0s 256 MiB
	// brokerClusterName = DefaultCluster
}
