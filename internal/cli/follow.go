package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// errStop ends a follow without an error.
var errStop = errors.New("stop following")

// follow lists the objects of list (with opts) and then watches them from the list's
// resourceVersion, calling fn with each object: first for every listed object (as an Added
// event), then for every watch event. When the watch ends (the server closes it, or the
// resourceVersion expired), it lists and watches again, so fn may see an object twice. It
// returns nil when fn returns errStop, fn's other errors as they are, and ctx's error when ctx
// ends.
func follow(ctx context.Context, c client.WithWatch, list client.ObjectList, opts client.ListOptions, fn func(watch.EventType, client.Object) error) error {
	for {
		if err := c.List(ctx, list, &opts); err != nil {
			return err
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return err
		}
		for _, it := range items {
			if obj, ok := it.(client.Object); ok {
				if err := fn(watch.Added, obj); err != nil {
					return stopped(err)
				}
			}
		}
		rv := list.GetResourceVersion()
		wopts := opts
		wopts.Raw = &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}
		w, err := c.Watch(ctx, list, &wopts)
		if err != nil {
			return err
		}
		err = drain(ctx, w, fn)
		w.Stop()
		if err != nil || ctx.Err() != nil {
			if err == nil {
				err = ctx.Err()
			}
			return stopped(err)
		}
	}
}

// drain passes the events of w to fn until w ends (nil) or fn or ctx stops it.
func drain(ctx context.Context, w watch.Interface, fn func(watch.EventType, client.Object) error) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			switch ev.Type {
			case watch.Bookmark:
				continue
			case watch.Error:
				// Usually 410 Gone: the resourceVersion expired; list again.
				return nil
			}
			obj, ok := ev.Object.(client.Object)
			if !ok {
				continue
			}
			if err := fn(ev.Type, obj); err != nil {
				return err
			}
		}
	}
}

func stopped(err error) error {
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// followCanary calls fn with the Canary key each time it changes. A deleted Canary ends the
// follow with an error.
func followCanary(ctx context.Context, c client.WithWatch, key client.ObjectKey, fn func(*siskinv1.Canary) error) error {
	seen := false
	err := follow(ctx, c, &siskinv1.CanaryList{}, client.ListOptions{
		Namespace:     key.Namespace,
		FieldSelector: fields.OneTermEqualSelector("metadata.name", key.Name),
	}, func(t watch.EventType, obj client.Object) error {
		cn, ok := obj.(*siskinv1.Canary)
		if !ok {
			return nil
		}
		if t == watch.Deleted {
			return fmt.Errorf("canary %s was deleted", key)
		}
		seen = true
		return fn(cn)
	})
	if err == nil && !seen {
		return apierrors.NewNotFound(siskinv1.GroupVersion.WithResource("canaries").GroupResource(), key.Name)
	}
	return err
}

// getCanary reads one Canary, with a message that names it when it is missing.
func getCanary(ctx context.Context, c client.Reader, key client.ObjectKey) (*siskinv1.Canary, error) {
	cn := &siskinv1.Canary{}
	if err := c.Get(ctx, key, cn); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("canary %s not found", key)
		}
		return nil, fmt.Errorf("get canary %s: %w", key, err)
	}
	return cn, nil
}

// canaryEvents lists the events about Canary cn, oldest first.
func canaryEvents(ctx context.Context, c client.Reader, cn *siskinv1.Canary) ([]eventsv1.Event, error) {
	list := &eventsv1.EventList{}
	opts := eventsAbout(cn)
	if err := c.List(ctx, list, &opts); err != nil {
		return nil, fmt.Errorf("list events of canary %s/%s: %w", cn.Namespace, cn.Name, err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if about(&e, cn) {
			out = append(out, e)
		}
	}
	sortEvents(out)
	return out, nil
}

// eventsAbout selects the events about Canary cn on the server; about checks the rest.
func eventsAbout(cn *siskinv1.Canary) client.ListOptions {
	return client.ListOptions{
		Namespace: cn.Namespace,
		FieldSelector: fields.AndSelectors(
			fields.OneTermEqualSelector("regarding.kind", "Canary"),
			fields.OneTermEqualSelector("regarding.name", cn.Name),
		),
	}
}

// about reports whether event e is about Canary cn.
func about(e *eventsv1.Event, cn *siskinv1.Canary) bool {
	r := e.Regarding
	return r.Kind == "Canary" && r.Name == cn.Name && (r.UID == "" || r.UID == cn.UID) &&
		strings.HasPrefix(r.APIVersion, siskinv1.GroupVersion.Group+"/")
}

// sortEvents sorts events oldest first.
func sortEvents(events []eventsv1.Event) {
	sort.SliceStable(events, func(i, j int) bool { return eventTime(&events[i]).Before(eventTime(&events[j])) })
}

// eventTime is when an event last happened.
func eventTime(e *eventsv1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.DeprecatedLastTimestamp.IsZero():
		return e.DeprecatedLastTimestamp.Time
	}
	return e.CreationTimestamp.Time
}
