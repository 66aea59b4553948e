package tokenservice

import (
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The service keeps what it issued to each instance in a Lease of its own
// namespace, never in kube-system's Secrets: so its account needs no read
// of any Secret, and the record outlives the token it describes (a replay
// after the node registered still finds it). One Lease per instance, named
// after the instance's token ID:
//
//	hybridnode-system/bootstrap-<token id>
//	  labels:      hybridnode.io/record=instance-identity
//	  annotations: instance, account, provider ID, node name (derived from
//	               the signed document), the audience time of the last
//	               accepted signature, when the token was issued and expires,
//	               and the one CSR approved for the token
//	  spec:        holderIdentity <token id>, acquireTime <issued>,
//	               leaseDurationSeconds <how long the record is kept>
//
// The Create of that Lease is the arbiter between replicas: two requests
// for one instance at once cannot both issue.
const (
	// RecordNamespace holds the records (setup creates it).
	RecordNamespace = "hybridnode-system"
	// RecordLabel=CredentialIdentity marks a record; the Node admission
	// policy selects its parameters with it.
	RecordLabel = "hybridnode.io/record"

	AudienceTimeAnnotation = "hybridnode.io/audience-time"
	IssuedAnnotation       = "hybridnode.io/issued"
	ExpiresAnnotation      = "hybridnode.io/token-expires"
	CSRAnnotation          = "hybridnode.io/approved-csr"
	TokenIDAnnotation      = "hybridnode.io/token-id"
)

// RecordName is the name of an instance's record.
func RecordName(tokenID string) string { return "bootstrap-" + tokenID }

// record is one instance's record, as the service reads it.
type record struct {
	lease        *coordinationv1.Lease
	tokenID      string
	instance     string
	account      string
	providerID   string
	nodeName     string
	audienceTime int64
	issued       time.Time
	expires      time.Time
	csr          string
}

func parseRecord(l *coordinationv1.Lease) record {
	a := l.Annotations
	r := record{lease: l, tokenID: a[TokenIDAnnotation], instance: a[InstanceAnnotation], account: a[AccountAnnotation],
		providerID: a[ProviderIDAnnotation], nodeName: a[NodeNameAnnotation], csr: a[CSRAnnotation]}
	r.audienceTime, _ = strconv.ParseInt(a[AudienceTimeAnnotation], 10, 64)
	r.issued, _ = time.Parse(time.RFC3339, a[IssuedAnnotation])
	r.expires, _ = time.Parse(time.RFC3339, a[ExpiresAnnotation])
	return r
}

// recordObject is the record of g, accepted for the audience time aud;
// keep is how long the record is kept.
func (g grant) recordObject(aud int64, issued time.Time, keep time.Duration) *coordinationv1.Lease {
	secs := int32(keep / time.Second)
	at := metav1.NewMicroTime(issued)
	holder := g.id
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name:      RecordName(g.id),
			Namespace: RecordNamespace,
			Labels:    map[string]string{RecordLabel: CredentialIdentity},
			Annotations: map[string]string{
				TokenIDAnnotation:      g.id,
				InstanceAnnotation:     g.doc.InstanceID,
				AccountAnnotation:      g.doc.AccountID,
				ProviderIDAnnotation:   g.providerID,
				NodeNameAnnotation:     g.nodeName,
				AudienceTimeAnnotation: strconv.FormatInt(aud, 10),
				IssuedAnnotation:       issued.UTC().Format(time.RFC3339),
				ExpiresAnnotation:      g.expires.UTC().Format(time.RFC3339),
			},
		},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, AcquireTime: &at, RenewTime: &at, LeaseDurationSeconds: &secs},
	}
}

// kept: until when the record is kept (its lease's acquire time and
// duration); zero when it has none.
func (r record) kept() time.Time {
	s := r.lease.Spec
	if s.AcquireTime == nil || s.LeaseDurationSeconds == nil {
		return time.Time{}
	}
	return s.AcquireTime.Add(time.Duration(*s.LeaseDurationSeconds) * time.Second)
}
