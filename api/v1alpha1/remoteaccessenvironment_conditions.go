package v1alpha1

// Condition types of a RemoteAccessEnvironment, one per external unit, plus Ready and Synced.
const (
	ConditionGatewayReady      = "GatewayReady"
	ConditionGateReady         = "GateReady"
	ConditionPeeringReady      = "PeeringReady"
	ConditionRoutesReady       = "RoutesReady"
	ConditionNetworkReady      = "NetworkReady"
	ConditionRouterReady       = "RouterReady"
	ConditionDeviceRoutesReady = "DeviceRoutesReady"
	ConditionJunctionReady     = "JunctionReady"
	ConditionFleetReady        = "FleetReady"
	ConditionStackReady        = "StackReady"
	ConditionAssociationReady  = "AssociationReady"
)

// Reasons used in RemoteAccessEnvironment conditions (see docs/troubleshooting.md).
const (
	// ReasonAvailable: the unit exists and matches the spec.
	ReasonAvailable = "Available"
	// ReasonReconcileSuccess: the last pass reached the clouds without error (Synced=True).
	ReasonReconcileSuccess = "ReconcileSuccess"
	// ReasonWaitingForDependency: an earlier unit is not ready yet.
	ReasonWaitingForDependency = "WaitingForDependency"
	// ReasonCreating: the create call was made; the object is not usable yet.
	ReasonCreating = "Creating"
	// ReasonCreatePending: a create whose response was lost may still appear; waiting before creating again.
	ReasonCreatePending = "CreatePending"
	// ReasonUpdating: an update was sent.
	ReasonUpdating = "Updating"
	// ReasonDeleting: deletion is in progress.
	ReasonDeleting = "Deleting"
	// ReasonCredentialsUnavailable: a credentials Secret is missing or incomplete.
	ReasonCredentialsUnavailable = "CredentialsUnavailable"
	// ReasonThrottled: the cloud throttled us; retrying with backoff.
	ReasonThrottled = "Throttled"
	// ReasonAPIError: a cloud call failed with a retryable error (5xx, timeout, network).
	ReasonAPIError = "APIError"
	// ReasonInvalidConfiguration: the cloud rejected the request as invalid (needs a spec change).
	ReasonInvalidConfiguration = "InvalidConfiguration"
	// ReasonGatewayFailed: the VPG reports status failed.
	ReasonGatewayFailed = "GatewayFailed"
	// ReasonGatewayNotFound: the adopted or recorded VPG does not exist.
	ReasonGatewayNotFound = "GatewayNotFound"
	// ReasonPeeringPending: the peering waits for acceptance on AWS.
	ReasonPeeringPending = "PeeringPending"
	// ReasonPeeringFailed: the peering is failed, rejected, expired or deleted on AWS.
	ReasonPeeringFailed = "PeeringFailed"
	// ReasonRouteTableNotFound: a route table in spec.aws.routeTableIds does not exist.
	ReasonRouteTableNotFound = "RouteTableNotFound"
	// ReasonFleetStarting: the fleet is starting.
	ReasonFleetStarting = "FleetStarting"
	// ReasonFleetStopping: the fleet is stopping (to apply a change that needs STOPPED).
	ReasonFleetStopping = "FleetStopping"
	// ReasonFleetErrors: AppStream reports FleetErrors.
	ReasonFleetErrors = "FleetErrors"
	// ReasonUpdateRequiresStop: a change needs a STOPPED fleet and updatePolicy is Never.
	ReasonUpdateRequiresStop = "UpdateRequiresStop"
	// ReasonWaitingForIdle: a change needs a STOPPED fleet and waits for sessions to end (updatePolicy WhenIdle).
	ReasonWaitingForIdle = "WaitingForIdle"
	// ReasonNameConflict: an AppStream object of that name exists and belongs to someone else.
	ReasonNameConflict = "NameConflict"
	// ReasonEndpointNotAllowed: spec.soracom.endpoint or spec.aws.endpoints names a
	// server the manager's --allowed-endpoints does not list; no credential was sent.
	ReasonEndpointNotAllowed = "EndpointNotAllowed"
	// ReasonGateClosed: the spec switches Gate off, so no router can tunnel to the gateway.
	ReasonGateClosed = "GateClosed"
	// ReasonRouterImpaired: EC2 reports a router impaired (a managed one is replaced).
	ReasonRouterImpaired = "RouterImpaired"
	// ReasonRouterNotFound: an existing router (spec.router.existing) does not exist.
	ReasonRouterNotFound = "RouterNotFound"
	// ReasonRouterStopped: an existing router is not running.
	ReasonRouterStopped = "RouterStopped"
	// ReasonRouteConflict: a fleet route table already routes a destination somewhere
	// else, with a route gatestream did not make (it is never overwritten).
	ReasonRouteConflict = "RouteConflict"
	// ReasonCIDROverlap: a DeviceGroup's LAN overlaps the device subnet or another
	// DeviceGroup's LAN on the same environment; it is not routed (the message names both).
	ReasonCIDROverlap = "CIDROverlap"
	// ReasonUnreachable: a hop of the path is broken (the message names the hop and the object to fix).
	ReasonUnreachable = "Unreachable"
	// ReasonUnverified: every observable hop lets traffic through, but a hop could
	// not be observed (the message says which); Ready stays False rather than assume it.
	ReasonUnverified = "Unverified"
	// ReasonNotReady: at least one unit is not ready (Ready=False).
	ReasonNotReady = "NotReady"
	// ReasonOrphaned: deletionPolicy Orphan; nothing outside the cluster is touched.
	ReasonOrphaned = "Orphaned"
)

// Tags gatestream puts on the external objects it creates, so that they are
// found again (instead of created twice) after a crash or a lost response.
const (
	TagOwnerUID = "gatestream.io/owner-uid"
	TagOwner    = "gatestream.io/owner"
	// TagIdentity is the owner's stable identity, "<cluster>/<Kind>/<namespace>/<name>"
	// (the manager's --cluster-name): the same manifests re-applied in a new
	// cluster of that name (new UIDs) adopt these objects instead of creating
	// them again. Absent when the manager runs without a cluster name.
	TagIdentity = "gatestream.io/identity"
	// ReasonOwnedElsewhere: the external object is tagged for the same
	// namespace/name by another cluster (another --cluster-name); it is left alone.
	ReasonOwnedElsewhere = "OwnedElsewhere"
)

// Finalizer guards the external objects of every gatestream kind.
const Finalizer = "access.gatestream.io/finalizer"
