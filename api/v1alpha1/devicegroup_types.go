package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeviceGroupSpec says which SIMs (and which LANs behind cellular routers) are
// reachable through an environment, and names the devices people connect to.
// +kubebuilder:validation:XValidation:rule="(has(self.sims) && size(self.sims) > 0) || has(self.simSelector)",fieldPath=".sims",message="list the group's SIMs in sims, or select them with simSelector (or both)"
// +kubebuilder:validation:XValidation:rule="!has(self.devices) || self.devices.all(d, !has(d.address) || !isIP(d.address) || (has(self.lanRoutes) && self.lanRoutes.exists(r, r.simId == d.simId && isCIDR(r.cidr) && cidr(r.cidr).containsIP(d.address))))",fieldPath=".devices",message="a device with an address sits behind a router: add a lanRoutes entry for its simId whose cidr contains the address"
// +kubebuilder:validation:XValidation:rule="!has(self.devices) || !has(self.sims) || has(self.simSelector) || self.devices.all(d, d.simId in self.sims)",fieldPath=".devices",message="every device's simId must be one of the group's sims"
// +kubebuilder:validation:XValidation:rule="!has(self.lanRoutes) || !has(self.sims) || has(self.simSelector) || self.lanRoutes.all(r, r.simId in self.sims)",fieldPath=".lanRoutes",message="every lanRoutes simId must be one of the group's sims"
// +kubebuilder:validation:XValidation:rule="!has(self.lanRoutes) || self.lanRoutes.all(a, self.lanRoutes.all(b, a.simId == b.simId || !isCIDR(a.cidr) || !isCIDR(b.cidr) || !(cidr(a.cidr).containsIP(cidr(b.cidr).ip()) || cidr(b.cidr).containsIP(cidr(a.cidr).ip()))))",fieldPath=".lanRoutes",message="two lanRoutes overlap: each LAN needs its own range (a gateway routes an address to one SIM)"
// +kubebuilder:validation:XValidation:rule="(has(self.group) && has(self.group.id)) == (has(oldSelf.group) && has(oldSelf.group.id))",fieldPath=".group.id",message="group.id cannot be set, changed or removed after creation; create a new DeviceGroup to use another SORACOM group"
type DeviceGroupSpec struct {
	// EnvironmentRef names the RemoteAccessEnvironment (same namespace) whose gateway the SIMs use.
	// +required
	EnvironmentRef LocalObjectReference `json:"environmentRef"`

	// DeletionPolicy says whether deleting the DeviceGroup unbinds and deletes the
	// SORACOM group and takes its SIMs out (Delete) or leaves everything (Orphan).
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// Group is the SORACOM SIM group.
	// +optional
	Group GroupSpec `json:"group,omitempty"`

	// SIMs are the SIM IDs put in the group.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=10000
	// +kubebuilder:validation:items:Pattern=`^[0-9]{10,22}$`
	// +kubebuilder:validation:items:MaxLength=22
	SIMs []string `json:"sims,omitempty"`

	// SIMSelector puts every SIM whose tags match in the group.
	// +optional
	SIMSelector *SIMSelector `json:"simSelector,omitempty"`

	// Devices are named endpoints people connect to.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	Devices []Device `json:"devices,omitempty"`

	// LANRoutes route a LAN behind a cellular router through that router's SIM
	// (Gate SIM-based routing), so devices on the LAN are reachable without DNAT.
	// +optional
	// +listType=map
	// +listMapKey=simId
	// +kubebuilder:validation:MaxItems=64
	LANRoutes []LANRoute `json:"lanRoutes,omitempty"`

	// ResetSessionsOnChange ends the session of a SIM whose group changed, so it
	// reconnects through the gateway at once instead of at its next reconnect.
	// +optional
	// +kubebuilder:default=true
	ResetSessionsOnChange *bool `json:"resetSessionsOnChange,omitempty"`
}

// GroupSpec is the SORACOM group.
// +kubebuilder:validation:XValidation:rule="has(self.id) == has(oldSelf.id) && (!has(self.id) || self.id == oldSelf.id)",fieldPath=".id",message="group.id cannot be set, changed or removed after creation; create a new DeviceGroup to use another SORACOM group"
type GroupSpec struct {
	// ID adopts an existing SORACOM group instead of creating one. An adopted
	// group is never deleted by gatestream (its binding and members are still managed).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9-]+$`
	ID string `json:"id,omitempty"`

	// Name is the group's name tag in the SORACOM console. Defaults to namespace/name.
	// +optional
	// +kubebuilder:validation:MaxLength=100
	Name string `json:"name,omitempty"`
}

// SIMSelector selects SIMs by their SORACOM tags (all must match).
type SIMSelector struct {
	// Tags that a SIM must carry, with these values.
	// +required
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=10
	Tags map[string]string `json:"tags"`
}

// Device is a named endpoint on a SIM or on a LAN behind a SIM's router.
// +kubebuilder:validation:XValidation:rule="has(self.address) || !has(self.ports) || self.ports.all(p, !has(p.routerPort))",fieldPath=".ports",message="ports[].routerPort is for a device behind a cellular router (with an address): a SIM's own host is reached on its own ports"
type Device struct {
	// Name used in StreamingSession targets.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// SIMID of the device's SIM (or of the router it sits behind).
	// +required
	// +kubebuilder:validation:MaxLength=22
	// +kubebuilder:validation:Pattern=`^[0-9]{10,22}$`
	SIMID string `json:"simId"`

	// Address of a device on a LAN behind the SIM's router. Unset, the device is
	// the SIM's own host and its address is the SIM's session IP.
	// +optional
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="device address must be an IPv4 address such as 192.168.1.20"
	Address string `json:"address,omitempty"`

	// Ports the device serves.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Ports []DevicePort `json:"ports,omitempty"`
}

