package install

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/siskin-dev/siskin/internal/testenv"
)

// The ClusterRole that controller-gen writes from the +kubebuilder:rbac markers grants exactly
// what the controller's code calls: every write verb is one that some client call makes, and
// every kind it may get, list and watch is one that the code reads or watches. A marker that
// grants more (a delete nobody calls, a kind nobody reads) fails this test, and so does a
// client call that the role does not grant.
//
// The uses are found with go/ast in the non-test Go source of the repository's packages that
// the controller binary (cmd/siskin) is built from, as `go list -deps` names them, so the test
// needs no build of the controller; the kubectl plugin and the dashboard act with their user's
// own credentials, not the controller's Role, and are not counted. Its limits:
//
//   - A call is recognised by its method name and arguments: Create, Update, Patch, Delete and
//     DeleteAllOf (the object second), Get (third), List (second), and For, Owns and Watches
//     (first); X.Status().Patch and X.SubResource("scale").Update name a subresource. A method
//     of another type with the same name and an object of a Kubernetes kind would count too.
//   - The object's type is read from its declaration in the same function: a composite literal,
//     new(T), a parameter or variable of type T, x.DeepCopy(), &list.Items[i] of a T List. An
//     object of an interface type (client.Object) counts for every kind the same file names;
//     one whose type the test cannot tell, in a file naming no kind, is listed when the test
//     fails, and has to be made visible.
//   - Requests made by libraries rather than by a client call (events, owner references) are
//     listed in madeByLibraries, each with the reason it is needed.
//   - Server-side apply (client.Apply) is not recognised: the controller does not use it. An
//     unstructured object counts for the one kind the controller reads and writes that way,
//     KEDA's ScaledObject (unstructuredKind); a second such kind needs this test to tell them
//     apart.
func TestRoleGrantsOnlyWhatTheCodeCalls(t *testing.T) {
	kinds := kindsByType(t)
	used := map[grant][]string{}
	var unresolved []string
	controllerDirs := controllerPackageDirs(t)
	for _, dir := range []string{"internal", "pkg", "cmd/siskin"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				// testenv is test support: it installs CRDs, the controller never runs it.
				if d.Name() == "testdata" || d.Name() == "testenv" {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || !controllerDirs[filepath.Dir(path)] {
				return nil
			}
			u, err := scanFile(path, kinds)
			if err != nil {
				return err
			}
			for g, at := range u.grants {
				used[g] = append(used[g], at...)
			}
			unresolved = append(unresolved, u.unresolved...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for g, why := range madeByLibraries {
		used[g] = append(used[g], why)
	}

	var role rbacv1.ClusterRole
	decodeFile(t, "config/rbac/role.yaml", &role)
	granted := map[grant]bool{}
	for _, r := range role.Rules {
		for _, group := range r.APIGroups {
			for _, res := range r.Resources {
				for _, verb := range r.Verbs {
					granted[grant{group, res, verb}] = true
				}
			}
		}
	}

	// The shards' Leases live in the leader-election namespace, where the leader-election Role
	// (config/manager/rbac.yaml, and the chart's) grants them: a call it grants is not missing
	// from the ClusterRole, and the ClusterRole grants no Lease.
	data, err := os.ReadFile(filepath.Join(root, "config/manager/rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	election := one[rbacv1.Role](t, decode(t, string(data)), "Role", "siskin-system")
	inNamespace := map[grant]bool{}
	for _, r := range election.Rules {
		for _, group := range r.APIGroups {
			for _, res := range r.Resources {
				for _, verb := range r.Verbs {
					inNamespace[grant{group, res, verb}] = true
				}
			}
		}
	}

	var extra, missing []string
	for g := range granted {
		if _, ok := used[g]; !ok {
			extra = append(extra, g.String())
		}
	}
	for g, at := range used {
		if !granted[g] && (g.group != "coordination.k8s.io" || !inNamespace[g]) {
			missing = append(missing, fmt.Sprintf("%s (at %s)", g, strings.Join(at, ", ")))
		}
	}
	slices.Sort(extra)
	slices.Sort(missing)
	if len(extra) > 0 {
		t.Errorf("config/rbac/role.yaml grants what no code path uses; drop it from the +kubebuilder:rbac markers and run make manifests:\n  %s",
			strings.Join(extra, "\n  "))
	}
	if len(missing) > 0 {
		t.Errorf("the code calls what config/rbac/role.yaml (or, for Leases, the leader-election Role) does not grant; add it to the +kubebuilder:rbac markers:\n  %s",
			strings.Join(missing, "\n  "))
	}
	if t.Failed() && len(unresolved) > 0 {
		t.Logf("client calls whose object type the test could not tell (counted for nothing):\n  %s",
			strings.Join(unresolved, "\n  "))
	}
}

// madeByLibraries are the requests that no client call of Siskin's makes, and why each is
// needed.
var madeByLibraries = map[grant]string{
	{"events.k8s.io", "events", "create"}: "pkg/kubeevents creates events about Canaries through client-go's typed events client, which the test does not read",
	// metav1.NewControllerRef sets blockOwnerDeletion, which the OwnerReferencesPermissionEnforcement
	// admission plugin allows only to who may update the owner's finalizers.
	{"siskin.dev", "canaries/finalizers", "update"}: "owner references with blockOwnerDeletion on the objects made for a Canary",
}

// grant is one verb on one resource (or resource/subresource) of an API group.
type grant struct {
	group, resource, verb string
}

func (g grant) String() string {
	group := g.group
	if group == "" {
		group = "core"
	}
	return fmt.Sprintf("%s %s.%s", g.verb, g.resource, group)
}

// typeName is a named Go type: its package path and name.
type typeName struct {
	pkg, name string
}

// kindsByType maps the Go types of the kinds Siskin's scheme knows to their group and
// resource.
func kindsByType(t *testing.T) map[typeName]schema.GroupResource {
	t.Helper()
	s, err := testenv.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	out := map[typeName]schema.GroupResource{}
	for gvk, typ := range s.AllKnownTypes() {
		if gvk.Version == "__internal" || strings.HasSuffix(gvk.Kind, "List") || strings.HasSuffix(gvk.Kind, "Options") {
			continue
		}
		if typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		plural, _ := meta.UnsafeGuessKindToResource(gvk)
		out[typeName{typ.PkgPath(), typ.Name()}] = plural.GroupResource()
	}
	out[typeName{"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured", "Unstructured"}] = unstructuredKind
	return out
}

// unstructuredKind is the kind of every unstructured object of the controller: KEDA's
// ScaledObject, whose Go module Siskin does not depend on (pkg/target/keda.go).
var unstructuredKind = schema.GroupResource{Group: "keda.sh", Resource: "scaledobjects"}

// unstructuredGrants are the grants of files whose unstructured objects are not KEDA's
// (unstructuredKind): the calls of such a file are declared here rather than read.
var unstructuredGrants = map[string][]grant{
	// Provider traefik's TraefikServices are read through the cache, created and patched
	// (Finalize hands them back with a patch; nothing updates or deletes them).
	"pkg/router/traefik/router.go": {
		{"traefik.io", "traefikservices", "get"}, {"traefik.io", "traefikservices", "list"},
		{"traefik.io", "traefikservices", "watch"}, {"traefik.io", "traefikservices", "create"},
		{"traefik.io", "traefikservices", "patch"},
	},
	// Keptn's KeptnMetrics are read, its Analyses created, read and deleted.
	"pkg/metrics/keptn/keptn.go": {
		{"metrics.keptn.sh", "keptnmetrics", "get"}, {"metrics.keptn.sh", "keptnmetrics", "list"},
		{"metrics.keptn.sh", "analyses", "create"}, {"metrics.keptn.sh", "analyses", "get"},
		{"metrics.keptn.sh", "analyses", "delete"},
	},
}

// fileUses are the grants one file's calls need, each with the places that need it.
type fileUses struct {
	grants     map[grant][]string
	unresolved []string
}

// Verbs of the client's writes, by method name.
var writeVerbs = map[string]string{
	"Create": "create", "Update": "update", "Patch": "patch", "Delete": "delete", "DeleteAllOf": "deletecollection",
}

// readArg is the position of the object argument of the reading methods; a read or a watch
// needs get, list and watch alike, since it goes through the informer cache.
var readArg = map[string]int{"Get": 2, "List": 1, "For": 0, "Owns": 0, "Watches": 0}

func scanFile(path string, kinds map[typeName]schema.GroupResource) (fileUses, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return fileUses{}, err
	}
	results, err := packageResults(filepath.Dir(path), kinds)
	if err != nil {
		return fileUses{}, err
	}
	r := resolver{imports: importsOf(f), kinds: kinds, results: results}

	// The kinds the file names, for the objects of an interface type.
	named := map[schema.GroupResource]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if lit, ok := n.(*ast.CompositeLit); ok && lit.Type != nil {
			if gr, ok := r.kindOf(lit.Type); ok {
				named[gr] = true
			}
		}
		return true
	})

	u := fileUses{grants: map[grant][]string{}}
	rel, _ := filepath.Rel(root, path)
	if declared, ok := unstructuredGrants[filepath.ToSlash(rel)]; ok {
		for _, g := range declared {
			u.grants[g] = append(u.grants[g], filepath.ToSlash(rel))
		}
		return u, nil
	}
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		env := declarations(fn)
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			at := fmt.Sprintf("%s:%d", filepath.ToSlash(rel), fset.Position(call.Pos()).Line)
			method := sel.Sel.Name
			if verb, ok := writeVerbs[method]; ok && len(call.Args) >= 2 {
				sub := subresource(sel.X)
				grs := r.kindsOf(call.Args[1], env, 0)
				if len(grs) == 0 && !r.isKnownNonKind(call.Args[1], env) {
					for gr := range named {
						grs = append(grs, gr)
					}
				}
				if len(grs) == 0 {
					u.unresolved = append(u.unresolved, at)
				}
				for _, gr := range grs {
					g := grant{gr.Group, gr.Resource + sub, verb}
					u.grants[g] = append(u.grants[g], at)
				}
				return true
			}
			if i, ok := readArg[method]; ok && len(call.Args) > i {
				for _, gr := range r.kindsOf(call.Args[i], env, 0) {
					for _, verb := range []string{"get", "list", "watch"} {
						g := grant{gr.Group, gr.Resource, verb}
						u.grants[g] = append(u.grants[g], at)
					}
				}
			}
			return true
		})
	}
	return u, nil
}

