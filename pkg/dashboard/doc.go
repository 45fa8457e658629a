// Package dashboard serves Siskin's web dashboard: a fleet page listing every Canary with its
// phase, weight and health, and a page per Canary with the timeline of its rollout, a chart of
// each metric against its bounds per step and of the traffic split over time, the evidence of
// the canary-versus-control comparison, the tree of objects the Canary owns, and buttons that
// set the manual-control annotations the controller honours (siskin.dev/promote, abort, retry,
// pause, resume). A rollout paused to ask a person (status.advice) gets a banner whose answers
// are those same actions.
//
// The page updates from one Server-Sent Events stream per browser tab, fed by a watch on
// Canaries and their Events; the browser never polls. What a chart shows beyond the last step
// recorded in status is kept in memory from the watch, since the server started.
//
// It runs in one of two modes:
//
//   - Local (kubectl siskin dashboard): served on loopback and acting with the user's own
//     kubeconfig, so a person sees and does what their RBAC allows. A per-run token in the
//     printed URL becomes an HttpOnly, SameSite=Strict cookie; every request must carry it and
//     name an allowed Host (no DNS rebinding), and an action must also come from the page's own
//     Origin with the page's CSRF token in a header.
//   - In-cluster (cmd/siskin-dashboard, off by default in the chart): the caller presents a
//     Kubernetes bearer token (header, or a cookie set by the login form), checked by a
//     TokenReview; every read and every action is authorised by a SubjectAccessReview as the
//     caller, and only then done with the dashboard's own service account.
package dashboard