// DevicePort is a named port of a device.
type DevicePort struct {
	// Name such as ssh, http or rdp.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
	// Port number.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
	// Protocol TCP or UDP.
	// +optional
	// +kubebuilder:default=TCP
	// +kubebuilder:validation:Enum=TCP;UDP
	Protocol string `json:"protocol,omitempty"`
	// RouterPort is the port of the cellular router (the SIM's host) that
	// forwards (DNAT) to this port of the device behind it. Napter reaches
	// only the SIM's host, so a Napter session to a device behind a router
	// needs it; the fleet (through Gate) reaches the device directly.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	RouterPort int32 `json:"routerPort,omitempty"`
}

// LANRoute routes a LAN behind a cellular router through the router's SIM.
type LANRoute struct {
	// SIMID of the router's SIM.
	// +required
	// +kubebuilder:validation:MaxLength=22
	// +kubebuilder:validation:Pattern=`^[0-9]{10,22}$`
	SIMID string `json:"simId"`
	// CIDR of the LAN behind the router.
	// +required
	// +kubebuilder:validation:MaxLength=18
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self).ip().family() == 4",message="lanRoutes cidr must be an IPv4 CIDR such as 192.168.1.0/24"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || string(cidr(self).masked()) == self",messageExpression="'lanRoutes cidr ' + self + ' has host bits set: write the network address of the LAN, such as 192.168.1.0/24 (not 192.168.1.5/24)'"
	CIDR string `json:"cidr"`
}

// DeviceGroupStatus is what gatestream observed.
type DeviceGroupStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Synced, and Conflict when a SIM belongs to another DeviceGroup.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// GroupID of the SORACOM group.
	// +optional
	GroupID string `json:"groupId,omitempty"`

	// Adopted is true when the group came from spec.group.id; it is never deleted.
	// +optional
	Adopted bool `json:"adopted,omitempty"`

	// CreatePendingSince guards the group create like the gateway's (see RemoteAccessEnvironment).
	// +optional
	CreatePendingSince *metav1.Time `json:"createPendingSince,omitempty"`

	// GatewayID the group is bound to (SoracomAir useVpg/vpgId).
	// +optional
	GatewayID string `json:"gatewayId,omitempty"`

	// SIMs counts the group's members.
	// +optional
	SIMs SIMCounts `json:"sims,omitzero"`

	// Members are the SIM IDs gatestream put in the group; only these are ever taken out.
	// +optional
	// +listType=set
	Members []string `json:"members,omitempty"`

	// Devices is the state of each named device.
	// +optional
	// +listType=map
	// +listMapKey=name
	Devices []DeviceStatus `json:"devices,omitempty"`

	// Reachability sums up the devices' paths: "3/3 reachable", or the count and
	// the first unreachable device with its broken hop.
	// +optional
	Reachability string `json:"reachability,omitempty"`
}

// SIMCounts counts SIMs.
type SIMCounts struct {
	// Total SIMs in the group.
	Total int32 `json:"total"`
	// Online SIMs (with a session).
	Online int32 `json:"online"`
}

// DeviceStatus is the observed state of a named device.
type DeviceStatus struct {
	// Name of the device.
	Name string `json:"name"`
	// SIMID of the device's SIM or router.
	// +optional
	SIMID string `json:"simId,omitempty"`
	// Online is whether the SIM has a session.
	Online bool `json:"online"`
	// Address to reach the device at (the SIM's session IP, or its LAN address).
	// +optional
	Address string `json:"address,omitempty"`
	// LastSeen is when the SIM's session was last reported.
	// +optional
	LastSeen *metav1.Time `json:"lastSeen,omitempty"`
	// Reachable: every observable hop from the fleet's subnets to the device
	// lets a TCP connection through (the device's own port cannot be observed).
	Reachable bool `json:"reachable"`
	// Path is "reachable via <router> (<hops>)", or the first broken hop and the object to fix.
	// +optional
	Path string `json:"path,omitempty"`
	// BrokenHop is the first hop that does not let traffic through.
	// +optional
	BrokenHop *Hop `json:"brokenHop,omitempty"`
}

// DeviceGroup is a SORACOM SIM group bound to an environment's gateway, with
// its membership, router LANs and live device status.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dg,categories=gatestream
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="Environment",type=string,JSONPath=`.spec.environmentRef.name`
// +kubebuilder:printcolumn:name="Group",type=string,JSONPath=`.status.groupId`
// +kubebuilder:printcolumn:name="SIMs",type=integer,JSONPath=`.status.sims.total`
// +kubebuilder:printcolumn:name="Online",type=integer,JSONPath=`.status.sims.online`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Reachability",type=string,JSONPath=`.status.reachability`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DeviceGroup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec DeviceGroupSpec `json:"spec"`
	// +optional
	Status DeviceGroupStatus `json:"status,omitempty"`
}

// DeviceGroupList is a list of DeviceGroup.
// +kubebuilder:object:root=true
type DeviceGroupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DeviceGroup `json:"items"`
}

func init() {
	SchemeBuilder.Register(&DeviceGroup{}, &DeviceGroupList{})
}
