package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// StreamingSessionSpec asks for an expiring AppStream streaming URL for one
// person, one application and one device. It is immutable: to change anything,
// create a new session.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a StreamingSession's spec is immutable; delete it and create a new one"
// +kubebuilder:validation:XValidation:rule="(has(self.via) && self.via == 'Napter') || has(self.application)",fieldPath=".application",message="application is required: name one of the environment's spec.appStream.applications (or set via: Napter for a direct port mapping)"
// +kubebuilder:validation:XValidation:rule="!has(self.via) || self.via != 'Napter' || (has(self.napter) && has(self.target) && has(self.target.port))",fieldPath=".napter",message="via: Napter needs napter.sourceRanges and a target with a port: Napter maps one port of the device to the internet"
// +kubebuilder:validation:XValidation:rule="(has(self.via) && self.via == 'Napter') || !has(self.napter)",fieldPath=".napter",message="napter applies only with via: Napter"
// +kubebuilder:validation:XValidation:rule="!has(self.via) || self.via != 'Napter' || !has(self.accessWindow) || !self.accessWindow.matches('^([0-9]+([.][0-9]+)?(h|m|s|ms))+$') || duration(self.accessWindow) <= duration('8h')",fieldPath=".accessWindow",message="a Napter session's accessWindow must be at most 8h: SORACOM ends a port mapping after 8 hours"
type StreamingSessionSpec struct {
	// EnvironmentRef names the RemoteAccessEnvironment (same namespace).
	// +required
	EnvironmentRef LocalObjectReference `json:"environmentRef"`

	// UserID is the AppStream user the URL is for: 2–32 characters of letters,
	// digits and + = , . @ - _. It must be the requester's own name unless an
	// admin creates the session (enforced by the admission policy).
	// +required
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[\w+=,.@-]+$`
	UserID string `json:"userId"`

	// Via is how the person connects: AppStream (a streaming URL to the
	// environment's fleet; the default) or Napter (a SORACOM Napter port
	// mapping on the internet straight to the device's port, open to
	// napter.sourceRanges for the access window).
	// +optional
	// +kubebuilder:default=AppStream
	Via AccessVia `json:"via,omitempty"`

	// Application to open: one of the environment's spec.appStream.applications
	// (required with via AppStream; unused with Napter).
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$`
	Application string `json:"application,omitempty"`

	// Napter is the port mapping of a session with via: Napter.
	// +optional
	Napter *NapterAccess `json:"napter,omitempty"`

	// Target is the device to reach; its address is passed to the application as session context.
	// +optional
	Target *SessionTarget `json:"target,omitempty"`

	// URLValidity is how long the URL can be opened (1s to 168h).
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(h|m|s|ms))+$')",messageExpression="'urlValidity ' + self + ' is not a duration: write hours, minutes and seconds with the units h, m, s, such as 5m or 1h30m'"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(h|m|s|ms))+$') || (duration(self) >= duration('1s') && duration(self) <= duration('168h'))",messageExpression="'urlValidity ' + self + ' must be between 1s and 168h (7 days), such as 5m'"
	URLValidity metav1.Duration `json:"urlValidity,omitempty"`

	// AccessWindow is how long access lasts from when the URL is issued; at its
	// end the user's AppStream sessions on the stack are ended (1m to 120h).
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(h|m|s|ms))+$')",messageExpression="'accessWindow ' + self + ' is not a duration: write hours, minutes and seconds with the units h, m, s, such as 1h or 8h'"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(h|m|s|ms))+$') || (duration(self) >= duration('1m') && duration(self) <= duration('120h'))",messageExpression="'accessWindow ' + self + ' must be between 1m and 120h (5 days), such as 1h'"
	AccessWindow metav1.Duration `json:"accessWindow,omitempty"`

	// TTLAfterFinished deletes the session (and its Secret) this long after it
	// finished (Expired, Ended, Revoked or Failed). Unset keeps it.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(h|m|s|ms))+$')",messageExpression="'ttlAfterFinished ' + self + ' is not a duration: write hours, minutes and seconds with the units h, m, s, such as 24h or 30m'"
	TTLAfterFinished *metav1.Duration `json:"ttlAfterFinished,omitempty"`

	// SecretTemplate adds labels and annotations to the Secret that holds the URL.
	// +optional
	SecretTemplate *SecretTemplate `json:"secretTemplate,omitempty"`
}

