package cluster

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	admv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
	"github.com/hybridnode/hybridnode/bootstrap/tokenservice"
)

// TokenServiceName names the token service's objects in kube-system
// (ServiceAccount, Role, ClusterRole, bindings, Deployment, Service and the
// ConfigMap holding the cluster's audience); its TLS Secret is
// TokenServiceName-tls.
const TokenServiceName = "hybridnode-token-service"

// The credentials of setup.
const (
	CredentialsToken    = "token"
	CredentialsIdentity = "identity"
	// ExposeHostNetwork and ExposeService are how the service is reached.
	ExposeHostNetwork = "hostnetwork"
	ExposeService     = "service"
	// DefaultTokenServicePort is where it listens.
	DefaultTokenServicePort = 9443
	// tokenServiceReplicas run at once.
	tokenServiceReplicas = 2
	// Keys of the token service's ConfigMap.
	audienceKey   = "audience"
	identityCAKey = "identity-ca.pem"
	pinKey        = "pin"
	urlKey        = "url"
	// specHashAnnotation records what setup last applied to the Deployment
	// and Service: the API server defaults their specs, so comparing specs
	// would find a change on every run.
	specHashAnnotation = "hybridnode.io/spec-hash"
	appLabel           = "app.kubernetes.io/name"
	// Where the Pod finds its files.
	tlsMount = "/etc/hybridnode-token-service/tls"
	caMount  = "/etc/hybridnode-token-service/ca"
	// serviceUID runs the service (non-root).
	serviceUID = 65532
	// certLifetime of the self-signed serving certificate: the nodes pin
	// its key and check nothing else.
	certLifetime = 10 * 365 * 24 * time.Hour
)

func tlsSecretName() string { return TokenServiceName + "-tls" }

// IdentityOptions are setup's flags for --credentials identity.
type IdentityOptions struct {
	// Credentials: CredentialsToken (default) or CredentialsIdentity.
	Credentials string
	// IdentityCA is a PEM file of the certificates that sign ECS instance
	// identities (--identity-ca); empty: Alibaba Cloud's, built in
	// (tokenservice.DefaultIdentityCertPEM). The ConfigMap's identity-ca.pem
	// holds whichever is in force.
	IdentityCA string
	// Accounts (required), Regions, Zones: the service's allow-lists.
	Accounts, Regions, Zones []string
	// Image runs `hybridnode-cluster token-service` (--token-service-image).
	Image string
	// Addresses are the DNS names or IPs nodes reach the service at; the
	// first is the URL's host (--token-service-address).
	Addresses []string
	// Expose: ExposeHostNetwork (default) or ExposeService.
	Expose string
	// Port: DefaultTokenServicePort when 0.
	Port int
	// NodeNameTemplate derives a node's name from its signed document
	// (--node-name-template); "": tokenservice.DefaultNodeNameTemplate.
	NodeNameTemplate string
}

// identity is what setup reads and renders for --credentials identity.
type identitySetup struct {
	caPEM    []byte
	audience string
	port     int
	url      string
	pin      string
	certPEM  []byte
	keyPEM   []byte
	newCert  string // why a new certificate is made; "" when reused
	objects  []*desired
	accounts []string
}

// desired is one object setup keeps as it wants it.
type desired struct {
	kind, ns, name string
	cur            any // nil: absent
	want           any // the object to create, or cur updated
	same           bool
	// show renders an object for a diff (secrets redacted).
	show   func(any) []byte
	create func(ctx context.Context, dry []string) error
	update func(ctx context.Context, dry []string) error
}

func (d *desired) String() string {
	if d.ns == "" {
		return d.kind + " " + d.name
	}
	return d.kind + " " + d.ns + "/" + d.name
}

