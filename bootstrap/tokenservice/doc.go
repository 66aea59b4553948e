// Package tokenservice is the cluster side of credentialSource
// instance-identity: an HTTPS service that exchanges an ECS instance's
// signed identity for a short-lived kubeadm bootstrap token, so that a node
// pool's script carries no secret at all.
//
// A node asks its metadata service for the identity document
// (/latest/dynamic/instance-identity/document) and a PKCS#7 signature of it
// for the audience "<cluster audience>:<unix seconds>"
// (/latest/dynamic/instance-identity/pkcs7?audience=...), and POSTs both, with
// the provider ID and Node name it will register with, to
// identity.ExchangePath. Alibaba Cloud documents the document, the signature
// and how to verify them at
// https://www.alibabacloud.com/help/en/ecs/user-guide/use-instance-identities
// (and https://www.alibabacloud.com/help/doc-detail/67254.htm).
//
// Each request is checked in this order; the first check that fails
// answers with an identity.Refusal naming its reason, and no token is made:
//
//  1. the request: at most identity.MaxRequestBytes (too-large, 413); a
//     global and a per-client-IP rate limit (rate-limited, 429 with
//     Retry-After); JSON with the document, signature, audience and
//     provider ID (bad-request, 400);
//  2. the signature: a valid PKCS#7 signature, detached, over the document
//     with ,"audience":"<audience>" appended inside its closing brace (as
//     Alibaba Cloud's procedure does), by a signer whose certificate chains
//     to the configured certificates (--identity-ca) now
//     (signature-refused, 403);
//  3. the audience: its part before the last ':' is this cluster's audience
//     (audience-mismatch, 403), its unix seconds and the signature's
//     signingTime attribute, when it has one, are within the window of now
//     (stale-signature, 403);
//  4. the document's account is in the allow-list, which is required and
//     never empty (account-not-allowed, 403), and its region and zone in
//     theirs when they are set (region-not-allowed, 403);
//  5. the provider ID is "<region-id>.<instance-id>" of the document
//     (instance-mismatch, 403);
//  6. replay: one token per instance at a time. The token's ID is derived
//     from the account and instance ID, so its Secret's name
//     (kube-system/bootstrap-token-<id>) is too: a second request while that
//     token lives finds the Secret there (replay, 409). All the state is in
//     the API server, so replicas agree without talking to each other;
//  7. the token: a bootstrap token Secret with a random secret (crypto/rand),
//     a TTL (15 minutes by default), usages authentication and signing, the
//     group system:bootstrappers:kubeadm:default-node-token, a description
//     naming the instance and the node, the label
//     hybridnode.io/credential=instance-identity and the provider ID in an
//     annotation. An API failure is internal (500).
//
// A reconcile loop (every few seconds) deletes a token once a Node with its
// provider ID is registered; a token whose node never registers expires and
// kube-controller-manager's tokencleaner deletes it (so does the loop).
//
// Every decision is logged (zap) with the instance, account, client,
// reason and latency; the token's secret never is, nor is it in any
// refusal.
//
// Threat model. The node pool's script carries the service's URL, the pin
// of its certificate's public key and the cluster's audience: nothing that
// lets anyone join, so an attacker who reads the script gets nothing. A
// signature is bound to one cluster (the audience) and a few minutes (the
// window, and the signing time), and its document to one instance; an
// attacker who records an exchange can replay it only while its token is
// alive, and then gets a replay refusal. Someone who controls an instance
// in an allowed account (and region) can join one node, under that
// instance's own identity and provider ID, at a time: the accounts in the
// allow-list are trusted to that extent. The service's certificate is
// self-signed and pinned by the nodes, so no CA is trusted for it. The
// trust in Alibaba Cloud is the --identity-ca bundle: hybridnode ships no
// certificate, the administrator supplies the one Alibaba Cloud publishes.
// The service's account can create, read, list and delete Secrets in
// kube-system (RBAC cannot narrow that to bootstrap tokens) and read Nodes,
// so its Pods and its TLS key are as sensitive as kube-system itself: they
// run on on-premises nodes only.
package tokenservice
