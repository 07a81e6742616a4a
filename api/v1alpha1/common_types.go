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

// LocalObjectReference names an object in the same namespace. References never cross namespaces.
type LocalObjectReference struct {
	// Name of the object in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
}

// SecretReference names a Secret in the same namespace as the referring object.
type SecretReference struct {
	// Name of the Secret in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
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
