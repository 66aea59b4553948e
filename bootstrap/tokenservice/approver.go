package tokenservice

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// The approver. kube-controller-manager's csrapproving controller approves
// a kubelet client CSR for any system:node:<name> from a group bound to
// system:certificates.k8s.io:certificatesigningrequests:nodeclient
// (kubeadm binds its default-node-token group so): it checks the name's
// prefix only. The service's tokens carry groups that no such binding
// covers, so their CSRs wait for this approver, which knows what each
// token proved:
//
//   - a token of IdentityGroup (an exchange): the CSR's name must be
//     system:node:<the name derived from the signed document>, as recorded
//     for the token; no Node may hold that name unless it has the record's
//     provider ID (the same instance joining again); and only one CSR is
//     ever approved per token (the record notes which, written at its
//     resourceVersion before the approval, so two replicas cannot both);
//   - a token of PoolGroup (a node pool's shared token, which proves no
//     instance): the name must fit the pool's pattern (the node name
//     template, its address in the VPC CIDR) and no Node may hold it.
//
// Every other CSR of those groups is denied, with the reason on the CSR's
// Denied condition and in the log. CSRs of other requesters are left to
// whoever handles them.
//
// The design: approve the CSR kubeadm's TLS bootstrap makes, rather than
// sign a certificate inside the exchange as AKS's secure TLS bootstrapping
// does. kubeadm join, the kubelet's own bootstrap and certificate rotation
// stay as upstream ships them, the cluster's signer (kube-controller-manager)
// stays the only one, and the same approver serves pool tokens, which have
// no exchange.

// SignerKubeletClient is the signer of kubelet client certificates.
const SignerKubeletClient = certificatesv1.KubeAPIServerClientKubeletSignerName

// kubelet client CSRs' subject, as kube-controller-manager checks it
// (k8s.io/kubernetes pkg/apis/certificates/helpers.go IsKubeletClientCSR).
const (
	nodeUserPrefix = "system:node:"
	nodesGroup     = "system:nodes"
	bootstrapUser  = "system:bootstrap:"
)

// verdict is the approver's decision on one CSR.
type verdict struct {
	approve bool
	reason  string // a CamelCase condition reason
	msg     string
	// kind is the token's kind (identity or pool), for logs and metrics.
	kind string
	node string
}

func deny(kind, reason, format string, args ...any) verdict {
	return verdict{kind: kind, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// mine: the CSR is from one of the service's token groups, for the kubelet
// client signer, and undecided.
func mine(csr *certificatesv1.CertificateSigningRequest) (kind string, ok bool) {
	switch {
	case slices.Contains(csr.Spec.Groups, IdentityGroup):
		kind = "identity"
	case slices.Contains(csr.Spec.Groups, PoolGroup):
		kind = "pool"
	default:
		return "", false
	}
	if csr.Spec.SignerName != SignerKubeletClient || decided(csr) {
		return "", false
	}
	return kind, true
}

func decided(csr *certificatesv1.CertificateSigningRequest) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == certificatesv1.CertificateApproved || c.Type == certificatesv1.CertificateDenied || c.Type == certificatesv1.CertificateFailed {
			return true
		}
	}
	return false
}

// kubeletClientName checks that the request is a kubelet client CSR as
// kube-controller-manager defines one and returns its node name.
func kubeletClientName(csr *certificatesv1.CertificateSigningRequest) (string, error) {
	b, _ := pem.Decode(csr.Spec.Request)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return "", fmt.Errorf("the request is not a PEM CERTIFICATE REQUEST")
	}
	req, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return "", fmt.Errorf("the request does not parse: %v", err)
	}
	if err := req.CheckSignature(); err != nil {
		return "", fmt.Errorf("the request's signature is not valid: %v", err)
	}
	if len(req.Subject.Organization) != 1 || req.Subject.Organization[0] != nodesGroup {
		return "", fmt.Errorf("its organization is %q, not [%s]", req.Subject.Organization, nodesGroup)
	}
	name, ok := strings.CutPrefix(req.Subject.CommonName, nodeUserPrefix)
	if !ok || name == "" {
		return "", fmt.Errorf("its common name %q is not %s<node name>", printable(req.Subject.CommonName), nodeUserPrefix)
	}
	if len(req.DNSNames)+len(req.EmailAddresses)+len(req.IPAddresses)+len(req.URIs) > 0 {
		return "", fmt.Errorf("it asks for subject alternative names, which a kubelet client certificate has none of")
	}
	client := false
	for _, u := range csr.Spec.Usages {
		switch u {
		case certificatesv1.UsageClientAuth:
			client = true
		case certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment:
		default:
			return "", fmt.Errorf("it asks for usage %q; a kubelet client certificate has client auth, digital signature and key encipherment only", u)
		}
	}
	if !client {
		return "", fmt.Errorf("it does not ask for client auth")
	}
	return name, nil
}

