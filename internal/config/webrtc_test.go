package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestWebRTCFlags(t *testing.T) {
	c, err := Load("serve", []string{
		"--whip-tokens", "global-token,cam=cam-token==", "--webrtc-public-ip", "203.0.113.7",
		"--webrtc-udp-ports", "40000-40100", "--webrtc-ips", "127.0.0.1,::1",
		"--whep-join", "http://origin.test/whep/show1, named=https://origin.test/play?s=a=b",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi, err := c.UDPPorts()
	if err != nil || lo != 40000 || hi != 40100 {
		t.Errorf("UDPPorts = %d, %d, %v", lo, hi, err)
	}
	joins, err := c.WHEPJoins()
	want := []WHEPJoin{{"show1", "http://origin.test/whep/show1"}, {"named", "https://origin.test/play?s=a=b"}}
	if err != nil || !reflect.DeepEqual(joins, want) {
		t.Errorf("WHEPJoins = %+v, %v; want %+v", joins, err, want)
	}
	if d := Default(); d.WHIPMaxBody != 64<<10 || d.WebRTCSetupTimeout <= 0 || d.WHIPMaxPending <= 0 {
		t.Errorf("defaults %+v", d)
	}
}

func TestWebRTCFlagsRefused(t *testing.T) {
	for _, tt := range []struct {
		args []string
		say  string
	}{
		{[]string{"--whip-tokens", "cam="}, "whip-tokens"},
		{[]string{"--whip-tokens", "has space"}, "whip-tokens"},
		{[]string{"--webrtc-udp-ports", "5000"}, "webrtc-udp-ports"},
		{[]string{"--webrtc-udp-ports", "6000-5000"}, "webrtc-udp-ports"},
		{[]string{"--webrtc-udp-ports", "0-10"}, "webrtc-udp-ports"},
		{[]string{"--webrtc-public-ip", "example.com"}, "webrtc-public-ip"},
		{[]string{"--webrtc-ips", "eth0"}, "webrtc-ips"},
		{[]string{"--webrtc-udp-mux", "8443"}, "webrtc-udp-mux"},
		{[]string{"--webrtc-udp-mux", ":8443", "--webrtc-udp-ports", "1-2"}, "exclude"},
		{[]string{"--whep-join", "ftp://x/y"}, "whep-join"},
		{[]string{"--whep-join", "http://host/"}, "NAME=URL"},
		{[]string{"--whip-max-body", "10"}, "whip-max-body"},
		{[]string{"--whip-max-pending", "0"}, "whip-max-pending"},
		{[]string{"--webrtc-setup-timeout", "0s"}, "webrtc-setup-timeout"},
		{[]string{"--whep-token", "a b"}, "whep-token"},
	} {
		_, err := Load("serve", tt.args, nil)
		if err == nil || !strings.Contains(err.Error(), tt.say) {
			t.Errorf("%v: err = %v, want one naming %s", tt.args, err, tt.say)
		}
	}
}

func FuzzWHEPJoins(f *testing.F) {
	f.Add("http://origin.test/whep/show1, named=https://origin.test/play?s=a=b")
	f.Add("=http://x/y,a=b=c")
	f.Fuzz(func(t *testing.T, list string) {
		joins, err := Config{WHEPJoin: list}.WHEPJoins()
		if err != nil {
			return
		}
		for _, j := range joins {
			if j.Name == "" || !strings.HasPrefix(j.URL, "http") {
				t.Fatalf("WHEPJoins(%q) gave %+v", list, j)
			}
		}
	})
}

func FuzzUDPPorts(f *testing.F) {
	f.Add("40000-40100")
	f.Add("1-65535")
	f.Add("-")
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, err := Config{WebRTCUDPPorts: s}.UDPPorts()
		if err == nil && s != "" && (lo == 0 || lo > hi) {
			t.Fatalf("UDPPorts(%q) = %d-%d", s, lo, hi)
		}
	})
}
