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
//  2. the audience, before anything is verified (it is cheap, and its
//     syntax is what makes the signed content safe to rebuild): it is
//     "<cluster audience>:<unix seconds>", the cluster audience of
//     AudienceRE and the seconds digits only, so it never needs escaping
//     in JSON (audience-mismatch, 403); the cluster audience is this
//     cluster's (audience-mismatch, 403); the seconds are within the
//     window of now (stale-signature, 403). That time is the only
//     freshness there is: ECS signatures carry no signing time;
//  3. the signature (VerifyIdentity; signature-refused, 403): DER PKCS#7
//     signedData in the shape the metadata service makes (one signer,
//     SHA-1 or SHA-256, RSA PKCS#1 v1.5, no signed attributes: a
//     signature with them is not ECS's); its signer, named by issuer and
//     serial number, is one of the trusted certificates (Alibaba Cloud's,
//     built in, or --identity-ca's) and valid now; its content is the
//     document up to its last '}' with ,"audience":"<audience>"} appended,
//     as Alibaba Cloud's procedure rebuilds it: attached (as ECS sends
//     it) it must be exactly that, detached it is verified over that; the
//     RSA signature of it verifies with the signer's key. The certificates
//     a signature carries are never trusted. Then the signed content is
//     read strictly (bad-request, 400): one JSON object of strings and
//     numbers, printable ASCII, no key twice, exactly one "audience", the
//     last member and equal to the request's, so a document holding an
//     "audience" of its own is refused; the document's fields are read
//     from it, never from a lenient parse of the request;
//  4. the document's account is in the allow-list, which is required and
//     never empty (account-not-allowed, 403), and its region and zone in
//     theirs when they are set (region-not-allowed, 403);
//  5. the provider ID is "<region-id>.<instance-id>" of the document
//     (instance-mismatch, 403);
//  6. the node name is the one derived from the signed document with the
//     NodeNamer's template (default ACK's "<region-id>.<private-ipv4>";
//     node-name-mismatch, 403): the node never chooses its name;
//  7. replay: the instance's record (a Lease in RecordNamespace, named
//     after the token ID, which is derived from the account and instance)
//     must not hold an audience time at or after the request's (a
//     signature is used once), nor a token issued less than TokenTTL ago,
//     whether or not its Node registered (replay, 409). The record's
//     Create, or its Update at the resourceVersion read, is the arbiter:
//     replicas agree through the API server without talking to each other;
//  8. the token: a bootstrap token Secret with a random secret (crypto/rand),
//     a TTL (15 minutes by default), usages authentication and signing, the
//     group IdentityGroup (no auto-approval binding covers it), a
//     description naming the instance and the node, and the label
//     hybridnode.io/credential=instance-identity. An API failure is
//     internal (500), and the record is released so that a retry is not a
//     replay.
//
// The approver (approver.go) approves each identity token's one kubelet
// client CSR, for the recorded name, and denies every other CSR of the
// service's groups; node-pool tokens of PoolGroup are held to the
// template's form. A reconcile loop (every few seconds) deletes a token
// once a Node with its provider ID is registered, and records kept past
// their time; a token whose node never registers expires and
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
// window of the audience's time), and its document to one instance; a
// recorded exchange cannot be used twice (its audience time is recorded),
// nor can a new one get a second token for the instance within TokenTTL,
// even after its Node registered. Someone who controls an instance
// in an allowed account (and region) can join one node, under that
// instance's own name and provider ID: the approver approves nothing else
// for its token, and the accounts in the allow-list are trusted to that
// extent. The service's certificate is
// self-signed and pinned by the nodes, so no CA is trusted for it. The
// trust in Alibaba Cloud is one certificate: hybridnode ships the one
// Alibaba Cloud publishes for instance identities
// (https://www.alibabacloud.com/help/en/ecs/user-guide/use-instance-identities;
// DefaultIdentityCertPEM, checked against its public key's SHA-256 pin),
// and --identity-ca replaces it. Those certificates are pinned signers,
// not CA roots: no chain is built, and nothing a signature carries is
// trusted. ECS signs with SHA-1, so SHA-1 is accepted: a forged content
// would have to collide with one the metadata service signed and still be
// printable ASCII JSON of the strict form above, which the binary blocks
// of known SHA-1 collision attacks are not.
// The service's account creates bootstrap token Secrets and deletes them
// by name; it cannot get or list any Secret, and the admission policy setup
// installs holds its writes to its own bootstrap tokens (never a
// ServiceAccount-token Secret). Its records are Leases in RecordNamespace.
package tokenservice