// decide is the verdict on one of the service's CSRs. rec is the record
// the verdict relies on (identity tokens), to be claimed before approving.
func (s *Service) decide(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, kind string) (verdict, *record, error) {
	name, err := kubeletClientName(csr)
	if err != nil {
		return deny(kind, "NotAKubeletClientCSR", "%v", err), nil, nil
	}
	id, ok := strings.CutPrefix(csr.Spec.Username, bootstrapUser)
	if !ok || id == "" {
		return deny(kind, "NotABootstrapToken", "it was made by %q, not by a bootstrap token (%s<id>)", printable(csr.Spec.Username), bootstrapUser), nil, nil
	}
	v := verdict{kind: kind, node: name}
	var rec *record
	switch kind {
	case "identity":
		gctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
		l, err := s.cfg.Leases.Leases(RecordNamespace).Get(gctx, RecordName(id), metav1.GetOptions{})
		cancel()
		if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
			return deny(kind, "UnknownToken", "the token service has no record of token %s (not issued by it, or its record expired)", id), nil, nil
		}
		if err != nil {
			return v, nil, fmt.Errorf("read the record of token %s: %w", id, err)
		}
		r := parseRecord(l)
		if r.tokenID != id {
			return deny(kind, "UnknownToken", "the record %s is not of token %s", l.Name, id), nil, nil
		}
		if r.nodeName == "" || name != r.nodeName {
			return deny(kind, "NodeNameNotBound", "token %s was issued to instance %s, which may only become node %q, not %q",
				id, r.instance, r.nodeName, name), nil, nil
		}
		if r.csr != "" && r.csr != csr.Name {
			return deny(kind, "TokenAlreadyUsed", "token %s already had CSR %s approved: one approval per token", id, r.csr), nil, nil
		}
		if !r.issued.IsZero() && csr.CreationTimestamp.Time.Before(r.issued.Add(-time.Second)) {
			return deny(kind, "TokenAlreadyUsed", "the CSR predates the grant recorded for token %s", id), nil, nil
		}
		if why, err := s.nodeHolds(ctx, name, r.providerID); err != nil {
			return v, nil, err
		} else if why != "" {
			return deny(kind, "NodeNameTaken", "%s", why), nil, nil
		}
		rec = &r
	case "pool":
		if why := s.namer.Fits(name); why != "" {
			return deny(kind, "NodeNameOutsidePool", "node name %q is not a node pool's: %s", name, why), nil, nil
		}
		if why, err := s.nodeHolds(ctx, name, ""); err != nil {
			return v, nil, err
		} else if why != "" {
			return deny(kind, "NodeNameTaken", "%s", why), nil, nil
		}
	}
	v.approve, v.reason = true, "HybridnodeApproved"
	if kind == "identity" {
		v.msg = fmt.Sprintf("token %s of instance %s: node %s, the name derived from its signed identity", id, rec.instance, name)
	} else {
		v.msg = fmt.Sprintf("node-pool token %s: node %s fits the pool's pattern and no Node holds it", id, name)
	}
	return v, rec, nil
}

// nodeHolds says why a Node named name stands in the way ("" when none
// does): any Node, unless providerID is set and the Node has it.
func (s *Service) nodeHolds(ctx context.Context, name, providerID string) (string, error) {
	gctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
	n, err := s.cfg.Client.Nodes().Get(gctx, name, metav1.GetOptions{})
	cancel()
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read Node %s: %w", name, err)
	}
	if providerID != "" && n.Spec.ProviderID == providerID {
		return "", nil
	}
	return fmt.Sprintf("Node %s exists with provider ID %q", name, n.Spec.ProviderID), nil
}

