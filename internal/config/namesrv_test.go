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

func TestDefaultNamesrv(t *testing.T) {
	n := DefaultNamesrv()
	want := []Property{
		{Key: "bindAddress", Value: "0.0.0.0"},
		{Key: "listenPort", Value: "9876"},
		{Key: "serverChannelMaxIdleTimeSeconds", Value: "120"},
	}
	if got := n.Properties(); !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults %+v, want %+v", got, want)
	}
	if n.ListenAddr() != "0.0.0.0:9876" {
		t.Errorf("ListenAddr %s", n.ListenAddr())
	}
	if err := n.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	if got := n.String(); got != "bindAddress=0.0.0.0\nlistenPort=9876\nserverChannelMaxIdleTimeSeconds=120\n" {
		t.Errorf("String %q", got)
	}
}

func TestParseNamesrv(t *testing.T) {
	n, warns, err := ParseNamesrv(strings.NewReader("listenPort=9877\nbindAddress=127.0.0.1\nkvConfigPath=/x\nserverChannelMaxIdleTimeSeconds=60\n"), "namesrv.conf")
	if err != nil {
		t.Fatal(err)
	}
	if n.ListenAddr() != "127.0.0.1:9877" || n.ServerChannelMaxIdleTime != time.Minute {
		t.Errorf("parsed %+v", n)
	}
	if want := []string{`namesrv.conf:3: unknown key "kvConfigPath" ignored`}; !slices.Equal(warns.Strings(), want) {
		t.Errorf("warnings %q", warns.Strings())
	}

	_, _, err = ParseNamesrv(strings.NewReader("listenPort=98760\n"), "namesrv.conf")
	if !errors.Is(err, ErrInvalidValue) || err.Error() != `namesrv.conf:1: listenPort: "98760" is not an integer from 1 to 65535` {
		t.Errorf("bad port: %v", err)
	}
}

func TestNamesrvOverrides(t *testing.T) {
	path := filepath.Join(t.TempDir(), "namesrv.conf")
	if err := os.WriteFile(path, []byte("listenPort=9000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, _, err := LoadNamesrv(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.SetListenAddr("127.0.0.1:9876"); err != nil || n.ListenAddr() != "127.0.0.1:9876" {
		t.Errorf("SetListenAddr: %v %s", err, n.ListenAddr())
	}
	if err := n.Set("listenPort", "9999"); err != nil || n.ListenPort != 9999 {
		t.Errorf("Set: %v %d", err, n.ListenPort)
	}
	if err := n.Set("brokerName", "x"); !errors.Is(err, ErrUnknownKey) || err.Error() != `unknown key "brokerName" for the name server` {
		t.Errorf("unknown key: %v", err)
	}
	if err := n.SetListenAddr("nope"); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("bad listen address: %v", err)
	}
	n.ListenPort = 70000
	if err := n.Validate(); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("Validate of port 70000: %v", err)
	}
	if _, _, err := LoadNamesrv(path + ".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if len(NamesrvKeys()) != 3 || NamesrvKeys()[1].Default != "9876" {
		t.Errorf("NamesrvKeys %+v", NamesrvKeys())
	}
}