// parseIdentity checks the identity flags.
func (o IdentityOptions) parse(p *problems) (caPEM []byte, accounts []string) {
	if o.IdentityCA == "" {
		caPEM = tokenservice.DefaultIdentityCertPEM
	} else if data, err := os.ReadFile(o.IdentityCA); err != nil {
		p.add("--identity-ca", o.IdentityCA, "a readable PEM file of certificates: "+err.Error())
	} else if _, err := tokenservice.LoadSigners(data); err != nil {
		p.add("--identity-ca", o.IdentityCA, "a PEM file of the RSA certificates that sign ECS instance identities: "+err.Error())
	} else {
		caPEM = data
	}
	for _, a := range o.Accounts {
		if a = strings.TrimSpace(a); a != "" {
			if strings.Trim(a, "0123456789") != "" {
				p.add("--accounts", a, "Alibaba Cloud account IDs, digits only")
			}
			accounts = append(accounts, a)
		}
	}
	if len(accounts) == 0 {
		p.add("--accounts", "", "with --credentials identity: the Alibaba Cloud account IDs whose instances may join, comma-separated")
	}
	for _, list := range []struct {
		flag string
		v    []string
	}{{"--regions", o.Regions}, {"--zones", o.Zones}} {
		for _, v := range list.v {
			if len(validation.IsDNS1123Label(strings.TrimSpace(v))) > 0 {
				p.add(list.flag, v, "region or zone IDs such as cn-hangzhou or cn-hangzhou-k")
			}
		}
	}
	if o.Image == "" {
		p.add("--token-service-image", "", "with --credentials identity: the image that runs hybridnode-cluster token-service (hybridnode-cluster on its PATH)")
	} else if strings.ContainsAny(o.Image, " \t\n'\"") {
		p.add("--token-service-image", o.Image, "an image reference such as registry.example.com/hybridnode/hybridnode-cluster:v1.2.3")
	}
	if len(o.Addresses) == 0 {
		p.add("--token-service-address", "", "with --credentials identity: the DNS names or IPs the nodes reach the token service at (the first goes into the script; each into its certificate)")
	}
	for _, a := range o.Addresses {
		if net.ParseIP(a) == nil && len(validation.IsDNS1123Subdomain(a)) > 0 {
			p.add("--token-service-address", a, "a DNS name or an IP address")
		}
	}
	switch o.Expose {
	case "", ExposeHostNetwork, ExposeService:
	default:
		p.add("--token-service-expose", o.Expose, ExposeHostNetwork+" (the Pods on on-premises nodes' networks) or "+ExposeService+" (an internal LoadBalancer Service)")
	}
	if _, err := tokenservice.NewNodeNamer(o.NodeNameTemplate, nil); err != nil {
		p.add("--node-name-template", o.NodeNameTemplate, "a Go template over .RegionID, .ZoneID, .InstanceID, .AccountID and .PrivateIPv4 (default "+tokenservice.DefaultNodeNameTemplate+"): "+err.Error())
	}
	if o.Port < 0 || o.Port > 65535 {
		p.add("--token-service-port", strconv.Itoa(o.Port), "a port, 1 to 65535")
	}
	return caPEM, accounts
}

// readIdentity reads the token service's ConfigMap and TLS Secret, keeps
// the audience and the certificate when they still fit, and renders every
// object the service needs.
func (r *runner) readIdentity(ctx context.Context, caPEM []byte, accounts []string) error {
	o := r.o.Identity
	id := &identitySetup{caPEM: caPEM, accounts: accounts, port: o.Port}
	if id.port == 0 {
		id.port = DefaultTokenServicePort
	}
	r.ident = id
	cm, err := r.c.Core.ConfigMaps(kubeSystem).Get(ctx, TokenServiceName, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("get ConfigMap %s/%s: %w", kubeSystem, TokenServiceName, err)
	}
	if err != nil {
		cm = nil
	}
	if cm != nil && tokenservice.AudienceRE.MatchString(cm.Data[audienceKey]) {
		id.audience = cm.Data[audienceKey]
	} else {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		id.audience = "hybridnode-" + hex.EncodeToString(b)
	}
	sec, err := r.c.Core.Secrets(kubeSystem).Get(ctx, tlsSecretName(), metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("get Secret %s/%s: %w", kubeSystem, tlsSecretName(), err)
	}
	if err != nil {
		sec = nil
	}
	names := append(slices.Clone(o.Addresses), TokenServiceName+"."+kubeSystem+".svc")
	if sec != nil {
		id.newCert = certProblem(sec, names, r.now)
		if id.newCert == "" {
			id.certPEM, id.keyPEM = sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]
		}
	} else {
		id.newCert = "none yet"
	}
	if id.newCert != "" {
		if id.certPEM, id.keyPEM, err = servingCert(names, r.now); err != nil {
			return err
		}
	}
	r.secrets = append(r.secrets, string(id.keyPEM))
	if sec != nil {
		r.secrets = append(r.secrets, string(sec.Data[corev1.TLSPrivateKeyKey]))
	}
	b, _ := pem.Decode(id.certPEM)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return fmt.Errorf("the token service's certificate: %w", err)
	}
	id.pin = report.Pin(cert)
	id.url = "https://" + net.JoinHostPort(o.Addresses[0], strconv.Itoa(id.port))

	objs, err := r.identityObjects(ctx, cm, sec)
	if err != nil {
		return err
	}
	id.objects = objs
	return nil
}

