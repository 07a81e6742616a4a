// Package controllers holds one reconciler per gatestream kind. Each reconciler
// stays short and delegates to external-resource units (internal/...).
//
// The RBAC markers below are the operator's whole permission set (least
// privilege): its own kinds, the Secrets it writes and the credential Secrets
// it reads, Events, and its leader-election Lease.
//
// +kubebuilder:rbac:groups=access.gatestream.io,resources=remoteaccessenvironments;devicegroups;streamingsessions,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=access.gatestream.io,resources=remoteaccessenvironments/status;devicegroups/status;streamingsessions/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=access.gatestream.io,resources=remoteaccessenvironments/finalizers;devicegroups/finalizers;streamingsessions/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
package controllers