// AccessVia is how a person connects to the device.
// +kubebuilder:validation:Enum=AppStream;Napter
type AccessVia string

const (
	// ViaAppStream: a streaming URL to the environment's fleet, which reaches the device through Gate.
	ViaAppStream AccessVia = "AppStream"
	// ViaNapter: a SORACOM Napter port mapping from the internet to the device's port.
	ViaNapter AccessVia = "Napter"
)

// NapterAccess is a Napter session's mapping.
type NapterAccess struct {
	// SourceRanges are the internet addresses (IPv4 CIDRs) allowed to
	// connect, such as the person's office 203.0.113.0/24; the portal sets
	// the person's own address (/32).
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:items:MaxLength=18
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c) && cidr(c).ip().family() == 4 && string(cidr(c).masked()) == c)",message="napter.sourceRanges must be IPv4 network addresses in CIDR form, such as 203.0.113.0/24 or 198.51.100.7/32"
	SourceRanges []string `json:"sourceRanges"`

	// TLS makes Napter accept TLS from the client and speak plain TCP to the
	// device (for a device that serves plain HTTP): the client connects with https.
	// +optional
	// +kubebuilder:default=false
	TLS bool `json:"tls,omitempty"`
}

// SessionTarget is a device of a DeviceGroup.
type SessionTarget struct {
	// DeviceGroup name (same namespace).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	DeviceGroup string `json:"deviceGroup"`
	// Device name in the DeviceGroup's spec.devices.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Device string `json:"device"`
	// Port is a port name of the device (ssh) or a number (22).
	// +optional
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == string ? self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') : (self >= 1 && self <= 65535)",message="target.port must be a port name such as ssh or a number between 1 and 65535"
	Port *intstr.IntOrString `json:"port,omitempty"`
}

// SecretTemplate is metadata copied to the Secret.
type SecretTemplate struct {
	// Labels: Kubernetes label keys and values (the API server refuses others
	// when the Secret is written, so they are refused here, at admission).
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, !format.qualifiedName().validate(k).hasValue())",message="every secretTemplate.labels key must be a Kubernetes label key: an optional DNS prefix and /, then up to 63 letters, digits, -, _ or . starting and ending with a letter or digit, such as team or example.com/team"
	Labels map[string]LabelValue `json:"labels,omitempty"`
	// Annotations: Kubernetes annotation keys (any value).
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, !format.qualifiedName().validate(k).hasValue())",message="every secretTemplate.annotations key must be a Kubernetes annotation key: an optional DNS prefix and /, then up to 63 letters, digits, -, _ or . starting and ending with a letter or digit, such as example.com/ticket"
	Annotations map[string]string `json:"annotations,omitempty"`
}