// certProblem is why the TLS Secret's certificate cannot be kept ("" when
// it can): it must parse, match its key, name every address and be valid
// for a year more.
func certProblem(s *corev1.Secret, names []string, now time.Time) string {
	b, _ := pem.Decode(s.Data[corev1.TLSCertKey])
	if b == nil {
		return "its certificate is not PEM"
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return "its certificate does not parse"
	}
	kb, _ := pem.Decode(s.Data[corev1.TLSPrivateKeyKey])
	if kb == nil {
		return "its key is not PEM"
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil || !key.PublicKey.Equal(cert.PublicKey) {
		return "its key is not the certificate's"
	}
	for _, n := range names {
		if cert.VerifyHostname(n) != nil {
			return "its certificate does not name " + n
		}
	}
	if cert.NotAfter.Before(now.Add(365 * 24 * time.Hour)) {
		return "its certificate expires within a year"
	}
	return ""
}

// servingCert is a self-signed ECDSA P-256 certificate for names (DNS names
// or IPs) and its key, PEM.
func servingCert(names []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: TokenServiceName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(certLifetime),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("the token service's certificate: %w", err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), nil
}

func serviceLabels() map[string]string {
	return map[string]string{appLabel: TokenServiceName, "app.kubernetes.io/part-of": "hybridnode"}
}

// withLabels merges setup's labels into an object's.
func withLabels(have map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range have {
		out[k] = v
	}
	for k, v := range serviceLabels() {
		out[k] = v
	}
	return out
}

func showYAML(v any) []byte {
	out, err := yaml.Marshal(v)
	if err != nil {
		return []byte(fmt.Sprintf("(%v)\n", err))
	}
	return out
}

func specHash(v any) string {
	data, _ := json.Marshal(v)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// identityObjects reads each object the service needs and renders it as
// setup wants it.
func (r *runner) identityObjects(ctx context.Context, cm *corev1.ConfigMap, sec *corev1.Secret) ([]*desired, error) {
	id := r.ident
	core := r.c.Core
	var out []*desired

	// The ConfigMap: the audience, the identity CA, the pin and URL nodes get.
	out = append(out, desire(core.ConfigMaps(kubeSystem), "ConfigMap", kubeSystem, TokenServiceName, cm,
		func(w *corev1.ConfigMap) {
			w.Data = map[string]string{audienceKey: id.audience, identityCAKey: string(id.caPEM), pinKey: id.pin, urlKey: id.url}
		},
		func(cur, w *corev1.ConfigMap) bool { return equality.Semantic.DeepEqual(cur.Data, w.Data) },
		func(v *corev1.ConfigMap) []byte { return showYAML(v.Data) }, nil))

	// The TLS Secret.
	out = append(out, desire(core.Secrets(kubeSystem), "Secret", kubeSystem, tlsSecretName(), sec,
		func(w *corev1.Secret) {
			w.Type = corev1.SecretTypeTLS
			w.Data = map[string][]byte{corev1.TLSCertKey: id.certPEM, corev1.TLSPrivateKeyKey: id.keyPEM}
		},
		func(cur, w *corev1.Secret) bool {
			return cur.Type == w.Type && bytes.Equal(cur.Data[corev1.TLSCertKey], id.certPEM) && bytes.Equal(cur.Data[corev1.TLSPrivateKeyKey], id.keyPEM)
		},
		func(s *corev1.Secret) []byte {
			return showYAML(map[string]string{"type": string(s.Type), corev1.TLSCertKey: string(s.Data[corev1.TLSCertKey]), corev1.TLSPrivateKeyKey: redacted})
		}, nil))

	// The ServiceAccount.
	sa, err := r.serviceAccountObject(ctx)
	if err != nil {
		return nil, err
	}
	out = append(out, sa)

	// The namespace of the service's records.
	nsObj, err := current(ctx, core.Namespaces(), "Namespace", "", tokenservice.RecordNamespace)
	if err != nil {
		return nil, err
	}
	out = append(out, desire(core.Namespaces(), "Namespace", "", tokenservice.RecordNamespace, nsObj,
		func(*corev1.Namespace) {},
		func(_, _ *corev1.Namespace) bool { return true },
		func(v *corev1.Namespace) []byte { return showYAML(map[string]any{"labels": v.Labels}) }, nil))

	// Its permissions, no more than it uses (see rbac.go): create and delete
	// bootstrap token Secrets (never read one; the admission policy below
	// narrows the writes to its own tokens), its records, Nodes, CSRs.
	saSubject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: TokenServiceName, Namespace: kubeSystem}}
	for _, g := range tokenServiceGrants(saSubject) {
		objs, err := r.rbacObjects(ctx, g)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	// What the service's tokens may do, as kubeadm's token group may, but
	// for the auto-approval of kubelet client CSRs.
	for _, g := range bootstrapGrants() {
		objs, err := r.rbacObjects(ctx, g)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	// The admission policies: the service's Secret writes, and Nodes held
	// to the provider ID recorded for their name.
	for _, pol := range admissionPolicies() {
		objs, err := r.admissionObjects(ctx, pol)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}

	// The Deployment.
	dep, err := r.deploymentObject(ctx, r.deploymentSpec())
	if err != nil {
		return nil, err
	}
	out = append(out, dep)

	// The Service, when it is exposed through one.
	if r.o.Identity.Expose == ExposeService {
		spec := corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeLoadBalancer,
			Selector:              map[string]string{appLabel: TokenServiceName},
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal, // the client IP for the per-client limit
			Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: int32(id.port),
				TargetPort: intstr.FromInt32(int32(id.port))}},
		}
		hash := specHash(spec)
		svc, err := current(ctx, core.Services(kubeSystem), "Service", kubeSystem, TokenServiceName)
		if err != nil {
			return nil, err
		}
		out = append(out, desire(core.Services(kubeSystem), "Service", kubeSystem, TokenServiceName, svc,
			func(w *corev1.Service) {
				setAnnotation(w, specHashAnnotation, hash)
				// An internal (VPC) load balancer on Alibaba Cloud.
				setAnnotation(w, "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type", "intranet")
				if svc == nil {
					w.Spec = spec
					return
				}
				// Keep what the API server allocated (cluster IP, node ports).
				w.Spec.Type, w.Spec.Selector, w.Spec.ExternalTrafficPolicy = spec.Type, spec.Selector, spec.ExternalTrafficPolicy
				w.Spec.Ports = spec.Ports
				for i := range w.Spec.Ports {
					for _, p := range svc.Spec.Ports {
						if p.Name == w.Spec.Ports[i].Name {
							w.Spec.Ports[i].NodePort = p.NodePort
						}
					}
				}
			},
			func(cur, _ *corev1.Service) bool { return cur.Annotations[specHashAnnotation] == hash },
			func(v *corev1.Service) []byte { return showYAML(map[string]any{"spec": v.Spec}) }, nil))
	}
	return out, nil
}

