// Package ingresscopy is the router of the providers whose ingress controller splits traffic
// by a second Ingress: a copy of the user's Ingress (spec.ingressRef), named
// <ingress>-canary, which routes the paths of the user's Ingress that go to the apex Service
// to the canary (and, for some controllers, the primary) and carries the weights in the
// controller's annotations. The user's Ingress is read and never changed.
//
// The Router does what is the same for every such controller: it reads the user's Ingress and
// the live copy, owns the copy it creates (controller reference to the Canary plus the
// siskin.dev/canary annotation) and never overwrites an Ingress of that name that Siskin did
// not create, writes the copy with one create or one patch (none when it already matches),
// reports it converged only when it equals what it would write for the weights it carries,
// and deletes it on Finalize: the user's Ingress still carries the host and routes everything
// to the apex Service. A Controller (provider nginx, skipper) says how the copy routes a
// desired route and how its weights are read back.
package ingresscopy
