package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/webhooks"
)

// maxGateAnswer bounds what is read of a load tester's answer.
const maxGateAnswer = 64 << 10

// gateCall is one call of the load tester's gate API for a Canary.
type gateCall struct {
	// base is the load tester's URL without the gate path.
	base *url.URL
	// path is /gate/open, /gate/close, /rollback/open or /rollback/close.
	path string
}

func newGateCommand(o *Options, open bool) *cobra.Command {
	var (
		rollback bool
		keyFile  string
		timeout  time.Duration
		noWait   bool
		direct   bool
	)
	verb, short := "approve", "Open the load tester gate a Canary waits at, and wait until the controller goes on"
	if !open {
		verb, short = "close", "Close the load tester gate of a Canary again"
	}
	cmd := &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Long: `Approve opens, and close closes, the gate that Siskin's load tester keeps for a Canary: the gate
that its confirm-rollout, confirm-traffic-increase and confirm-promotion webhooks check
(URL path /gate/check), or with --rollback the rollback gate (/rollback/check; opening it asks
the controller to roll the revision back). The call goes through the API server's service proxy
to the load tester's Service, named by the webhook's URL (<service>.<namespace>[.svc...]), with
your kubeconfig; --direct calls the URL itself instead. The gate is opened for the revision
under rollout (status.lastAppliedSpec).

When the Canary waits at a gate, approve then follows it by watch until the controller goes on
(its next gate check, within one analysis interval) and prints what it did; with --rollback,
until it is rolled back. Give --signing-key-file when the load tester requires signed calls
(the key Siskin signs its webhooks with).`,
		Example: `  kubectl siskin approve podinfo -n test
  kubectl siskin approve podinfo -n test --rollback
  kubectl siskin close podinfo -n test
  kubectl siskin approve podinfo -n test --signing-key-file ./webhook-key`,
		Args:              exactArgs(1, "the name of a Canary"),
		ValidArgsFunction: completeCanaries(o),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.Client()
			if err != nil {
				return err
			}
			ns, err := o.Namespace()
			if err != nil {
				return err
			}
			var key []byte
			if keyFile != "" {
				raw, err := os.ReadFile(keyFile) //nolint:gosec // the user names the key file
				if err != nil {
					return fmt.Errorf("read signing key: %w", err)
				}
				key = webhooks.NormalizeKey(raw)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			k := client.ObjectKey{Namespace: ns, Name: args[0]}
			cn, err := getCanary(ctx, c, k)
			if err != nil {
				return err
			}
			calls, err := gateCalls(cn, rollback, open)
			if err != nil {
				return exitf(ExitUsage, "%w", err)
			}
			send := func(ctx context.Context, call gateCall, body []byte) (int, string, error) {
				return sendDirect(ctx, call, body, key, o.now())
			}
			if !direct {
				cfg, err := o.Config()
				if err != nil {
					return err
				}
				cs, err := kubernetes.NewForConfig(cfg)
				if err != nil {
					return fmt.Errorf("create client: %w", err)
				}
				send = func(ctx context.Context, call gateCall, body []byte) (int, string, error) {
					return sendProxied(ctx, cs, call, body, key, o.now())
				}
			}
			body, err := gateBody(cn)
			if err != nil {
				return err
			}
			for _, call := range calls {
				code, answer, err := send(ctx, call, body)
				if err != nil {
					return fmt.Errorf("call %s%s: %w", call.base, call.path, err)
				}
				if code < 200 || code > 299 {
					return fmt.Errorf("load tester %s%s answered %d: %s", call.base, call.path, code, answer)
				}
				_, _ = fmt.Fprintf(o.Streams.Out, "canary %s: %s%s answered %d: %s\n", k, call.base, call.path, code, strings.TrimSpace(answer))
			}
			if !open || noWait {
				return nil
			}
			return waitGateAck(ctx, c, k, rollback, o.Streams.Out)
		},
	}
	cmd.Flags().BoolVar(&rollback, "rollback", false, "the rollback gate instead of the promotion gate")
	cmd.Flags().StringVar(&keyFile, "signing-key-file", "", "file holding the key to sign the call with (X-Siskin-Signature-V2)")
	cmd.Flags().BoolVar(&direct, "direct", false, "call the webhook URL directly instead of through the API server's service proxy")
	if open {
		cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the controller to go on")
		cmd.Flags().BoolVar(&noWait, "no-wait", false, "open the gate and return without waiting for the controller")
	} else {
		cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long the call may take")
	}
	return cmd
}

// gateCalls are the load tester calls that open (or close) the gates cn's webhooks check.
func gateCalls(cn *siskinv1.Canary, rollback, open bool) ([]gateCall, error) {
	kind, types := "gate", []siskinv1.WebhookType{siskinv1.ConfirmRolloutHook, siskinv1.ConfirmTrafficIncreaseHook, siskinv1.ConfirmPromotionHook}
	if rollback {
		kind, types = "rollback", []siskinv1.WebhookType{siskinv1.RollbackHook}
	}
	action := "close"
	if open {
		action = "open"
	}
	var (
		calls []gateCall
		seen  = map[string]bool{}
	)
	if cn.Spec.Analysis != nil {
		for _, h := range webhooks.OfType(cn.Spec.Analysis.Webhooks, types...) {
			u, err := url.Parse(h.URL)
			if err != nil || !strings.HasSuffix(u.Path, "/"+kind+"/check") {
				continue
			}
			base := *u
			base.Path, base.RawQuery = strings.TrimSuffix(u.Path, "/"+kind+"/check"), ""
			if seen[base.String()] {
				continue
			}
			seen[base.String()] = true
			calls = append(calls, gateCall{base: &base, path: "/" + kind + "/" + action})
		}
	}
	if len(calls) == 0 {
		return nil, fmt.Errorf("canary %s/%s has no %s webhook checking a load tester's /%s/check", cn.Namespace, cn.Name, strings.Join(typeNames(types), ", "), kind)
	}
	return calls, nil
}