// LabelValue is a Kubernetes label value: up to 63 letters, digits, -, _ or
// ., starting and ending with a letter or digit (or empty).
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`
type LabelValue string

// SessionPhase is where a StreamingSession is in its life.
// +kubebuilder:validation:Enum=Pending;Ready;Active;Expired;Ended;Revoked;Failed
type SessionPhase string

const (
	// SessionPending waits for the environment or the target.
	SessionPending SessionPhase = "Pending"
	// SessionReady has a URL that can still be opened.
	SessionReady SessionPhase = "Ready"
	// SessionActive: the URL expired after the user started a streaming session, which goes on until the access window ends.
	SessionActive SessionPhase = "Active"
	// SessionExpired: the URL expired unused.
	SessionExpired SessionPhase = "Expired"
	// SessionEnded: the access window ended and the user's sessions were ended.
	SessionEnded SessionPhase = "Ended"
	// SessionRevoked: the session was deleted before its window ended and the user's sessions were ended.
	SessionRevoked SessionPhase = "Revoked"
	// SessionFailed cannot be served (unknown application or device, or a lost URL); create a new session.
	SessionFailed SessionPhase = "Failed"
)

// StreamingSessionStatus is what gatestream did.
type StreamingSessionStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Phase of the session.
	// +optional
	Phase SessionPhase `json:"phase,omitempty"`

	// SecretName holds the URL (keys url, expiresAt, target). The URL is never in status.
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// MintRequestedAt is no longer written: gatestream mints a URL and records
	// it in one pass. Older versions wrote their intent to mint here before
	// calling CreateStreamingURL; a session that still carries it starts its
	// access window then. Kept so that their objects stay valid.
	// +optional
	MintRequestedAt *metav1.Time `json:"mintRequestedAt,omitempty"`

	// URLExpiresAt is when the URL stops working.
	// +optional
	URLExpiresAt *metav1.Time `json:"urlExpiresAt,omitempty"`

	// AccessEndsAt is when the user's AppStream sessions are ended.
	// +optional
	AccessEndsAt *metav1.Time `json:"accessEndsAt,omitempty"`

	// FinishedAt is when the session reached Expired, Ended, Revoked or Failed.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`

	// Target is the resolved device address.
	// +optional
	Target *ResolvedTarget `json:"target,omitempty"`

	// Napter is the port mapping of a Napter session (what gatestream made,
	// so that it deletes exactly that). The endpoint is no credential: only
	// napter.sourceRanges can connect to it.
	// +optional
	Napter *NapterStatus `json:"napter,omitempty"`
}

// NapterStatus is a Napter session's port mapping.
type NapterStatus struct {
	// Endpoint is the mapping's global address and port, "ip:port" (its ID).
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// Hostname of the endpoint.
	// +optional
	Hostname string `json:"hostname,omitempty"`
	// SIMID and Port are where the mapping leads (the device's SIM, or its router's).
	// +optional
	SIMID string `json:"simId,omitempty"`
	// +optional
	Port int32 `json:"port,omitempty"`
	// ExpiresAt is when SORACOM deletes the mapping.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// Deleted is true once gatestream deleted the mapping (or found it gone).
	// +optional
	Deleted bool `json:"deleted,omitempty"`
}

// ResolvedTarget is the address a session's target resolved to.
type ResolvedTarget struct {
	// Address of the device.
	Address string `json:"address"`
	// Port number, if the target named one.
	// +optional
	Port int32 `json:"port,omitempty"`
}

// StreamingSession mints an expiring AppStream streaming URL into a Secret for
// one person and one device, and ends the person's AppStream sessions when the
// access window ends or the session is deleted.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ss;stream,categories=gatestream
// +kubebuilder:printcolumn:name="User",type=string,JSONPath=`.spec.userId`
// +kubebuilder:printcolumn:name="Device",type=string,JSONPath=`.spec.target.device`
// +kubebuilder:printcolumn:name="Via",type=string,JSONPath=`.spec.via`
// +kubebuilder:printcolumn:name="App",type=string,JSONPath=`.spec.application`,priority=1
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="URL-Expires",type=string,JSONPath=`.status.urlExpiresAt`,description="When the URL stops working (future times as timestamps: a date column would print <invalid>)"
// +kubebuilder:printcolumn:name="Access-Ends",type=string,JSONPath=`.status.accessEndsAt`,priority=1
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.status.secretName`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type StreamingSession struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec StreamingSessionSpec `json:"spec"`
	// +optional
	Status StreamingSessionStatus `json:"status,omitempty"`
}

// StreamingSessionList is a list of StreamingSession.
// +kubebuilder:object:root=true
type StreamingSessionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []StreamingSession `json:"items"`
}

func init() {
	SchemeBuilder.Register(&StreamingSession{}, &StreamingSessionList{})
}
