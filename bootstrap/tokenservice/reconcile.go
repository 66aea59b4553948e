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

// Reconcile deletes the service's tokens whose node has registered (a Node
// with the token's provider ID exists) and those expired. It lists the
// service's token Secrets, and the Nodes only when there are some. It
// returns how many it deleted. Two replicas reconciling at once is fine:
// each delete is of the Secret it listed (by UID), and one already gone is
// not an error.
func (s *Service) Reconcile(ctx context.Context) (int, error) {
	now := s.cfg.Now()
	lctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
	list, err := s.cfg.Client.Secrets(Namespace).List(lctx, metav1.ListOptions{LabelSelector: labels.Set{CredentialLabel: CredentialIdentity}.String()})
	cancel()
	if err != nil {
		return 0, fmt.Errorf("list the token Secrets in %s: %w", Namespace, err)
	}
	if len(list.Items) == 0 {
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
	for i := range list.Items {
		sec := &list.Items[i]
		if !ours(sec) {
			continue
		}
		pid := sec.Annotations[ProviderIDAnnotation]
		node, joined := registered[pid]
		why := ""
		switch {
		case joined:
			why = "node " + node + " registered"
		case expiredAt(sec, now):
			why = "expired"
		default:
			continue
		}
		opts := metav1.DeleteOptions{}
		if uid := sec.UID; uid != "" {
			opts.Preconditions = &metav1.Preconditions{UID: &uid}
		}
		dctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
		err := s.cfg.Client.Secrets(Namespace).Delete(dctx, sec.Name, opts)
		cancel()
		switch {
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
			continue
		case err != nil:
			return deleted, fmt.Errorf("delete the token Secret %s/%s: %w", Namespace, sec.Name, err)
		}
		deleted++
		s.cfg.Log.Info("token deleted", zap.String("tokenID", string(sec.Data["token-id"])), zap.String("instance", sec.Annotations[InstanceAnnotation]),
			zap.String("account", sec.Annotations[AccountAnnotation]), zap.String("providerID", pid), zap.String("why", why))
	}
	return deleted, nil
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