func importsOf(f *ast.File) map[string]string {
	imports := map[string]string{}
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		name := p[strings.LastIndex(p, "/")+1:]
		if im.Name != nil {
			name = im.Name.Name
		}
		imports[name] = p
	}
	return imports
}

// resultsByDir caches packageResults.
var resultsByDir = map[string]map[string][]schema.GroupResource{}

// packageResults maps the functions and methods of the package in dir to the kind of their
// first result, when it is one. Methods of different types with one name share an entry.
func packageResults(dir string, kinds map[typeName]schema.GroupResource) (map[string][]schema.GroupResource, error) {
	if res, ok := resultsByDir[dir]; ok {
		return res, nil
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	res := map[string][]schema.GroupResource{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		r := resolver{imports: importsOf(f), kinds: kinds}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Type.Results == nil || len(fn.Type.Results.List) == 0 {
				continue
			}
			if gr, ok := r.kindOf(fn.Type.Results.List[0].Type); ok && !slices.Contains(res[fn.Name.Name], gr) {
				res[fn.Name.Name] = append(res[fn.Name.Name], gr)
			}
		}
	}
	resultsByDir[dir] = res
	return res, nil
}

// subresource is "/status" for X.Status(), "/<name>" for X.SubResource("<name>"), else "".
func subresource(x ast.Expr) string {
	call, ok := x.(*ast.CallExpr)
	if !ok {
		return ""
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	switch sel.Sel.Name {
	case "Status":
		return "/status"
	case "SubResource":
		if len(call.Args) == 1 {
			if lit, ok := call.Args[0].(*ast.BasicLit); ok {
				s, _ := strconv.Unquote(lit.Value)
				return "/" + s
			}
		}
	}
	return ""
}

// declarations maps each name declared in fn (parameters, variables, := and =) to the
// expressions that give it a value or a type. A name declared twice keeps both.
func declarations(fn *ast.FuncDecl) map[string][]ast.Expr {
	env := map[string][]ast.Expr{}
	fields := func(fl *ast.FieldList) {
		if fl == nil {
			return
		}
		for _, f := range fl.List {
			for _, n := range f.Names {
				env[n.Name] = append(env[n.Name], f.Type)
			}
		}
	}
	fields(fn.Recv)
	fields(fn.Type.Params)
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			if len(n.Rhs) == 1 && len(n.Lhs) > 1 {
				// x, err := f(): x is f's first result.
				if id, ok := n.Lhs[0].(*ast.Ident); ok {
					env[id.Name] = append(env[id.Name], n.Rhs[0])
				}
				return true
			}
			if len(n.Lhs) != len(n.Rhs) {
				return true
			}
			for i, l := range n.Lhs {
				if id, ok := l.(*ast.Ident); ok {
					env[id.Name] = append(env[id.Name], n.Rhs[i])
				}
			}
		case *ast.ValueSpec:
			for i, id := range n.Names {
				if n.Type != nil {
					env[id.Name] = append(env[id.Name], n.Type)
				} else if i < len(n.Values) {
					env[id.Name] = append(env[id.Name], n.Values[i])
				}
			}
		case *ast.FuncLit:
			fields(n.Type.Params)
		}
		return true
	})
	return env
}