// serviceAccountObject is the token service's ServiceAccount (setup's
// labels; nothing else of it is setup's).
func (r *runner) serviceAccountObject(ctx context.Context) (*desired, error) {
	core := r.c.Core
	sa, err := current(ctx, core.ServiceAccounts(kubeSystem), "ServiceAccount", kubeSystem, TokenServiceName)
	if err != nil {
		return nil, err
	}
	return desire(core.ServiceAccounts(kubeSystem), "ServiceAccount", kubeSystem, TokenServiceName, sa,
		func(*corev1.ServiceAccount) {},
		func(_, _ *corev1.ServiceAccount) bool { return true },
		func(v *corev1.ServiceAccount) []byte { return showYAML(map[string]any{"labels": v.Labels}) }, nil), nil
}

// deploymentObject is the token service's Deployment with spec, compared
// by the hash of the spec setup last applied (the API server defaults a
// spec's fields, so comparing specs would find a change on every run).
func (r *runner) deploymentObject(ctx context.Context, spec appsv1.DeploymentSpec) (*desired, error) {
	apps := r.c.Apps
	hash := specHash(spec)
	dep, err := current(ctx, apps.Deployments(kubeSystem), "Deployment", kubeSystem, TokenServiceName)
	if err != nil {
		return nil, err
	}
	return desire(apps.Deployments(kubeSystem), "Deployment", kubeSystem, TokenServiceName, dep,
		func(w *appsv1.Deployment) {
			setAnnotation(w, specHashAnnotation, hash)
			w.Spec = spec
		},
		func(cur, _ *appsv1.Deployment) bool { return cur.Annotations[specHashAnnotation] == hash },
		func(v *appsv1.Deployment) []byte { return showYAML(map[string]any{"spec": v.Spec}) }, nil), nil
}

