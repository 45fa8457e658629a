//go:build e2eshards

package shards

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
	"github.com/siskin-dev/siskin/pkg/shard"
)

const (
	fleet    = 300
	replicas = 3
	// stepWeight 25 up to 75: the weights 25, 50 and 75, then promotion.
	stepWeight = 25
	maxWeight  = 75
	// leaseDuration is --shard-lease-duration: a killed replica's shard is taken over within it.
	leaseDuration = 6 * time.Second
	revisionKey   = "shards.siskin.dev/revision"
)

// TestFleetChangeSurvivesAKilledReplica is the scenario of the package doc.
func TestFleetChangeSurvivesAKilledReplica(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	env := up(t)
	ns := "shards-" + strconv.FormatInt(time.Now().Unix()%(36*36*36), 36)
	if err := env.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	names := make([]string, fleet)
	for i := range names {
		names[i] = fmt.Sprintf("app-%04d", i)
	}
	t.Logf("creating %d Deployments and Canaries in %s (load %s)", fleet, ns, loadavg())
	parallel(t, names, func(name string) error { return env.Client.Create(ctx, deployment(ns, name)) })
	parallel(t, names, func(name string) error { return env.Client.Create(ctx, canary(ns, name)) })

	logs := t.TempDir()
	if dir := os.Getenv("E2E_SHARDS_LOGS"); dir != "" {
		logs = dir
	}
	ctrls := make([]*framework.Controller, replicas)
	for i := range ctrls {
		c, err := env.StartController(ctx, framework.ControllerOptions{
			LogFile:    filepath.Join(logs, fmt.Sprintf("siskin-%d.log", i)),
			Provider:   siskinv1.ProviderIstio,
			Namespaces: []string{ns},
			Args: []string{
				"--shards", strconv.Itoa(replicas), "--shard-index", strconv.Itoa(i),
				"--shard-lease-duration", leaseDuration.String(),
				"--leader-election-namespace", ns, "--leader-election-id", "siskin",
				"--log-level", "debug", "--log-encoding", "json",
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		ctrls[i] = c
		t.Cleanup(func() { _ = c.Stop() })
	}
	t.Logf("controllers' logs in %s", logs)

	phase := func(p siskinv1.CanaryPhase) func(*siskinv1.Canary) bool {
		return func(c *siskinv1.Canary) bool { return c.Status.Phase == p }
	}
	waitAll(t, env, ns, "Initialized", 10*time.Minute, phase(siskinv1.PhaseInitialized))
	t.Logf("fleet initialized after %s (load %s)", time.Since(start).Round(time.Second), loadavg())

	// The fleet-wide change: a new revision of every Deployment.
	changed := time.Now()
	parallel(t, names, func(name string) error {
		body := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{%q:"1"}}}}}`, revisionKey)
		return env.Client.Patch(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}},
			client.RawPatch(types.StrategicMergePatchType, body))
	})
	// Mid-change: once a third of the fleet has moved weight, the replica preferring shard 1
	// dies at once.
	waitAll(t, env, ns, "a third of the fleet progressing", 10*time.Minute, func(c *siskinv1.Canary) bool { return true },
		withQuorum(fleet/3, func(c *siskinv1.Canary) bool {
			return c.Status.CanaryWeight > 0 || c.Status.Phase == siskinv1.PhaseSucceeded
		}))
	const victim = 1
	killed := time.Now()
	ctrls[victim].Kill()
	t.Logf("killed replica %d %s after the change (load %s)", victim, killed.Sub(changed).Round(time.Second), loadavg())

	waitAll(t, env, ns, "Succeeded", 20*time.Minute, phase(siskinv1.PhaseSucceeded))
	t.Logf("every rollout Succeeded %s after the change (load %s)", time.Since(changed).Round(time.Second), loadavg())

	victims := checkLogs(t, ns, names, logs, victim, killed)
	checkEvents(t, env, ns, names, victims)
	for i, c := range ctrls {
		if i == victim {
			continue
		}
		if exited, err := c.Exited(); exited {
			t.Errorf("replica %d exited during the scenario: %v", i, err)
		}
	}
	t.Logf("scenario took %s (load %s)", time.Since(start).Round(time.Second), loadavg())
}

// up brings an environment of its own up, or attaches to E2E_STATE_DIR's.
func up(t *testing.T) *framework.Env {
	t.Helper()
	if dir := os.Getenv("E2E_STATE_DIR"); dir != "" {
		env, err := framework.Attach(dir)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	env, err := framework.Up(context.Background(), framework.UpOptions{
		StateDir: cmp.Or(os.Getenv("E2E_STATE_ROOT"), ".state/e2e-shards"), Progress: os.Stdout,
	})
	if os.Getenv("E2E_KEEP") == "" {
		t.Cleanup(func() { _ = env.Down(context.Background(), os.Stdout) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// deployment is a one-replica app whose pods kwok runs (no test app behind them).
func deployment(ns, name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      map[string]string{"app": name, "siskin.dev/testapp": "false"},
					Annotations: map[string]string{revisionKey: "0"},
				},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "ghcr.io/stefanprodan/podinfo:6.0.0",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9898}},
				}}},
			},
		},
	}
}

// canary shifts weight in steps without metrics or webhooks: what is judged is the controllers.
func canary(ns, name string) *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: siskinv1.CanarySpec{
			Provider:  siskinv1.ProviderIstio,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			Service:   siskinv1.CanaryService{Port: 9898},
			Analysis: &siskinv1.CanaryAnalysis{
				Interval: "10s", Threshold: 5, StepWeight: stepWeight, MaxWeight: ptr.To[int32](maxWeight),
			},
		},
	}
}

// parallel runs fn for every name, sixteen at once.
func parallel(t *testing.T, names []string, fn func(name string) error) {
	t.Helper()
	work := make(chan string)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range 16 {
		wg.Go(func() {
			for name := range work {
				if err := fn(name); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", name, err))
					mu.Unlock()
				}
			}
		})
	}
	for _, n := range names {
		work <- n
	}
	close(work)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d failed, the first: %v", len(errs), errs[0])
	}
}

type waitOpt struct {
	quorum int
	cond   func(*siskinv1.Canary) bool
}

func withQuorum(n int, cond func(*siskinv1.Canary) bool) *waitOpt {
	return &waitOpt{quorum: n, cond: cond}
}

// waitAll lists the namespace's Canaries every two seconds until cond holds for all of them
// (or, with a quorum, until q.cond holds for q.quorum of them), and names the laggards on
// timeout.
func waitAll(t *testing.T, env *framework.Env, ns, what string, timeout time.Duration, cond func(*siskinv1.Canary) bool, q ...*waitOpt) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := time.Now()
	for {
		list := &siskinv1.CanaryList{}
		if err := env.Client.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			t.Fatalf("list canaries: %v", err)
		}
		var behind []string
		done := 0
		for i := range list.Items {
			c := &list.Items[i]
			if cond(c) && (len(q) == 0 || q[0].cond(c)) {
				done++
			} else {
				behind = append(behind, fmt.Sprintf("%s (phase %s, weight %d)", c.Name, c.Status.Phase, c.Status.CanaryWeight))
			}
		}
		want := fleet
		if len(q) > 0 {
			want = q[0].quorum
		}
		if len(list.Items) == fleet && done >= want {
			return
		}
		if time.Now().After(deadline) {
			sort.Strings(behind)
			t.Fatalf("%s: %d/%d after %s; behind: %s", what, done, want, timeout, strings.Join(behind[:min(20, len(behind))], ", "))
		}
		if time.Since(last) > 30*time.Second {
			t.Logf("%s: %d/%d (load %s)", what, done, want, loadavg())
			last = time.Now()
		}
		time.Sleep(2 * time.Second)
	}
}

// checkEvents: each weight step and the promotion of every Canary was announced once. A step
// planned twice (by two replicas, or twice by one) shows as a second event or as a series.
// A Canary the killed replica acted on, or whose round was cut short when its replica's tenure
// lapsed, may miss the event of that step: events are sent after the round's status and
// actions, and the kill or the cancelled write can come in between (the step itself is in the
// status, and the next round goes on from it).
func checkEvents(t *testing.T, env *framework.Env, ns string, names []string, victims map[string]bool) {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := env.Client.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatalf("list events: %v", err)
	}
	// canary → "<reason> <note without the revision>" → occurrences
	seen := map[string]map[string]int{}
	lost := 0
	defer func() { t.Logf("%d step events lost with the killed replica", lost) }()
	for _, e := range list.Items {
		if e.Regarding.Kind != siskinv1.CanaryKind {
			continue
		}
		n := 1
		if e.Series != nil {
			n = int(e.Series.Count)
		}
		n = max(n, int(e.DeprecatedCount))
		note := e.Note
		if _, rest, ok := strings.Cut(note, ": "); ok && strings.HasPrefix(note, "revision ") {
			note = rest // "revision <fingerprint>: canary weight increased to ..."
		}
		if seen[e.Regarding.Name] == nil {
			seen[e.Regarding.Name] = map[string]int{}
		}
		seen[e.Regarding.Name][e.Reason+" "+note] += n
	}
	for _, name := range names {
		var want []string
		for w := stepWeight; w <= maxWeight; w += stepWeight {
			want = append(want, fmt.Sprintf("%s canary weight increased to %d%% (promotion at %d%%)", siskinv1.ReasonStepWeightIncreased, w, maxWeight))
		}
		missing := 0
		for _, w := range want {
			switch got := seen[name][w]; {
			case got == 0 && victims[name]:
				missing++
			case got != 1:
				t.Errorf("%s: %q announced %d times, want once", name, w, got)
			}
		}
		if missing > 1 {
			t.Errorf("%s: %d weight steps not announced; the kill can take the event of one", name, missing)
		}
		lost += missing
		for _, reason := range []string{siskinv1.ReasonStepWeightIncreased, siskinv1.ReasonPromotionStarted, siskinv1.ReasonPromotionCompleted} {
			total := 0
			for k, n := range seen[name] {
				if strings.HasPrefix(k, reason+" ") {
					total += n
				}
			}
			wantN := 1
			if reason == siskinv1.ReasonStepWeightIncreased {
				wantN = len(want) - missing
			}
			if total != wantN {
				t.Errorf("%s: %d %s events, want %d: %v", name, total, reason, wantN, seen[name])
			}
		}
	}
}

// logLine is what checkLogs reads of the controllers' JSON log.
type logLine struct {
	TS     float64 `json:"ts"`
	Msg    string  `json:"msg"`
	Error  string  `json:"error"`
	Canary struct {
		Name string `json:"name"`
	} `json:"Canary"`
}

// checkLogs: every action on a Canary was done by one replica, except that the Canaries of
// the killed replica's shard moved once, after the kill, to one other replica.
func checkLogs(t *testing.T, ns string, names []string, dir string, victim int, killed time.Time) (victims map[string]bool) {
	t.Helper()
	type act struct {
		at      time.Time
		replica int
	}
	acts := map[string][]act{}
	victims = map[string]bool{}
	for i := range replicas {
		f, err := os.Open(filepath.Join(dir, fmt.Sprintf("siskin-%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l logLine
			if json.Unmarshal(sc.Bytes(), &l) != nil || l.Canary.Name == "" {
				continue
			}
			if l.Msg == "Reconciler error" && strings.Contains(l.Error, "context canceled") {
				// A round cut short when its replica stopped holding the shard: its status
				// write may or may not have been applied, and its events were not sent.
				victims[l.Canary.Name] = true
				continue
			}
			if l.Msg != "action done" {
				continue
			}
			sec := int64(l.TS)
			acts[l.Canary.Name] = append(acts[l.Canary.Name], act{time.Unix(sec, int64((l.TS-float64(sec))*1e9)), i})
		}
		_ = f.Close()
	}
	moved := 0
	for _, name := range names {
		a := acts[name]
		if len(a) == 0 {
			t.Errorf("%s: no action logged", name)
			continue
		}
		sort.Slice(a, func(i, j int) bool { return a[i].at.Before(a[j].at) })
		first := a[0].replica
		victims[name] = victims[name] || first == victim
		for _, x := range a[1:] {
			if x.replica == first {
				continue
			}
			// The only hand-over allowed: from the killed replica, after the kill, to one other.
			if first != victim || x.at.Before(killed) {
				t.Errorf("%s: acted on by replica %d and then by replica %d at %s (kill at %s)", name, first, x.replica, x.at.Format(time.RFC3339Nano), killed.Format(time.RFC3339Nano))
				break
			}
			for _, y := range a {
				if y.replica != first && y.replica != x.replica {
					t.Errorf("%s: acted on by three replicas", name)
				}
				if y.replica == first && y.at.After(killed) {
					t.Errorf("%s: the killed replica acted at %s, after the kill", name, y.at.Format(time.RFC3339Nano))
				}
			}
			moved++
			break
		}
		if s, _ := shard.Of(ns, name, nil, replicas); s != first && first != victim {
			t.Logf("%s: shard %d acted on first by replica %d (a shard is only preferred)", name, s, first)
		}
	}
	t.Logf("%d Canaries moved from the killed replica to another", moved)
	if moved == 0 {
		t.Error("no Canary moved from the killed replica: it was killed after its shard's rollouts, or they were not taken over")
	}
	return victims
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
