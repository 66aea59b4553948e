package cluster

// TokenServiceName names the token service's objects in kube-system
// (ServiceAccount, Role, ClusterRole, bindings, Deployment, Service, its TLS
// Secret and the ConfigMap holding the cluster's audience).
const TokenServiceName = "hybridnode-token-service"