// setAnnotation sets one annotation of o.
func setAnnotation(o metav1.Object, key, value string) {
	a := o.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[key] = value
	o.SetAnnotations(a)
}

// deploymentSpec runs two replicas of `hybridnode-cluster token-service` on
// on-premises nodes (never on cloud or virtual ones: the service is what
// cloud nodes need to join), on their network with hostnetwork.
func (r *runner) deploymentSpec() appsv1.DeploymentSpec {
	id, o := r.ident, r.o.Identity
	port := int32(id.port)
	args := []string{"token-service", "--listen", ":" + strconv.Itoa(id.port),
		"--tls-cert", tlsMount + "/" + corev1.TLSCertKey, "--tls-key", tlsMount + "/" + corev1.TLSPrivateKeyKey,
		"--identity-ca", caMount + "/" + identityCAKey, "--audience", id.audience, "--accounts", strings.Join(id.accounts, ",")}
	if rs := cleanList(o.Regions); len(rs) > 0 {
		args = append(args, "--regions", strings.Join(rs, ","))
	}
	if zs := cleanList(o.Zones); len(zs) > 0 {
		args = append(args, "--zones", strings.Join(zs, ","))
	}
	if o.NodeNameTemplate != "" {
		args = append(args, "--node-name-template", o.NodeNameTemplate)
	}
	if r.o.VPCCIDR != "" {
		args = append(args, "--vpc-cidr", r.o.VPCCIDR)
	}
	replicas := int32(tokenServiceReplicas)
	labels := map[string]string{appLabel: TokenServiceName}
	uid := int64(serviceUID)
	mode := int32(0o440)
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: tokenservice.HealthPath,
		Port: intstr.FromInt32(port), Scheme: corev1.URISchemeHTTPS}}, PeriodSeconds: 10, TimeoutSeconds: 3}
	container := corev1.Container{
		Name: "token-service", Image: o.Image, Command: []string{"hybridnode-cluster"}, Args: args,
		Ports:          []corev1.ContainerPort{{Name: "https", ContainerPort: port, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: probe, LivenessProbe: probe,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: mustQuantity("50m"), corev1.ResourceMemory: mustQuantity("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: mustQuantity("256Mi")},
		},
		SecurityContext: restricted(),
		VolumeMounts:    []corev1.VolumeMount{{Name: "tls", MountPath: tlsMount, ReadOnly: true}, {Name: "identity-ca", MountPath: caMount, ReadOnly: true}},
	}
	hostNetwork := o.Expose != ExposeService
	if hostNetwork {
		container.Ports[0].HostPort = port
	}
	pod := onpremPod(container)
	pod.HostNetwork = hostNetwork
	pod.SecurityContext.FSGroup = &uid
	pod.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
		LabelSelector: &metav1.LabelSelector{MatchLabels: labels}, TopologyKey: "kubernetes.io/hostname"}}}
	pod.Volumes = []corev1.Volume{
		{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: tlsSecretName(), DefaultMode: &mode}}},
		{Name: "identity-ca", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: TokenServiceName}, Items: []corev1.KeyToPath{{Key: identityCAKey, Path: identityCAKey}}}}},
	}
	if hostNetwork {
		pod.DNSPolicy = corev1.DNSClusterFirstWithHostNet
	}
	return appsv1.DeploymentSpec{
		Replicas: &replicas,
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		// One at a time: with host ports, a new Pod needs the old one gone.
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxUnavailable: ptrIntStr(intstr.FromInt32(1)), MaxSurge: ptrIntStr(intstr.FromInt32(0))}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: withLabels(labels), Annotations: map[string]string{
				// A new certificate or CA restarts the Pods.
				"hybridnode.io/config-hash": specHash([]string{id.pin, string(id.caPEM)}),
			}},
			Spec: pod,
		},
	}
}

// onpremPod runs container under the token service's ServiceAccount on an
// on-premises node (never a cloud or virtual one: what cloud nodes need in
// order to join must not run on them), control-plane nodes included.
func onpremPod(container corev1.Container) corev1.PodSpec {
	return corev1.PodSpec{
		ServiceAccountName: TokenServiceName, PriorityClassName: "system-cluster-critical",
		SecurityContext: &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: append([]corev1.NodeSelectorRequirement{
				{Key: "kubernetes.io/os", Operator: corev1.NodeSelectorOpIn, Values: []string{"linux"}}}, exclusions()...)}}}}},
		// Control-plane nodes are on-premises too, and may be all there is.
		Tolerations: []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
		Containers:  []corev1.Container{container},
	}
}

