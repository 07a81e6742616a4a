package v1alpha1

// Condition types of a DeviceGroup besides Ready and Synced.
const (
	// ConditionConflict is True when a wanted SIM sits in a group owned by
	// another DeviceGroup (it is left there), or when the adopted group is
	// already managed by another DeviceGroup.
	ConditionConflict = "Conflict"
	// ConditionGroupReady: the SORACOM group exists (created, found by its
	// owner tag, or adopted) and carries the owner tags.
	ConditionGroupReady = "GroupReady"
	// ConditionBindingReady: the group's SoracomAir useVpg/vpgId send its SIMs
	// to the environment's gateway.
	ConditionBindingReady = "BindingReady"
	// ConditionMembershipReady: every wanted SIM is in the group.
	ConditionMembershipReady = "MembershipReady"
	// (The Gate SIM-based routes of the LANs report ConditionRoutesReady.)
	// ConditionDevicesReachable: every named device is reachable from the
	// environment's fleet, hop by hop (False names the first unreachable device
	// and its broken hop). Informational: an offline device does not make the
	// group not Ready, but a StreamingSession to it waits.
	ConditionDevicesReachable = "DevicesReachable"
)

// Reasons used in DeviceGroup conditions (see docs/devicegroup.md). The
// reasons shared by the kinds (ReasonAvailable, ReasonReconcileSuccess,
// ReasonCredentialsUnavailable, ReasonAPIError, ReasonThrottled,
// ReasonInvalidConfiguration, ReasonDeleting, ReasonOrphaned) are declared
// with the RemoteAccessEnvironment's.
const (
	// ReasonEnvironmentNotFound: spec.environmentRef names no RemoteAccessEnvironment in the namespace.
	ReasonEnvironmentNotFound = "EnvironmentNotFound"
	// ReasonEnvironmentNotReady: the environment is not Ready (or has no gateway yet); waiting, nothing is changed in SORACOM.
	ReasonEnvironmentNotReady = "EnvironmentNotReady"
	// ReasonGroupNotFound: the group named in spec.group.id does not exist.
	ReasonGroupNotFound = "GroupNotFound"
	// ReasonGroupConflict: the adopted group is already managed by another DeviceGroup.
	ReasonGroupConflict = "GroupConflict"
	// ReasonSIMNotFound: a SIM listed in spec.sims does not exist in the SORACOM account.
	ReasonSIMNotFound = "SIMNotFound"
	// ReasonSIMConflict: a wanted SIM sits in a group owned by another DeviceGroup and was left there.
	ReasonSIMConflict = "SIMConflict"
	// ReasonNoConflict: every wanted SIM could be put in the group (Conflict=False).
	ReasonNoConflict = "NoConflict"
	// ReasonDeletionBlocked: deletionPolicy Delete, but the environment or its credentials are gone, so the group cannot be cleaned up.
	ReasonDeletionBlocked = "DeletionBlocked"
)
