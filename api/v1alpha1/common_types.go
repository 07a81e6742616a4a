package v1alpha1

// DeletionPolicy says what happens outside the cluster when the object is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete deletes every external object the resource created.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves every external object in place; only the
	// Kubernetes object goes (works even when the credentials are gone).
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// LocalObjectReference names an object in the same namespace. Such references never cross namespaces
// (only a SecretReference to credentials may, with the Secret's consent).
type LocalObjectReference struct {
	// Name of the object in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
}

// SecretReference names a Secret: in the referring object's namespace, or in
// another namespace whose Secret allows it (the Secret's annotation
// access.gatestream.io/allowed-namespaces lists the referring namespace, like
// a Gateway API ReferenceGrant kept on the Secret itself).
type SecretReference struct {
	// Name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
	// Namespace of the Secret; empty (the default) is the referring object's
	// namespace. A Secret in another namespace is used only while its
	// annotation access.gatestream.io/allowed-namespaces (a comma-separated
	// list of namespaces; "*" is not accepted) names the referring object's
	// namespace, so credentials can live in a namespace the team cannot read
	// and only those who may edit Secrets there decide who uses them.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`
}

// Condition types shared by the kinds.
const (
	// ConditionReady is True when the resource is fully usable.
	ConditionReady = "Ready"
	// ConditionSynced is True when the last reconcile pass reached the external
	// systems without error (Crossplane's meaning), False with the error otherwise.
	ConditionSynced = "Synced"
)

// Annotations understood by the controllers.
const (
	// AnnotationReconcileRequestedAt forces an immediate reconcile when its value
	// changes (any string, conventionally a timestamp), like Argo CD's refresh.
	AnnotationReconcileRequestedAt = "access.gatestream.io/reconcile-requested-at"
	// AnnotationPollInterval overrides the drift poll interval for one object (a Go duration, e.g. "2m").
	AnnotationPollInterval = "access.gatestream.io/poll-interval"
	// AnnotationAllowedNamespaces, on a Secret, lists (comma-separated) the
	// other namespaces whose objects may reference it as credentials
	// (SecretReference.Namespace). Only someone who may edit Secrets in the
	// Secret's namespace can set it; "*" is not accepted.
	AnnotationAllowedNamespaces = "access.gatestream.io/allowed-namespaces"
)

// Labels written by the controllers.
const (
	// LabelManagedBy marks objects (Secrets) created by gatestream; the
	// manager's cache holds only Secrets that carry it.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelManagedByValue is the value of LabelManagedBy.
	LabelManagedByValue = "gatestream"
	// LabelStreamingSession names the StreamingSession a Secret belongs to.
	LabelStreamingSession = "access.gatestream.io/streaming-session"
)