func typeNames(types []siskinv1.WebhookType) []string {
	out := make([]string, len(types))
	for i, t := range types {
		out[i] = string(t)
	}
	return out
}

// gateBody is the load tester payload for cn: the revision under rollout when there is one,
// else none (the revision that last reached the gate).
func gateBody(cn *siskinv1.Canary) ([]byte, error) {
	p := webhooks.Payload{Name: cn.Name, Namespace: cn.Namespace, Phase: cn.Status.Phase}
	switch cn.Status.Phase {
	case siskinv1.PhaseWaiting, siskinv1.PhaseProgressing, siskinv1.PhaseWaitingPromotion:
		p.Checksum = cn.Status.LastAppliedSpec
	}
	return json.Marshal(p)
}

// sendDirect POSTs body to the load tester URL itself.
func sendDirect(ctx context.Context, call gateCall, body, key []byte, now time.Time) (int, string, error) {
	u := *call.base
	u.Path = strings.TrimSuffix(u.Path, "/") + call.path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != nil {
		req.Header.Set(webhooks.SignatureV2Header, webhooks.SignRequest(key, now, http.MethodPost, u.RequestURI(), body))
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxGateAnswer))
	return resp.StatusCode, string(answer), err
}

// sendProxied POSTs body to the load tester through the API server's proxy to its Service,
// named by the host of the URL: <service>.<namespace>[.svc[.<cluster domain>]].
func sendProxied(ctx context.Context, cs kubernetes.Interface, call gateCall, body, key []byte, now time.Time) (int, string, error) {
	host, port := call.base.Hostname(), call.base.Port()
	parts := strings.Split(host, ".")
	if len(parts) < 2 || net.ParseIP(host) != nil || (len(parts) > 2 && parts[2] != "svc") {
		return 0, "", fmt.Errorf("host %s does not name a Service as <service>.<namespace>: use --direct to call it as it is", host)
	}
	if port == "" {
		port = "80"
		if call.base.Scheme == "https" {
			port = "443"
		}
	}
	path := strings.TrimSuffix(call.base.Path, "/") + call.path
	req := cs.CoreV1().RESTClient().Post().
		Namespace(parts[1]).Resource("services").
		Name(call.base.Scheme+":"+parts[0]+":"+port).
		SubResource("proxy").Suffix(path).
		SetHeader("Content-Type", "application/json").
		Body(body)
	if key != nil {
		req = req.SetHeader(webhooks.SignatureV2Header, webhooks.SignRequest(key, now, http.MethodPost, path, body))
	}
	var code int
	raw, err := req.Do(ctx).StatusCode(&code).Raw()
	if err != nil && code == 0 {
		return 0, "", err
	}
	// A load tester's refusal (403, 409) comes back as an error with its answer.
	if len(raw) > maxGateAnswer {
		raw = raw[:maxGateAnswer]
	}
	return code, string(raw), nil
}

// gateWaitReasons are the Ready reasons of a Canary waiting at a gate.
var gateWaitReasons = []string{siskinv1.ReasonWaitingForApproval, siskinv1.ReasonWaitingForTrafficIncrease, siskinv1.ReasonWaitingForPromotion}

// waitGateAck follows Canary key until the controller goes on past the gate it waits at (or,
// for the rollback gate, rolls it back), and says what it did.
func waitGateAck(ctx context.Context, c client.WithWatch, key client.ObjectKey, rollback bool, out io.Writer) error {
	var (
		waited bool
		first  = true
	)
	err := followCanary(ctx, c, key, func(cn *siskinv1.Canary) error {
		ready := apimeta.FindStatusCondition(cn.Status.Conditions, siskinv1.ConditionReady)
		atGate := ready != nil && slices.Contains(gateWaitReasons, ready.Reason)
		defer func() { first = false }()
		switch {
		case rollback && cn.Status.Phase == siskinv1.PhaseFailed:
			_, _ = fmt.Fprintf(out, "canary %s: rolled back: %s\n", key, readyMessage(cn))
			return errStop
		case rollback:
			return nil
		case first && !atGate:
			_, _ = fmt.Fprintf(out, "canary %s does not wait at a gate now (%s); the gate stays open for this revision\n", key, describeReady(cn))
			return errStop
		case atGate:
			waited = true
			return nil
		case waited || !first:
			_, _ = fmt.Fprintf(out, "canary %s went on: %s\n", key, describeReady(cn))
			return errStop
		}
		return nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return exitf(ExitTimeout, "canary %s still waits after the gate was opened: the controller checks a closed gate once per analysis interval; is it running?", key)
	}
	return err
}
