package cluster

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// typed is what setup uses of a client-go typed client of one kind.
type typed[P any] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (P, error)
	Create(ctx context.Context, obj P, opts metav1.CreateOptions) (P, error)
	Update(ctx context.Context, obj P, opts metav1.UpdateOptions) (P, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// object is a pointer to a Kubernetes object type (*corev1.ConfigMap).
type object[T any] interface {
	*T
	metav1.Object
	runtime.Object
}

// current reads one object through c: nil when it does not exist.
func current[T any, P object[T]](ctx context.Context, c typed[P], kind, ns, name string) (P, error) {
	cur, err := c.Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		return cur, nil
	case apierrors.IsNotFound(err):
		return nil, nil
	}
	d := desired{kind: kind, ns: ns, name: name}
	return nil, fmt.Errorf("get %s: %w", d.String(), err)
}

// desire is one object as setup wants it: cur (nil: absent) copied, or a
// new one, with setup's name, namespace and labels, then fill. same says
// whether cur already is what setup wants (the labels are compared here);
// show renders an object for a diff. replace, when set and true of cur,
// makes the update a delete and a create (a binding's roleRef cannot
// change).
func desire[T any, P object[T]](c typed[P], kind, ns, name string, cur P, fill func(want P),
	same func(cur, want P) bool, show func(P) []byte, replace func(cur P) bool) *desired {
	want := P(new(T))
	if cur != nil {
		want = cur.DeepCopyObject().(P)
	}
	want.SetName(name)
	want.SetNamespace(ns)
	want.SetLabels(withLabels(want.GetLabels()))
	fill(want)
	d := &desired{kind: kind, ns: ns, name: name, want: want,
		show: func(v any) []byte { return show(v.(P)) },
		create: func(ctx context.Context, dry []string) error {
			_, err := c.Create(ctx, want, metav1.CreateOptions{DryRun: dry})
			return err
		},
		update: func(ctx context.Context, dry []string) error {
			if replace != nil && replace(cur) {
				if err := c.Delete(ctx, name, metav1.DeleteOptions{DryRun: dry}); err != nil {
					return err
				}
				w := want.DeepCopyObject().(P)
				w.SetResourceVersion("")
				w.SetUID("")
				_, err := c.Create(ctx, w, metav1.CreateOptions{DryRun: dry})
				return err
			}
			_, err := c.Update(ctx, want, metav1.UpdateOptions{DryRun: dry})
			return err
		}}
	if cur != nil {
		d.cur, d.same = cur, same(cur, want) && equality.Semantic.DeepEqual(cur.GetLabels(), want.GetLabels())
	}
	return d
}
