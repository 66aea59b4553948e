package cluster

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hybridnode/hybridnode/bootstrap/tokenservice"
)

// A node pool's token is a shared secret: it proves no instance. Left in
// kubeadm's group, kube-controller-manager approves its kubelet client CSRs
// for any system:node:<name>, so whoever reads the script can take any
// node's name. With --credentials token --token-service-image, setup runs
// hybridnode-cluster token-service --approve-only (the token service's
// approver alone: no exchange, no TLS) and makes the pool's tokens in
// tokenservice.PoolGroup, whose CSRs it approves only for names of the
// node name template's form, their address in --vpc-cidr, that no Node
// holds. rotate and later setups keep the pool group while that
// Deployment exists.

// parseApprover checks the approver's flags with --credentials token.
func (o IdentityOptions) parseApprover(p *problems) {
	if o.Image == "" {
		return
	}
	if strings.ContainsAny(o.Image, " \t\n'\"") {
		p.add("--token-service-image", o.Image, "an image reference such as registry.example.com/hybridnode/hybridnode-cluster:v1.2.3")
	}
	if _, err := tokenservice.NewNodeNamer(o.NodeNameTemplate, nil); err != nil {
		p.add("--node-name-template", o.NodeNameTemplate, "a Go template over .RegionID, .ZoneID, .InstanceID, .AccountID and .PrivateIPv4: "+err.Error())
	}
}

// readApprover decides the pool tokens' group and, when setup runs the
// approver, renders its objects.
func (r *runner) readApprover(ctx context.Context) error {
	o := r.o.Identity
	if o.Image != "" && !r.rotate {
		objs, err := r.approverObjects(ctx)
		if err != nil {
			return err
		}
		r.approver, r.poolGroup = objs, true
		return nil
	}
	_, err := r.c.Apps.Deployments(kubeSystem).Get(ctx, TokenServiceName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("get Deployment %s/%s: %w", kubeSystem, TokenServiceName, err)
	default:
		r.poolGroup = true
	}
	return nil
}

// approverObjects: its ServiceAccount, the cluster-wide role it needs
// (Nodes, CSRs, the kubelet client signer), the pool group's bootstrap
// bindings, and the Deployment.
func (r *runner) approverObjects(ctx context.Context) ([]*desired, error) {
	var out []*desired
	sa, err := r.serviceAccountObject(ctx)
	if err != nil {
		return nil, err
	}
	out = append(out, sa)
	saSubject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: TokenServiceName, Namespace: kubeSystem}}
	var grants []grant
	for _, g := range tokenServiceGrants(saSubject) {
		if g.ns == "" { // the approver's; no Secrets, no records
			grants = append(grants, g)
		}
	}
	for _, g := range append(grants, bootstrapGrants()...) {
		objs, err := r.rbacObjects(ctx, g)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	dep, err := r.deploymentObject(ctx, r.approverDeploymentSpec())
	if err != nil {
		return nil, err
	}
	return append(out, dep), nil
}

// approverDeploymentSpec: two replicas of token-service --approve-only on
// on-premises nodes (they decide which cloud nodes may join).
func (r *runner) approverDeploymentSpec() appsv1.DeploymentSpec {
	o := r.o.Identity
	args := []string{"token-service", "--approve-only"}
	if o.NodeNameTemplate != "" {
		args = append(args, "--node-name-template", o.NodeNameTemplate)
	}
	if r.o.VPCCIDR != "" {
		args = append(args, "--vpc-cidr", r.o.VPCCIDR)
	}
	replicas := int32(tokenServiceReplicas)
	labels := map[string]string{appLabel: TokenServiceName}
	container := corev1.Container{
		Name: "approver", Image: o.Image, Command: []string{"hybridnode-cluster"}, Args: args,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: mustQuantity("20m"), corev1.ResourceMemory: mustQuantity("48Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: mustQuantity("192Mi")},
		},
		SecurityContext: restricted(),
	}
	return appsv1.DeploymentSpec{
		Replicas: &replicas,
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxUnavailable: ptrIntStr(intstr.FromInt32(1)), MaxSurge: ptrIntStr(intstr.FromInt32(1))}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: withLabels(labels)}, Spec: onpremPod(container)},
	}
}
