package podnet

import "testing"

func TestLoopbackTwin(t *testing.T) {
	m, err := New("10.7.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]string{
		"10.7.0.2":    "127.7.0.2",
		"10.7.255.9":  "127.7.255.9",
		"127.1.0.5":   "127.1.0.5",
		"10.8.0.2":    "",
		"192.168.1.1": "",
		"fd00::1":     "",
		"":            "",
	} {
		got, ok := m.Loopback(ip)
		if got != want || ok != (want != "") {
			t.Errorf("Loopback(%q) = %q, %v; want %q", ip, got, ok, want)
		}
	}
	if got := m.Addr("10.7.1.2:9898"); got != "127.7.1.2:9898" {
		t.Errorf("Addr = %q", got)
	}
	if got := m.Addr("example.com:80"); got != "example.com:80" {
		t.Errorf("Addr changed a name: %q", got)
	}
}

func TestAcquireGivesEachEnvironmentItsOwnNetwork(t *testing.T) {
	a, err := Acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	b, err := Acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if a.CIDR == b.CIDR {
		t.Errorf("two leases got the same network %s", a.CIDR)
	}
	if _, err := New(a.CIDR); err != nil {
		t.Errorf("lease CIDR %q does not parse: %v", a.CIDR, err)
	}
}
