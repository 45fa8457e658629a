package loadtester

import (
	"net/http"
	"strings"
	"testing"
)

func TestGateApprovalDoesNotCarryOverToTheNextRevision(t *testing.T) {
	s := newServer(t, Options{})
	next := podinfo
	next.Checksum = "rev2"
	byName := Payload{Name: podinfo.Name, Namespace: podinfo.Namespace} // a person's call names no revision
	for _, kind := range []string{"gate", "rollback"} {
		if code, body := call(t, s, "/"+kind+"/check", payload(t, podinfo), nil); code != http.StatusForbidden {
			t.Fatalf("%s check of rev1 = %d %q, want 403", kind, code, body)
		}
		if code, body := call(t, s, "/"+kind+"/open", payload(t, byName), nil); code != http.StatusOK || !strings.Contains(body, "rev1") {
			t.Fatalf("%s open = %d %q, want 200 naming rev1", kind, code, body)
		}
		if code, _ := call(t, s, "/"+kind+"/check", payload(t, podinfo), nil); code != http.StatusOK {
			t.Fatalf("%s check of rev1 after open = %d, want 200", kind, code)
		}
		// The next release must wait for its own approval.
		if code, body := call(t, s, "/"+kind+"/check", payload(t, next), nil); code != http.StatusForbidden {
			t.Errorf("%s check of rev2 after rev1 was approved = %d %q, want 403", kind, code, body)
		}
	}
}

func TestGateOpenWithoutARevisionWaitsForACheck(t *testing.T) {
	s := newServer(t, Options{})
	byName := Payload{Name: "fresh", Namespace: "test"}
	if code, body := call(t, s, "/gate/open", payload(t, byName), nil); code != http.StatusConflict || !strings.Contains(body, "checksum") {
		t.Errorf("open before any check = %d %q, want 409 asking for a checksum", code, body)
	}
	if code, body := call(t, s, "/gate/check", payload(t, byName), nil); code != http.StatusBadRequest || !strings.Contains(body, "checksum") {
		t.Errorf("check without a checksum = %d %q, want 400", code, body)
	}
}
