package tokenservice

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// DefaultReconcileInterval is how often the reconcile loop looks.
const DefaultReconcileInterval = 5 * time.Second

// TokenDeletedAnnotation on a record: when the service deleted its token.
const TokenDeletedAnnotation = "hybridnode.io/token-deleted"

// Reconcile deletes the service's tokens whose node has registered (a Node
// with the record's provider ID exists) or that expired, and the records
// kept long enough. It reads the records (never a Secret: the service
// cannot), and the Nodes only when a token is still out. It returns how
// many tokens it deleted. Two replicas reconciling at once is fine: each
// record write is at the resourceVersion read, a token deleted twice is
// not an error, and the admission policy lets the service delete its own
// tokens only.
func (s *Service) Reconcile(ctx context.Context) (int, error) {
	now := s.cfg.Now()
	leases := s.cfg.Leases.Leases(RecordNamespace)
	lctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
	list, err := leases.List(lctx, metav1.ListOptions{LabelSelector: labels.Set{RecordLabel: CredentialIdentity}.String()})
	cancel()
	if err != nil {
		return 0, fmt.Errorf("list the records in %s: %w", RecordNamespace, err)
	}
	var out []record
	for i := range list.Items {
		r := parseRecord(&list.Items[i])
		if r.tokenID == "" {
			continue
		}
		if k := r.kept(); !k.IsZero() && !now.Before(k) {
			opts := metav1.DeleteOptions{}
			if uid := r.lease.UID; uid != "" {
				opts.Preconditions = &metav1.Preconditions{UID: &uid}
			}
			dctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
			err := leases.Delete(dctx, r.lease.Name, opts)
			cancel()
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return 0, fmt.Errorf("delete the record %s/%s: %w", RecordNamespace, r.lease.Name, err)
			}
			// Its token expired long ago (kept > TokenTTL); delete it
			// too, in case an earlier pass did not.
			if r.lease.Annotations[TokenDeletedAnnotation] == "" {
				s.deleteToken(ctx, r)
			}
			continue
		}
		if r.lease.Annotations[TokenDeletedAnnotation] == "" {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return 0, nil
	}
	lctx, cancel = context.WithTimeout(ctx, s.cfg.APITimeout)
	// ResourceVersion 0: from the API server's cache, cheap on a big cluster.
	nodes, err := s.cfg.Client.Nodes().List(lctx, metav1.ListOptions{ResourceVersion: "0"})
	cancel()
	if err != nil {
		return 0, fmt.Errorf("list the Nodes: %w", err)
	}
	registered := map[string]string{}
	for _, n := range nodes.Items {
		if n.Spec.ProviderID != "" {
			registered[n.Spec.ProviderID] = n.Name
		}
	}
	deleted := 0
	for _, r := range out {
		node, joined := registered[r.providerID]
		why := ""
		switch {
		case joined:
			why = "node " + node + " registered"
		case !r.expires.IsZero() && !now.Before(r.expires):
			why = "expired"
		default:
			continue
		}
		if err := s.deleteToken(ctx, r); err != nil {
			return deleted, err
		}
		upd := r.lease.DeepCopy()
		upd.Annotations[TokenDeletedAnnotation] = now.UTC().Format(time.RFC3339)
		uctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
		_, err := leases.Update(uctx, upd, metav1.UpdateOptions{})
		cancel()
		if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return deleted, fmt.Errorf("update the record %s/%s: %w", RecordNamespace, r.lease.Name, err)
		}
		deleted++
		s.cfg.Log.Info("token deleted", zap.String("tokenID", r.tokenID), zap.String("instance", r.instance),
			zap.String("account", r.account), zap.String("providerID", r.providerID), zap.String("why", why))
	}
	return deleted, nil
}

// deleteToken deletes the token Secret of a record, by name (the service
// cannot read Secrets); one already gone is not an error.
func (s *Service) deleteToken(ctx context.Context, r record) error {
	dctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
	defer cancel()
	err := s.cfg.Client.Secrets(Namespace).Delete(dctx, SecretName(r.tokenID), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the token Secret %s/%s: %w", Namespace, SecretName(r.tokenID), err)
	}
	return nil
}

// ReconcileLoop runs Reconcile every interval until ctx is done, logging
// failures. Each pass is bounded by the API timeout of its requests.
func (s *Service) ReconcileLoop(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultReconcileInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Log.Warn("reconcile failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