// restricted: non-root, read-only, no privilege, no capability.
func restricted() *corev1.SecurityContext {
	uid, yes, no := int64(serviceUID), true, false
	return &corev1.SecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid, AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

func ptrIntStr(v intstr.IntOrString) *intstr.IntOrString { return &v }

func cleanList(list []string) []string {
	var out []string
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// applyIdentity creates or updates each of the token service's objects.
func (r *runner) applyIdentity(ctx context.Context) error {
	return r.applyObjects(ctx, r.ident.objects)
}

// applyObjects creates or updates each object that is not as setup wants it.
func (r *runner) applyObjects(ctx context.Context, objs []*desired) error {
	id := r.ident
	if id == nil {
		id = &identitySetup{}
	}
	for _, d := range objs {
		if d.same {
			continue
		}
		if d.cur == nil {
			if err := d.create(ctx, r.dry()); err != nil {
				return fmt.Errorf("create %s: %w", d, err)
			}
			what := ""
			if d.kind == "Secret" {
				what = " (a self-signed certificate, pin " + id.pin + ")"
			}
			if d.kind == "ConfigMap" {
				what = " (the cluster's audience " + id.audience + ")"
			}
			r.change("%s %s%s", past(r.o.DryRun, "create", "created"), d, what)
			r.diff(d.kind, "/dev/null", d.String(), nil, d.show(d.want))
			continue
		}
		if err := d.update(ctx, r.dry()); err != nil {
			return fmt.Errorf("update %s: %w", d, err)
		}
		what := ""
		if d.kind == "Secret" && id.newCert != "" {
			what = " (a new certificate, pin " + id.pin + ": " + id.newCert + "; nodes need the new script)"
		}
		r.change("%s %s%s", past(r.o.DryRun, "update", "updated"), d, what)
		r.diff(d.kind, d.String(), d.String(), d.show(d.cur), d.show(d.want))
	}
	return nil
}

// kindVersions: the API version of each kind setup applies (client-go's
// whole scheme would add every API group's types to the binary).
var kindVersions = map[string]schema.GroupVersion{
	"ConfigMap": corev1.SchemeGroupVersion, "Secret": corev1.SchemeGroupVersion, "ServiceAccount": corev1.SchemeGroupVersion,
	"Namespace": corev1.SchemeGroupVersion, "Service": corev1.SchemeGroupVersion,
	"Role": rbacv1.SchemeGroupVersion, "RoleBinding": rbacv1.SchemeGroupVersion,
	"ClusterRole": rbacv1.SchemeGroupVersion, "ClusterRoleBinding": rbacv1.SchemeGroupVersion,
	"Deployment":                appsv1.SchemeGroupVersion,
	"ValidatingAdmissionPolicy": admv1.SchemeGroupVersion, "ValidatingAdmissionPolicyBinding": admv1.SchemeGroupVersion,
}

// manifests prints every object of the token service as setup would apply
// it (setup --dry-run -o yaml): one YAML document each, with its apiVersion
// and kind and without what the API server sets (resourceVersion, uid,
// timestamps, status). The TLS Secret is printed with its key: the stream
// is what a GitOps repository applies. Nothing changes.
func (r *runner) manifests() error {
	var b bytes.Buffer
	for _, d := range r.ident.objects {
		obj := d.want.(runtime.Object).DeepCopyObject()
		gv, ok := kindVersions[d.kind]
		if !ok {
			return fmt.Errorf("%s: no apiVersion known for kind %s", d, d.kind)
		}
		obj.GetObjectKind().SetGroupVersionKind(gv.WithKind(d.kind))
		m := obj.(metav1.Object)
		m.SetResourceVersion("")
		m.SetUID("")
		m.SetCreationTimestamp(metav1.Time{})
		m.SetManagedFields(nil)
		m.SetGeneration(0)
		data, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
		delete(data, "status")
		if md, ok := data["metadata"].(map[string]any); ok {
			delete(md, "creationTimestamp")
		}
		out, err := yaml.Marshal(data)
		if err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
		b.WriteString("---\n")
		b.Write(out)
	}
	_, err := r.out.Write(b.Bytes())
	return err
}