// Approve decides one CSR and writes the decision. It does nothing to a
// CSR that is not the service's or is already decided. An error is worth
// a retry (the API server did not answer).
func (s *Service) Approve(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) error {
	kind, ok := mine(csr)
	if !ok {
		return nil
	}
	start := time.Now()
	v, rec, err := s.decide(ctx, csr, kind)
	if err != nil {
		return err
	}
	if v.approve && rec != nil && rec.csr != csr.Name {
		// Claim the token's one approval.
		upd := rec.lease.DeepCopy()
		upd.Annotations[CSRAnnotation] = csr.Name
		uctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
		_, err := s.cfg.Leases.Leases(RecordNamespace).Update(uctx, upd, metav1.UpdateOptions{})
		cancel()
		if apierrors.IsConflict(err) {
			return fmt.Errorf("the record %s changed: look again", rec.lease.Name)
		}
		if err != nil {
			return fmt.Errorf("claim the approval in record %s: %w", rec.lease.Name, err)
		}
	}
	// Read the CSR again: another replica may have decided it.
	gctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
	cur, err := s.cfg.CSRs.CertificateSigningRequests().Get(gctx, csr.Name, metav1.GetOptions{})
	cancel()
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read CSR %s: %w", csr.Name, err)
	}
	if decided(cur) {
		return nil
	}
	cond := certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue,
		Reason: v.reason, Message: v.msg, LastUpdateTime: metav1.Now()}
	if v.approve {
		cond.Type = certificatesv1.CertificateApproved
	}
	cur.Status.Conditions = append(cur.Status.Conditions, cond)
	uctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
	_, err = s.cfg.CSRs.CertificateSigningRequests().UpdateApproval(uctx, cur.Name, cur, metav1.UpdateOptions{})
	cancel()
	if apierrors.IsConflict(err) {
		return fmt.Errorf("CSR %s changed: look again", csr.Name)
	}
	if err != nil {
		return fmt.Errorf("write the decision on CSR %s: %w", csr.Name, err)
	}
	fields := []zap.Field{zap.String("csr", csr.Name), zap.String("requester", csr.Spec.Username), zap.String("kind", v.kind),
		zap.String("node", v.node), zap.String("reason", v.reason), zap.String("message", v.msg), zap.Duration("latency", time.Since(start))}
	s.cfg.Metrics.csrDecided(v.approve, v.reason)
	if v.approve {
		s.cfg.Log.Info("CSR approved", fields...)
	} else {
		s.cfg.Log.Warn("CSR denied", fields...)
	}
	return nil
}

// approverWorkers decide CSRs at once (each decision is a few API calls).
const approverWorkers = 4

// ApproveLoop watches CSRs (client-go's informer: list, then watch, with
// its own bounded backoff) and decides each of the service's as it
// appears, until ctx is done. A decision that failed on the API server is
// retried with the workqueue's rate limiter (5 ms doubling, at most 1000 s,
// and 10 tries at most).
func (s *Service) ApproveLoop(ctx context.Context) {
	csrs := s.cfg.CSRs.CertificateSigningRequests()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return csrs.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return csrs.Watch(ctx, o)
		},
	}
	// A client that says it cannot stream a list through a watch (a fake)
	// is listed, then watched.
	inf := cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, s.cfg.CSRs), &certificatesv1.CertificateSigningRequest{},
		10*time.Minute, cache.Indexers{})
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	add := func(obj any) {
		if csr, ok := obj.(*certificatesv1.CertificateSigningRequest); ok {
			if _, ok := mine(csr); ok {
				q.Add(csr.Name)
			}
		}
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, obj any) { add(obj) }})
	go inf.RunWithContext(ctx)
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return
	}
	done := make(chan struct{})
	for range approverWorkers {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				name, quit := q.Get()
				if quit {
					return
				}
				obj, exists, err := inf.GetStore().GetByKey(name)
				if err == nil && exists {
					err = s.Approve(ctx, obj.(*certificatesv1.CertificateSigningRequest))
				}
				switch {
				case err == nil:
					q.Forget(name)
				case q.NumRequeues(name) < 10 && ctx.Err() == nil:
					s.cfg.Log.Warn("CSR decision failed; retrying", zap.String("csr", name), zap.Error(err))
					q.AddRateLimited(name)
				default:
					s.cfg.Log.Error("CSR decision failed; giving up", zap.String("csr", name), zap.Error(err))
					q.Forget(name)
				}
				q.Done(name)
			}
		}()
	}
	for range approverWorkers {
		<-done
	}
}