// resolver tells the kinds of expressions in one file.
type resolver struct {
	imports map[string]string
	kinds   map[typeName]schema.GroupResource
	// results are the kinds that the functions and methods of the file's package return
	// first, by name.
	results map[string][]schema.GroupResource
}

// kindOf is the kind of a type expression: pkg.T, *pkg.T, or pkg.TList (the kind T).
func (r resolver) kindOf(typ ast.Expr) (schema.GroupResource, bool) {
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	sel, ok := typ.(*ast.SelectorExpr)
	if !ok {
		return schema.GroupResource{}, false
	}
	pkg, ok := sel.X.(*ast.Ident)
	if !ok {
		return schema.GroupResource{}, false
	}
	path := r.imports[pkg.Name]
	if gr, ok := r.kinds[typeName{path, sel.Sel.Name}]; ok {
		return gr, true
	}
	gr, ok := r.kinds[typeName{path, strings.TrimSuffix(sel.Sel.Name, "List")}]
	return gr, ok
}

// kindsOf follows an expression to the kinds it may hold.
func (r resolver) kindsOf(e ast.Expr, env map[string][]ast.Expr, depth int) []schema.GroupResource {
	if depth > 8 {
		return nil
	}
	switch e := e.(type) {
	case *ast.ParenExpr:
		return r.kindsOf(e.X, env, depth+1)
	case *ast.UnaryExpr: // &T{...}, &list.Items[i]
		return r.kindsOf(e.X, env, depth+1)
	case *ast.StarExpr:
		return r.kindsOf(e.X, env, depth+1)
	case *ast.CompositeLit:
		if gr, ok := r.kindOf(e.Type); ok {
			return []schema.GroupResource{gr}
		}
	case *ast.SelectorExpr: // a type pkg.T, or list.Items
		if gr, ok := r.kindOf(e); ok {
			return []schema.GroupResource{gr}
		}
		if e.Sel.Name == "Items" {
			return r.kindsOf(e.X, env, depth+1)
		}
	case *ast.IndexExpr: // list.Items[i]
		return r.kindsOf(e.X, env, depth+1)
	case *ast.CallExpr:
		if id, ok := e.Fun.(*ast.Ident); ok && id.Name == "new" && len(e.Args) == 1 {
			return r.kindsOf(e.Args[0], env, depth+1)
		}
		switch fun := e.Fun.(type) {
		case *ast.SelectorExpr: // x.DeepCopy(), d.getTarget(...)
			if fun.Sel.Name == "DeepCopy" {
				return r.kindsOf(fun.X, env, depth+1)
			}
			return r.results[fun.Sel.Name]
		case *ast.Ident: // desired(...)
			return r.results[fun.Name]
		}
	case *ast.Ident:
		var out []schema.GroupResource
		for _, d := range env[e.Name] {
			for _, gr := range r.kindsOf(d, env, depth+1) {
				if !slices.Contains(out, gr) {
					out = append(out, gr)
				}
			}
		}
		return out
	}
	return nil
}

// isKnownNonKind reports whether e is declared with a concrete type that is no kind (a
// Router's own Create, say), as opposed to an interface such as client.Object.
func (r resolver) isKnownNonKind(e ast.Expr, env map[string][]ast.Expr) bool {
	id, ok := e.(*ast.Ident)
	if !ok {
		return false
	}
	for _, d := range env[id.Name] {
		if sel, ok := d.(*ast.SelectorExpr); ok {
			if pkg, ok := sel.X.(*ast.Ident); ok && r.imports[pkg.Name] == "sigs.k8s.io/controller-runtime/pkg/client" {
				return false
			}
		}
	}
	return len(env[id.Name]) > 0
}

// controllerPackageDirs are the directories of the repository's packages that cmd/siskin is
// built from.
func controllerPackageDirs(t *testing.T) map[string]bool {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./cmd/siskin")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/siskin: %v", err)
	}
	dirs := map[string]bool{}
	for _, d := range strings.Fields(string(out)) {
		if strings.HasPrefix(d, root+string(filepath.Separator)) {
			dirs[d] = true
		}
	}
	if !dirs[filepath.Join(root, "internal", "controller")] {
		t.Fatalf("go list -deps ./cmd/siskin does not name internal/controller: %q", out)
	}
	return dirs
}
