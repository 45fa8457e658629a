package framework

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// pollInterval is how often waits look again.
const pollInterval = 250 * time.Millisecond

// Eventually calls cond until it returns true, an error, or timeout passes. It returns an error
// naming what was awaited when the time is up.
func Eventually(ctx context.Context, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := cond(ctx)
		if ok && err == nil {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("timed out after %s waiting for %s (last error: %w)", timeout, what, last)
			}
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		case <-time.After(pollInterval):
		}
	}
}

// WaitCanary waits until cond holds for the Canary ns/name. On timeout the error carries a
// diagnosis: the Canary's status, the live route, the Deployments, the namespace's events and
// the tail of the controller's log (ctrl may be nil).
func (e *Env) WaitCanary(ctx context.Context, ns, name string, timeout time.Duration, what string, ctrl *Controller, cond func(*siskinv1.Canary) bool) (*siskinv1.Canary, error) {
	var last *siskinv1.Canary
	err := Eventually(ctx, timeout, fmt.Sprintf("Canary %s/%s: %s", ns, name, what), func(ctx context.Context) (bool, error) {
		c, err := e.GetCanary(ctx, ns, name)
		if err != nil {
			return false, err
		}
		last = c
		return cond(c), nil
	})
	if err != nil {
		// The error is said again after the diagnosis: the end of a long log is what a CI
		// summary shows.
		return last, fmt.Errorf("%w\n%s\nfailed: %s", err, e.Diagnose(ctx, ns, name, ctrl), err.Error())
	}
	return last, nil
}

// WaitPhase waits until the Canary reaches one of the phases.
func (e *Env) WaitPhase(ctx context.Context, ns, name string, timeout time.Duration, ctrl *Controller, phases ...siskinv1.CanaryPhase) (*siskinv1.Canary, error) {
	names := make([]string, len(phases))
	for i, p := range phases {
		names[i] = string(p)
	}
	return e.WaitCanary(ctx, ns, name, timeout, "phase "+strings.Join(names, " or "), ctrl, func(c *siskinv1.Canary) bool {
		for _, p := range phases {
			if c.Status.Phase == p {
				return true
			}
		}
		return false
	})
}

// Diagnose describes the state of the Canary ns/name and what surrounds it, for a failure
// message.
func (e *Env) Diagnose(ctx context.Context, ns, name string, ctrl *Controller) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	var b strings.Builder
	b.WriteString("==== diagnosis of Canary " + ns + "/" + name + " ====\n")
	c, err := e.GetCanary(ctx, ns, name)
	provider := ""
	if err != nil {
		fmt.Fprintf(&b, "canary: %v\n", err)
	} else {
		provider = c.Spec.Provider
		st := c.Status
		for i := range st.LastChecks {
			st.LastChecks[i].Query = "" // long and deducible from the metric name
		}
		y, _ := yaml.Marshal(st)
		fmt.Fprintf(&b, "-- status (annotations %v):\n%s", c.Annotations, y)
	}
	if provider != "" {
		if r, err := e.Route(ctx, provider, ns, name); err != nil {
			fmt.Fprintf(&b, "-- route: %v\n", err)
		} else {
			fmt.Fprintf(&b, "-- route: %s\n", r)
		}
	}
	var ds appsv1.DeploymentList
	if err := e.Client.List(ctx, &ds, client.InNamespace(ns)); err == nil {
		b.WriteString("-- deployments:\n")
		for _, d := range ds.Items {
			env := ""
			if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
				for _, v := range cs[0].Env {
					env += " " + v.Name + "=" + v.Value
				}
			}
			fmt.Fprintf(&b, "   %s replicas=%d ready=%d updated=%d env:%s\n", d.Name, ptrVal(d.Spec.Replicas), d.Status.ReadyReplicas, d.Status.UpdatedReplicas, env)
		}
	}
	var dss appsv1.DaemonSetList
	if err := e.Client.List(ctx, &dss, client.InNamespace(ns)); err == nil && len(dss.Items) > 0 {
		b.WriteString("-- daemonsets:\n")
		for _, d := range dss.Items {
			fmt.Fprintf(&b, "   %s desired=%d ready=%d updated=%d nodeSelector=%v env:%s\n", d.Name, d.Status.DesiredNumberScheduled, d.Status.NumberReady,
				d.Status.UpdatedNumberScheduled, d.Spec.Template.Spec.NodeSelector, containerEnv(d.Spec.Template.Spec.Containers))
		}
	}
	var sts appsv1.StatefulSetList
	if err := e.Client.List(ctx, &sts, client.InNamespace(ns)); err == nil && len(sts.Items) > 0 {
		b.WriteString("-- statefulsets:\n")
		for _, s := range sts.Items {
			partition := "unset"
			if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
				partition = fmt.Sprint(*ru.Partition)
			}
			fmt.Fprintf(&b, "   %s replicas=%d ready=%d updated=%d partition=%s currentRevision=%s updateRevision=%s env:%s\n", s.Name, ptrVal(s.Spec.Replicas),
				s.Status.ReadyReplicas, s.Status.UpdatedReplicas, partition, s.Status.CurrentRevision, s.Status.UpdateRevision, containerEnv(s.Spec.Template.Spec.Containers))
		}
	}
	var evs corev1.EventList
	if err := e.Client.List(ctx, &evs, client.InNamespace(ns)); err == nil {
		sort.Slice(evs.Items, func(i, j int) bool { return eventTime(evs.Items[i]).Before(eventTime(evs.Items[j])) })
		items := evs.Items
		var kept []corev1.Event
		for _, ev := range items {
			if ev.InvolvedObject.Kind == "Canary" || ev.Type == corev1.EventTypeWarning {
				kept = append(kept, ev)
			}
		}
		if len(kept) > 30 {
			kept = kept[len(kept)-30:]
		}
		b.WriteString("-- events (Canary and warnings):\n")
		for _, ev := range kept {
			fmt.Fprintf(&b, "   %s %-7s %-26s %s/%s: %s\n", eventTime(ev).Format("15:04:05"), ev.Type, ev.Reason, ev.InvolvedObject.Kind, ev.InvolvedObject.Name, ev.Message)
		}
	}
	if ctrl != nil {
		fmt.Fprintf(&b, "-- controller log (%s), last 40 lines:\n%s\n", ctrl.LogFile(), ctrl.LogTail(40))
	}
	b.WriteString("==== end of diagnosis ====")
	return b.String()
}

func eventTime(ev corev1.Event) time.Time {
	switch {
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	default:
		return ev.CreationTimestamp.Time
	}
}

// containerEnv renders the environment of the first container.
func containerEnv(cs []corev1.Container) string {
	env := ""
	if len(cs) > 0 {
		for _, v := range cs[0].Env {
			env += " " + v.Name + "=" + v.Value
		}
	}
	return env
}

func ptrVal(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
