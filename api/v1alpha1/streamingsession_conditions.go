package v1alpha1

// Reasons of a StreamingSession's Ready condition (and of its Events). They
// carry a Session prefix in Go so that they cannot collide with the other
// kinds' reasons; the values are the CamelCase strings users see.
const (
	// SessionReasonEnvironmentNotFound: the RemoteAccessEnvironment does not exist (yet). Pending.
	SessionReasonEnvironmentNotFound = "EnvironmentNotFound"
	// SessionReasonEnvironmentNotReady: the environment exists but is not Ready
	// (or has no fleet and stack yet). Pending.
	SessionReasonEnvironmentNotReady = "EnvironmentNotReady"
	// SessionReasonApplicationNotOffered: the Ready environment does not list
	// spec.application in spec.appStream.applications. Failed.
	SessionReasonApplicationNotOffered = "ApplicationNotOffered"
	// SessionReasonDeviceGroupNotFound: the target's DeviceGroup does not exist (yet). Pending.
	SessionReasonDeviceGroupNotFound = "DeviceGroupNotFound"
	// SessionReasonDeviceGroupNotInEnvironment: the DeviceGroup belongs to another environment. Failed.
	SessionReasonDeviceGroupNotInEnvironment = "DeviceGroupNotInEnvironment"
	// SessionReasonDeviceNotFound: the DeviceGroup's spec.devices has no such device. Failed.
	SessionReasonDeviceNotFound = "DeviceNotFound"
	// SessionReasonDeviceAddressUnknown: the device has no address in the DeviceGroup's status yet. Pending.
	SessionReasonDeviceAddressUnknown = "DeviceAddressUnknown"
	// SessionReasonDeviceOffline: the device's SIM has no session. Pending.
	SessionReasonDeviceOffline = "DeviceOffline"
	// SessionReasonDeviceUnreachable: a hop between the fleet and the device is broken, or not checked yet at the device's current address (the environment's status.path.devices names it). Pending.
	SessionReasonDeviceUnreachable = "DeviceUnreachable"
	// SessionReasonLimitReached: the environment's spec.sessionLimits (per user or in total) is reached. Failed.
	SessionReasonLimitReached = "SessionLimitReached"
	// SessionReasonSecretRefused: the API server refused the URL Secret (e.g. spec.secretTemplate
	// annotations over the 256 KiB limit); no URL was delivered. Failed.
	SessionReasonSecretRefused = "SecretRefused"
	// SessionReasonPortNotFound: target.port names a port the device does not list. Failed.
	SessionReasonPortNotFound = "PortNotFound"
	// SessionReasonSecretConflict: a Secret named like the session's URL Secret
	// (<name>-url) exists and is not controlled by the session; gatestream never
	// writes into it or deletes it. Pending.
	SessionReasonSecretConflict = "SecretConflict"
	// SessionReasonMinting: CreateStreamingURL is being called. Not recorded by
	// this version (the URL is minted and recorded in one pass); an older one
	// recorded it with its intent to mint. Pending.
	SessionReasonMinting = "Minting"
	// SessionReasonWaitingForCapacity: the environment's capacity is Demand
	// and no instance is free for this session yet; the fleet is starting or
	// growing, and the message gives the expected wait.
	SessionReasonWaitingForCapacity = "WaitingForCapacity"
	// SessionReasonMintLost: a URL never reached the Secret (the response was
	// lost: one is minted again at once, as the lost one reached nobody), or the
	// Secret lost a delivered URL (nothing is minted again while that URL may
	// still work), or the access window ended before a URL could be delivered
	// (Failed). Pending or Failed.
	SessionReasonMintLost = "MintLost"
	// SessionReasonURLIssued: the URL is in the Secret and can be opened. Ready.
	SessionReasonURLIssued = "URLIssued"
	// SessionReasonURLExpired: the URL expired without being used. Expired.
	SessionReasonURLExpired = "URLExpired"
	// SessionReasonSessionActive: the user started an AppStream session; it runs until the access window ends. Active.
	SessionReasonSessionActive = "SessionActive"
	// SessionReasonAccessEnded: the access window ended and the user's AppStream sessions were ended. Ended.
	SessionReasonAccessEnded = "AccessEnded"
	// SessionReasonRevoked: the session was deleted and the user's AppStream sessions were ended. Revoked.
	SessionReasonRevoked = "Revoked"
	// SessionReasonNapterNotEnabled: a Napter session on an environment whose spec.napter.enabled is not true. Failed.
	SessionReasonNapterNotEnabled = "NapterNotEnabled"
	// SessionReasonSourceRangeNotAllowed: a Napter session asks for a source range outside the environment's
	// spec.napter.allowedSourceRanges. Failed.
	SessionReasonSourceRangeNotAllowed = "SourceRangeNotAllowed"
	// SessionReasonNapterNeedsPortForward: the device is behind a cellular router whose DeviceGroup names no
	// router port for the target port (ports[].routerPort); Napter reaches only the router. Failed.
	SessionReasonNapterNeedsPortForward = "NapterNeedsPortForward"
	// SessionReasonEndpointIssued: the Napter endpoint is in the Secret and open to napter.sourceRanges. Ready.
	SessionReasonEndpointIssued = "EndpointIssued"
	// SessionReasonCredentialsUnavailable: the environment's AWS credentials Secret is missing or incomplete.
	SessionReasonCredentialsUnavailable = "CredentialsUnavailable"
	// SessionReasonAPIError: an AppStream call failed; see the message.
	SessionReasonAPIError = "APIError"
	// SessionReasonThrottled: AppStream (or gatestream's own outbound budget) throttled a call; retried with backoff.
	SessionReasonThrottled = "Throttled"
	// SessionReasonInvalidConfiguration: AppStream refused a call in a way only a change of the environment or account fixes
	// (fleet not running or not associated, permissions, quota); looked at again every minute.
	SessionReasonInvalidConfiguration = "InvalidConfiguration"
)

// StreamingSessionFinalizer is put on a StreamingSession before its URL is
// minted; it is removed after the user's AppStream sessions were ended and the
// Secret deleted.
const StreamingSessionFinalizer = "access.gatestream.io/finalizer"

// Keys of a StreamingSession's Secret.
const (
	// SecretKeyURL is the streaming URL (a bearer credential).
	SecretKeyURL = "url"
	// SecretKeyExpiresAt is when the URL stops working, RFC 3339.
	SecretKeyExpiresAt = "expiresAt"
	// SecretKeyTarget is the device's address:port (or address).
	SecretKeyTarget = "target"
	// SecretKeyEndpoint is a Napter session's endpoint, host:port (no
	// credential: only napter.sourceRanges can connect).
	SecretKeyEndpoint = "endpoint"
	// SecretKeyHost and SecretKeyPort are the endpoint's hostname and port.
	SecretKeyHost = "host"
	SecretKeyPort = "port"
	// SecretKeyTLS is "true" when the endpoint speaks TLS to the client (connect with https).
	SecretKeyTLS = "tls"
)
