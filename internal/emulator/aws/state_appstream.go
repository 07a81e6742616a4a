package aws

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AppStream behaviour on protocol-neutral types. Input structs use the
// model's member names as Go field names, so the JSON layer (and a future
// CBOR layer) decode straight into them. Where the reference
// (shared/reference/appstream-api.md) marks a behaviour UNCONFIRMED, the
// choice made here is commented "GUESS".

// Fleet states.
const (
	FleetStarting = "STARTING"
	FleetRunning  = "RUNNING"
	FleetStopping = "STOPPING"
	FleetStopped  = "STOPPED"
)

// Session states.
const (
	SessionActive  = "ACTIVE"
	SessionPending = "PENDING"
	SessionExpired = "EXPIRED"
)

// AppStream error codes.
const (
	ErrResourceNotFound            = "ResourceNotFoundException"
	ErrResourceAlreadyExists       = "ResourceAlreadyExistsException"
	ErrResourceInUse               = "ResourceInUseException"
	ErrResourceNotAvailable        = "ResourceNotAvailableException"
	ErrConcurrentModification      = "ConcurrentModificationException"
	ErrOperationNotPermitted       = "OperationNotPermittedException"
	ErrInvalidParameterCombination = "InvalidParameterCombinationException"
	ErrLimitExceeded               = "LimitExceededException"
	ErrInvalidAccountStatus        = "InvalidAccountStatusException"
	ErrInvalidRole                 = "InvalidRoleException"
	// ErrValidation is the AWS common error for model constraint violations
	// (pattern, length, enum). The reference leaves the exact code for pattern
	// violations UNCONFIRMED; ValidationException with the Coral-style message
	// is what AWS JSON services return for model constraints.
	ErrValidation = "ValidationException"
)

// OpOpenStreamingURL names a GET of a streaming URL in the fault injector and call log.
const OpOpenStreamingURL = "OpenStreamingURL"

var (
	nameRe    = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$`)
	userIDRe  = regexp.MustCompile(`^[\w+=,.@-]*$`)
	arnRe     = regexp.MustCompile(`^arn:aws(?:\-cn|\-iso\-b|\-iso|\-us\-gov)?:[A-Za-z0-9][A-Za-z0-9_/.-]{0,62}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9][A-Za-z0-9:_/+=,@.\\-]*$`) // {0,1023}: RE2 allows at most 1000, checked in checkArn
	roleArnRe = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$`)
	tagKeyRe  = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)
	tagValRe  = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// Enumerations from the model.
var (
	fleetTypes   = []string{"ALWAYS_ON", "ON_DEMAND", "ELASTIC"}
	streamViews  = []string{"APP", "DESKTOP"}
	platforms    = []string{"WINDOWS", "WINDOWS_SERVER_2016", "WINDOWS_SERVER_2019", "WINDOWS_SERVER_2022", "WINDOWS_SERVER_2025", "AMAZON_LINUX2", "RHEL8", "ROCKY_LINUX8", "UBUNTU_PRO_2404"}
	userActions  = []string{"CLIPBOARD_COPY_FROM_LOCAL_DEVICE", "CLIPBOARD_COPY_TO_LOCAL_DEVICE", "FILE_UPLOAD", "FILE_DOWNLOAD", "PRINTING_TO_LOCAL_DEVICE", "DOMAIN_PASSWORD_SIGNIN", "DOMAIN_SMART_CARD_SIGNIN", "AUTO_TIME_ZONE_REDIRECTION"}
	permissions  = []string{"ENABLED", "DISABLED"}
	authTypes    = []string{"API", "SAML", "USERPOOL", "AWS_AD"}
	imageTypes   = []string{"PUBLIC", "PRIVATE", "SHARED"}
	fleetAttrDel = []string{"VPC_CONFIGURATION", "VPC_CONFIGURATION_SECURITY_GROUP_IDS", "DOMAIN_JOIN_INFO", "IAM_ROLE_ARN", "USB_DEVICE_FILTER_STRINGS", "SESSION_SCRIPT_S3_LOCATION", "MAX_SESSIONS_PER_INSTANCE", "VOLUME_CONFIGURATION"}
	stackAttrDel = []string{"STORAGE_CONNECTORS", "STORAGE_CONNECTOR_HOMEFOLDERS", "STORAGE_CONNECTOR_GOOGLE_DRIVE", "STORAGE_CONNECTOR_ONE_DRIVE", "REDIRECT_URL", "FEEDBACK_URL", "THEME_NAME", "USER_SETTINGS", "EMBED_HOST_DOMAINS", "IAM_ROLE_ARN", "ACCESS_ENDPOINTS", "STREAMING_EXPERIENCE_SETTINGS", "CONTENT_REDIRECTION", "AGENT_ACCESS_CONFIG"}
	connectors   = []string{"HOMEFOLDERS", "GOOGLE_DRIVE", "ONE_DRIVE"}
)

// ---- shared input/output types ----

// ComputeCapacity is the requested capacity of a fleet.
type ComputeCapacity struct {
	DesiredInstances *int32 `json:",omitempty"`
	DesiredSessions  *int32 `json:",omitempty"`
}

// ComputeCapacityStatus is the fleet's capacity as DescribeFleets reports it.
type ComputeCapacityStatus struct {
	Desired, Running, InUse, Available int32
	// Multi-session fleets only (MaxSessionsPerInstance set).
	DesiredUserSessions, AvailableUserSessions, ActiveUserSessions, ActualUserSessions *int32
}

// VpcConfig places a fleet in subnets with security groups.
type VpcConfig struct {
	SubnetIds        []string `json:",omitempty"`
	SecurityGroupIds []string `json:",omitempty"`
}

// DomainJoinInfo joins fleet instances to a directory.
type DomainJoinInfo struct {
	DirectoryName                       *string `json:",omitempty"`
	OrganizationalUnitDistinguishedName *string `json:",omitempty"`
}

// S3Location is a bucket and key.
type S3Location struct {
	S3Bucket *string `json:",omitempty"`
	S3Key    *string `json:",omitempty"`
}

// VolumeConfig is the root volume size.
type VolumeConfig struct {
	VolumeSizeInGb *int32 `json:",omitempty"`
}

// FleetError is one entry of Fleet.FleetErrors.
type FleetError struct {
	ErrorCode    string
	ErrorMessage string
}

// Fleet is an AppStream fleet as DescribeFleets reports it.
type Fleet struct {
	Arn, Name, DisplayName, Description string
	ImageName, ImageArn, InstanceType   string
	FleetType, State                    string
	ComputeCapacityStatus               ComputeCapacityStatus
	MaxUserDurationInSeconds            int32
	DisconnectTimeoutInSeconds          int32
	IdleDisconnectTimeoutInSeconds      int32
	VpcConfig                           *VpcConfig
	CreatedTime                         time.Time
	FleetErrors                         []FleetError
	EnableDefaultInternetAccess         bool
	DomainJoinInfo                      *DomainJoinInfo
	IamRoleArn, StreamView, Platform    string
	MaxConcurrentSessions               *int32
	MaxSessionsPerInstance              *int32
	UsbDeviceFilterStrings              []string
	SessionScriptS3Location             *S3Location
	RootVolumeConfig                    *VolumeConfig
	DisableIMDSV1                       bool
}

type fleetRec struct {
	Fleet
	desiredInstances int32
	desiredSessions  int32
	transitionAt     time.Time // STARTING -> RUNNING or STOPPING -> STOPPED
	eniSeq           int
	// Capacity (state_appstream_capacity.go): instances running (in use or
	// available) and pending; usage integrated up to usageAt.
	running int32
	pending []pendingBatch
	usage   FleetUsage
	usageAt time.Time
}

// FleetInput is the body of CreateFleet and UpdateFleet (members of both).
type FleetInput struct {
	Name, ImageName, ImageArn, InstanceType, FleetType *string
	ComputeCapacity                                    *ComputeCapacity
	VpcConfig                                          *VpcConfig
	MaxUserDurationInSeconds                           *int32
	DisconnectTimeoutInSeconds                         *int32
	IdleDisconnectTimeoutInSeconds                     *int32
	Description, DisplayName                           *string
	EnableDefaultInternetAccess                        *bool
	DomainJoinInfo                                     *DomainJoinInfo
	Tags                                               map[string]string
	IamRoleArn, StreamView, Platform                   *string
	MaxConcurrentSessions                              *int32
	UsbDeviceFilterStrings                             []string
	SessionScriptS3Location                            *S3Location
	MaxSessionsPerInstance                             *int32
	RootVolumeConfig                                   *VolumeConfig
	DisableIMDSV1                                      *bool
	AttributesToDelete                                 []string // UpdateFleet only
	DeleteVpcConfig                                    *bool    // UpdateFleet only, deprecated
}

// UserSetting is a stack's permission for one action.
type UserSetting struct {
	Action        *string `json:",omitempty"`
	Permission    *string `json:",omitempty"`
	MaximumLength *int32  `json:",omitempty"`
}

// StorageConnector is a stack's persistent storage option.
type StorageConnector struct {
	ConnectorType              *string  `json:",omitempty"`
	ResourceIdentifier         *string  `json:",omitempty"`
	Domains                    []string `json:",omitempty"`
	DomainsRequireAdminConsent []string `json:",omitempty"`
}

// ApplicationSettings enables application settings persistence.
type ApplicationSettings struct {
	Enabled       *bool
	SettingsGroup *string
}

// ApplicationSettingsResponse is ApplicationSettings as read back.
type ApplicationSettingsResponse struct {
	Enabled       bool
	SettingsGroup string
	S3BucketName  string
}

// AccessEndpoint is an interface VPC endpoint for streaming.
type AccessEndpoint struct {
	EndpointType *string `json:",omitempty"`
	VpceId       *string `json:",omitempty"`
}

// StreamingExperienceSettings selects the streaming protocol.
type StreamingExperienceSettings struct {
	PreferredProtocol *string `json:",omitempty"`
}

// StackError is one entry of Stack.StackErrors.
type StackError struct {
	ErrorCode    string
	ErrorMessage string
}

// Stack is an AppStream stack as DescribeStacks reports it.
type Stack struct {
	Arn, Name, Description, DisplayName string
	CreatedTime                         time.Time
	StorageConnectors                   []StorageConnector
	RedirectURL, FeedbackURL            string
	StackErrors                         []StackError
	UserSettings                        []UserSetting
	ApplicationSettings                 *ApplicationSettingsResponse
	AccessEndpoints                     []AccessEndpoint
	EmbedHostDomains                    []string
	StreamingExperienceSettings         *StreamingExperienceSettings
}

type stackRec struct {
	Stack
	userSettings map[string]UserSetting // as sent; read back with defaults
}

// StackInput is the body of CreateStack and UpdateStack.
type StackInput struct {
	Name, Description, DisplayName *string
	StorageConnectors              []StorageConnector
	RedirectURL, FeedbackURL       *string
	UserSettings                   []UserSetting
	ApplicationSettings            *ApplicationSettings
	Tags                           map[string]string
	AccessEndpoints                []AccessEndpoint
	EmbedHostDomains               []string
	StreamingExperienceSettings    *StreamingExperienceSettings
	AttributesToDelete             []string // UpdateStack only
	DeleteStorageConnectors        *bool    // UpdateStack only, deprecated
}

// Application is an app of an image; its Name is a valid ApplicationId.
type Application struct {
	Name        string
	DisplayName string
	Enabled     bool // AddImage sets it
}

// Image is an AppStream image as DescribeImages reports it.
type Image struct {
	Name, Arn, DisplayName, State, Visibility, Platform, ImageType string
	CreatedTime                                                    time.Time
	Applications                                                   []Application
}

// Session is a streaming session.
type Session struct {
	Id, UserId, StackName, FleetName string
	State, ConnectionState           string
	StartTime, MaxExpirationTime     time.Time
	AuthenticationType               string
	InstanceId                       string
	EniPrivateIpAddress, EniId       string
	// Emulator-only (not on the wire): what the streaming URL carried.
	ApplicationId, SessionContext string
	// Emulator-only: the fleet subnet that EniPrivateIpAddress belongs to.
	SubnetId string
}

type assocKey struct{ fleet, stack string }

// ---- seeding and inspection ----

// AddImage adds (or replaces) a private image in state (e.g. "AVAILABLE") with applications.
func (w *World) AddImage(name string, state string, apps ...Application) {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := make([]Application, len(apps))
	for i, a := range apps {
		a.Enabled = true
		if a.DisplayName == "" {
			a.DisplayName = a.Name
		}
		list[i] = a
	}
	w.images[name] = &Image{
		Name: name, Arn: w.arn("image", name), DisplayName: name, State: state,
		Visibility: "PRIVATE", Platform: "WINDOWS_SERVER_2022", ImageType: "CUSTOM",
		CreatedTime: w.clock.Now(), Applications: list,
	}
}

// RemoveImage deletes an image; fleets using it get IMAGE_NOT_FOUND at their next start.
func (w *World) RemoveImage(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.images, name)
	delete(w.tags, w.arn("image", name))
}

// SetSubnetBroken makes fleets in the subnet get FleetErrors {code, message}
// when they start (e.g. "NETWORK_INTERFACE_LIMIT_EXCEEDED"). An empty code repairs it.
func (w *World) SetSubnetBroken(subnetID string, code, message string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if code == "" {
		delete(w.broken, subnetID)
		return
	}
	w.broken[subnetID] = FleetError{ErrorCode: code, ErrorMessage: message}
}

// Fleets returns every fleet, sorted by name.
func (w *World) Fleets() []Fleet {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	var out []Fleet
	for _, n := range sortedKeys(w.fleets) {
		out = append(out, w.fleetView(w.fleets[n]))
	}
	return out
}

// Stacks returns every stack, sorted by name.
func (w *World) Stacks() []Stack {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Stack
	for _, n := range sortedKeys(w.stacks) {
		out = append(out, w.stackView(w.stacks[n]))
	}
	return out
}

// Sessions returns every session, expired ones included, by start time.
func (w *World) Sessions() []Session {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	return w.sortedSessions(func(*Session) bool { return true })
}

// Tags returns the tags of an AppStream ARN.
func (w *World) Tags(arn string) map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return copyMap(w.tags[arn])
}

// Associations returns "fleet/stack" pairs, sorted.
func (w *World) Associations() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for k := range w.assoc {
		out = append(out, k.fleet+"/"+k.stack)
	}
	sort.Strings(out)
	return out
}

func (w *World) arn(kind, name string) string {
	return fmt.Sprintf("arn:aws:appstream:%s:%s:%s/%s", w.region, w.account, kind, name)
}

// ---- fleets ----

// fleetErrors is what keeps a fleet from starting in this world.
func (w *World) fleetErrors(f *fleetRec) []FleetError {
	var errs []FleetError
	if _, ok := w.images[f.ImageName]; !ok {
		errs = append(errs, FleetError{"IMAGE_NOT_FOUND", fmt.Sprintf("The image %s was not found.", f.ImageName)})
	}
	if f.VpcConfig != nil {
		for _, s := range f.VpcConfig.SubnetIds {
			if e, ok := w.broken[s]; ok {
				errs = append(errs, e)
			} else if _, ok := w.subnets[s]; !ok {
				errs = append(errs, FleetError{"SUBNET_NOT_FOUND", fmt.Sprintf("The subnet ID '%s' does not exist", s)})
			}
		}
		var missing []string
		for _, g := range f.VpcConfig.SecurityGroupIds {
			if _, ok := w.sgs[g]; !ok {
				missing = append(missing, g)
			}
		}
		if len(missing) > 0 {
			errs = append(errs, FleetError{"SECURITY_GROUPS_NOT_FOUND", fmt.Sprintf("The security group(s) %s do not exist", strings.Join(missing, ", "))})
		}
	}
	return errs
}

func (w *World) fleetView(f *fleetRec) Fleet {
	out := f.Fleet
	c := ComputeCapacityStatus{Desired: f.desiredCount()}
	multi := f.MaxSessionsPerInstance != nil && f.desiredSessions > 0
	inUse := w.liveSessions(f)
	switch {
	case f.FleetType == "ELASTIC":
		// No instance capacity (GUESS: zeros rather than no ComputeCapacityStatus,
		// which the model requires); MaxConcurrentSessions bounds the sessions.
		c = ComputeCapacityStatus{}
	case f.State == FleetRunning:
		c.Running = f.running
		if multi {
			per := *f.MaxSessionsPerInstance
			c.InUse = min(w.instancesInUse(f), c.Running)
			c.Available = c.Running - c.InUse
			ds, as, act, actual := f.desiredSessions, max(c.Running*per-inUse, 0), inUse, c.Running*per
			c.DesiredUserSessions, c.AvailableUserSessions, c.ActiveUserSessions, c.ActualUserSessions = &ds, &as, &act, &actual
		} else {
			c.InUse = min(inUse, c.Running)
			c.Available = c.Running - c.InUse
		}
	case multi:
		ds, zero := f.desiredSessions, int32(0)
		c.DesiredUserSessions, c.AvailableUserSessions, c.ActiveUserSessions, c.ActualUserSessions = &ds, &zero, &zero, &zero
	}
	out.ComputeCapacityStatus = c
	out.VpcConfig = cloneVpc(f.VpcConfig)
	out.FleetErrors = slices.Clone(f.FleetErrors)
	out.UsbDeviceFilterStrings = slices.Clone(f.UsbDeviceFilterStrings)
	return out
}

func cloneVpc(v *VpcConfig) *VpcConfig {
	if v == nil {
		return nil
	}
	return &VpcConfig{SubnetIds: slices.Clone(v.SubnetIds), SecurityGroupIds: slices.Clone(v.SecurityGroupIds)}
}

func (w *World) checkAccount() *APIError {
	if w.suspended {
		return apiErr(ErrInvalidAccountStatus, "The resource cannot be created because your AWS account is suspended. For assistance, contact AWS Support.")
	}
	return nil
}

// validation helpers (model constraints -> ValidationException)

func vErr(field, value, constraint string) *APIError {
	return apiErr(ErrValidation, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, field, constraint)
}

func checkName(field string, v *string, required bool) *APIError {
	if v == nil {
		if required {
			return apiErr(ErrValidation, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
		}
		return nil
	}
	if !nameRe.MatchString(*v) {
		return vErr(field, *v, "Member must satisfy regular expression pattern: ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$")
	}
	return nil
}

func checkRequired(field string, v *string) *APIError {
	if v == nil || *v == "" {
		return apiErr(ErrValidation, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	return nil
}

func checkMaxLen(field string, v *string, max int) *APIError {
	if v != nil && len(*v) > max {
		return vErr(field, *v, fmt.Sprintf("Member must have length less than or equal to %d", max))
	}
	return nil
}

func checkEnum(field string, v *string, values []string) *APIError {
	if v != nil && !slices.Contains(values, *v) {
		return vErr(field, *v, "Member must satisfy enum value set: ["+strings.Join(values, ", ")+"]")
	}
	return nil
}

func checkArn(field string, v *string) *APIError {
	if v != nil && (!arnRe.MatchString(*v) || len(strings.SplitN(*v, ":", 6)[5]) > 1024) {
		return vErr(field, *v, "Member must satisfy regular expression pattern: ^arn:aws(?:\\-cn|\\-iso\\-b|\\-iso|\\-us\\-gov)?:[A-Za-z0-9][A-Za-z0-9_/.-]{0,62}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9][A-Za-z0-9:_/+=,@.\\\\-]{0,1023}$")
	}
	return nil
}

func checkTags(tags map[string]string) *APIError {
	if tags == nil {
		return nil
	}
	if len(tags) < 1 || len(tags) > 50 {
		return vErr("tags", fmt.Sprint(len(tags)), "Member must have length between 1 and 50")
	}
	for k, v := range tags {
		if len(k) < 1 || len(k) > 128 || !tagKeyRe.MatchString(k) || strings.HasPrefix(k, "aws:") {
			return vErr("tags", k, "Member must satisfy regular expression pattern: ^(^(?!aws:).[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$")
		}
		if len(v) > 256 || !tagValRe.MatchString(v) {
			return vErr("tags."+k, v, "Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$")
		}
	}
	return nil
}

func i32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// imageNameOf resolves ImageName/ImageArn to an image name.
func imageNameOf(name, arn *string) (string, *APIError) {
	switch {
	case name == nil && arn == nil:
		// GUESS (code): TFI-21465 reports a failure "indicating that neither the image name nor image arn had been set".
		return "", apiErr(ErrInvalidParameterCombination, "Either ImageName or ImageArn must be specified.")
	case arn != nil:
		i := strings.LastIndex(*arn, ":image/")
		if i < 0 {
			return "", vErr("imageArn", *arn, "Member must be an image ARN")
		}
		n := (*arn)[i+len(":image/"):]
		if name != nil && *name != n {
			return "", apiErr(ErrInvalidParameterCombination, "ImageName and ImageArn refer to different images.")
		}
		return n, nil
	default:
		return *name, nil
	}
}

// validateFleetInput checks the model constraints and documented ranges of the members present.
func validateFleetInput(in *FleetInput) *APIError {
	for _, c := range []*APIError{
		checkName("name", in.Name, false),
		checkName("imageName", in.ImageName, false),
		checkArn("imageArn", in.ImageArn),
		checkArn("iamRoleArn", in.IamRoleArn),
		checkEnum("fleetType", in.FleetType, fleetTypes),
		checkEnum("streamView", in.StreamView, streamViews),
		checkEnum("platform", in.Platform, platforms),
		checkMaxLen("description", in.Description, 256),
		checkMaxLen("displayName", in.DisplayName, 100),
		checkTags(in.Tags),
	} {
		if c != nil {
			return c
		}
	}
	if in.InstanceType != nil && *in.InstanceType == "" {
		return vErr("instanceType", "", "Member must have length greater than or equal to 1")
	}
	if in.VpcConfig != nil && len(in.VpcConfig.SecurityGroupIds) > 5 {
		return vErr("vpcConfig.securityGroupIds", strings.Join(in.VpcConfig.SecurityGroupIds, ","), "Member must have length less than or equal to 5")
	}
	for _, a := range in.AttributesToDelete {
		if e := checkEnum("attributesToDelete", &a, fleetAttrDel); e != nil {
			return e
		}
	}
	// Documented ranges (doc strings, not model traits). GUESS (code): InvalidParameterCombinationException.
	if v := in.MaxUserDurationInSeconds; v != nil && (*v < 600 || *v > 432000) {
		return apiErr(ErrInvalidParameterCombination, "MaxUserDurationInSeconds must be between 600 and 432000 seconds.")
	}
	if v := in.DisconnectTimeoutInSeconds; v != nil && (*v < 60 || *v > 36000) {
		return apiErr(ErrInvalidParameterCombination, "DisconnectTimeoutInSeconds must be between 60 and 36000 seconds.")
	}
	if v := in.IdleDisconnectTimeoutInSeconds; v != nil && *v != 0 && (*v < 60 || *v > 36000) {
		return apiErr(ErrInvalidParameterCombination, "IdleDisconnectTimeoutInSeconds must be 0 or between 60 and 36000 seconds.")
	}
	if c := in.ComputeCapacity; c != nil {
		if c.DesiredInstances != nil && c.DesiredSessions != nil {
			return apiErr(ErrInvalidParameterCombination, "DesiredInstances and DesiredSessions cannot be specified together.")
		}
		if i32(c.DesiredInstances) < 0 || i32(c.DesiredSessions) < 0 {
			return apiErr(ErrInvalidParameterCombination, "Desired capacity cannot be negative.")
		}
	}
	if in.IamRoleArn != nil && !roleArnRe.MatchString(*in.IamRoleArn) {
		return apiErr(ErrInvalidRole, "The specified role %s is invalid. Specify an IAM role ARN.", *in.IamRoleArn)
	}
	return nil
}

func (w *World) lookupImage(name string) (*Image, *APIError) {
	img, ok := w.images[name]
	if !ok {
		return nil, apiErr(ErrResourceNotFound, "The image %s could not be found.", name) // GUESS: message
	}
	if img.State != "AVAILABLE" {
		return nil, apiErr(ErrResourceNotAvailable, "The image %s is not available (state %s).", name, img.State) // GUESS
	}
	return img, nil
}

// CreateFleet creates a STOPPED fleet.
func (w *World) CreateFleet(in *FleetInput) (Fleet, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if e := checkName("name", in.Name, true); e != nil {
		return Fleet{}, e
	}
	if e := checkRequired("instanceType", in.InstanceType); e != nil {
		return Fleet{}, e
	}
	if e := validateFleetInput(in); e != nil {
		return Fleet{}, e
	}
	if e := w.checkAccount(); e != nil {
		return Fleet{}, e
	}
	name := *in.Name
	if _, ok := w.fleets[name]; ok {
		return Fleet{}, apiErr(ErrResourceAlreadyExists, "Fleet %s already exists.", name)
	}
	if w.maxFleets > 0 && len(w.fleets) >= w.maxFleets {
		return Fleet{}, apiErr(ErrLimitExceeded, "The number of fleets in this account (%d) has reached its limit.", len(w.fleets))
	}
	imgName, e := imageNameOf(in.ImageName, in.ImageArn)
	if e != nil {
		return Fleet{}, e
	}
	img, e := w.lookupImage(imgName)
	if e != nil {
		return Fleet{}, e
	}
	ft := "ON_DEMAND"
	if in.FleetType != nil {
		ft = *in.FleetType
	}
	f := &fleetRec{Fleet: Fleet{
		Arn: w.arn("fleet", name), Name: name, DisplayName: str(in.DisplayName), Description: str(in.Description),
		ImageName: img.Name, ImageArn: img.Arn, InstanceType: *in.InstanceType, FleetType: ft, State: FleetStopped,
		MaxUserDurationInSeconds: 57600, DisconnectTimeoutInSeconds: 900, IdleDisconnectTimeoutInSeconds: 0,
		CreatedTime: now, StreamView: "APP", Platform: img.Platform,
	}, usageAt: now}
	if ft == "ELASTIC" {
		// Reference §2.2: Elastic fleets need VpcConfig with ≥2 subnets, MaxConcurrentSessions and Platform; no ComputeCapacity or DomainJoinInfo.
		switch {
		case in.ComputeCapacity != nil:
			return Fleet{}, apiErr(ErrInvalidParameterCombination, "ComputeCapacity is not supported for Elastic fleets.")
		case in.DomainJoinInfo != nil:
			return Fleet{}, apiErr(ErrInvalidParameterCombination, "DomainJoinInfo is not supported for Elastic fleets.")
		case in.MaxConcurrentSessions == nil || in.Platform == nil:
			return Fleet{}, apiErr(ErrInvalidParameterCombination, "MaxConcurrentSessions and Platform are required for Elastic fleets.")
		case in.VpcConfig == nil || len(in.VpcConfig.SubnetIds) < 2:
			return Fleet{}, apiErr(ErrInvalidParameterCombination, "Elastic fleets require a VpcConfig with at least two subnets.")
		}
	} else {
		if in.MaxConcurrentSessions != nil {
			return Fleet{}, apiErr(ErrInvalidParameterCombination, "MaxConcurrentSessions is only supported for Elastic fleets.")
		}
		// GUESS: AO/OD fleets must say how many instances (or sessions) they want.
		if in.ComputeCapacity == nil || (in.ComputeCapacity.DesiredInstances == nil && in.ComputeCapacity.DesiredSessions == nil) {
			return Fleet{}, apiErr(ErrInvalidParameterCombination, "ComputeCapacity is required for %s fleets.", ft)
		}
	}
	if e := w.applyFleetInput(f, in); e != nil {
		return Fleet{}, e
	}
	w.fleets[name] = f
	if len(in.Tags) > 0 {
		w.tags[f.Arn] = copyMap(in.Tags)
	}
	return w.fleetView(f), nil
}

// applyFleetInput applies the members present (image already resolved by the caller for CreateFleet).
func (w *World) applyFleetInput(f *fleetRec, in *FleetInput) *APIError {
	if c := in.ComputeCapacity; c != nil {
		if c.DesiredSessions != nil {
			per := in.MaxSessionsPerInstance
			if per == nil {
				per = f.MaxSessionsPerInstance
			}
			if per == nil {
				return apiErr(ErrInvalidParameterCombination, "DesiredSessions requires MaxSessionsPerInstance (multi-session fleets).")
			}
			f.desiredSessions, f.desiredInstances = *c.DesiredSessions, 0
		} else if c.DesiredInstances != nil {
			if f.MaxSessionsPerInstance != nil || in.MaxSessionsPerInstance != nil {
				return apiErr(ErrInvalidParameterCombination, "Multi-session fleets take DesiredSessions, not DesiredInstances.")
			}
			f.desiredInstances, f.desiredSessions = *c.DesiredInstances, 0
		}
	}
	if in.DisplayName != nil {
		f.DisplayName = *in.DisplayName
	}
	if in.Description != nil {
		f.Description = *in.Description
	}
	if in.InstanceType != nil {
		f.InstanceType = *in.InstanceType
	}
	if in.VpcConfig != nil {
		if f.VpcConfig == nil {
			f.VpcConfig = &VpcConfig{}
		}
		if in.VpcConfig.SubnetIds != nil {
			f.VpcConfig.SubnetIds = slices.Clone(in.VpcConfig.SubnetIds)
		}
		if in.VpcConfig.SecurityGroupIds != nil {
			f.VpcConfig.SecurityGroupIds = slices.Clone(in.VpcConfig.SecurityGroupIds)
		}
	}
	if in.MaxUserDurationInSeconds != nil {
		f.MaxUserDurationInSeconds = *in.MaxUserDurationInSeconds
	}
	if in.DisconnectTimeoutInSeconds != nil {
		f.DisconnectTimeoutInSeconds = *in.DisconnectTimeoutInSeconds
	}
	if in.IdleDisconnectTimeoutInSeconds != nil {
		f.IdleDisconnectTimeoutInSeconds = *in.IdleDisconnectTimeoutInSeconds
	}
	if in.EnableDefaultInternetAccess != nil {
		f.EnableDefaultInternetAccess = *in.EnableDefaultInternetAccess
	}
	if in.DomainJoinInfo != nil {
		d := *in.DomainJoinInfo
		f.DomainJoinInfo = &d
	}
	if in.IamRoleArn != nil {
		f.IamRoleArn = *in.IamRoleArn
	}
	if in.StreamView != nil {
		f.StreamView = *in.StreamView
	}
	if in.Platform != nil {
		f.Platform = *in.Platform
	}
	if in.MaxConcurrentSessions != nil {
		v := *in.MaxConcurrentSessions
		f.MaxConcurrentSessions = &v
	}
	if in.UsbDeviceFilterStrings != nil {
		f.UsbDeviceFilterStrings = slices.Clone(in.UsbDeviceFilterStrings)
	}
	if in.SessionScriptS3Location != nil {
		s := *in.SessionScriptS3Location
		f.SessionScriptS3Location = &s
	}
	if in.MaxSessionsPerInstance != nil {
		v := *in.MaxSessionsPerInstance
		f.MaxSessionsPerInstance = &v
	}
	if in.RootVolumeConfig != nil {
		v := *in.RootVolumeConfig
		f.RootVolumeConfig = &v
	}
	if in.DisableIMDSV1 != nil {
		f.DisableIMDSV1 = *in.DisableIMDSV1
	}
	del := slices.Clone(in.AttributesToDelete)
	if in.DeleteVpcConfig != nil && *in.DeleteVpcConfig {
		del = append(del, "VPC_CONFIGURATION")
	}
	for _, a := range del {
		switch a {
		case "VPC_CONFIGURATION":
			f.VpcConfig = nil
		case "VPC_CONFIGURATION_SECURITY_GROUP_IDS":
			if f.VpcConfig != nil {
				f.VpcConfig.SecurityGroupIds = nil
			}
		case "DOMAIN_JOIN_INFO":
			f.DomainJoinInfo = nil
		case "IAM_ROLE_ARN":
			f.IamRoleArn = ""
		case "USB_DEVICE_FILTER_STRINGS":
			f.UsbDeviceFilterStrings = nil
		case "SESSION_SCRIPT_S3_LOCATION":
			f.SessionScriptS3Location = nil
		case "MAX_SESSIONS_PER_INSTANCE":
			f.MaxSessionsPerInstance = nil
		case "VOLUME_CONFIGURATION":
			f.RootVolumeConfig = nil
		}
	}
	return nil
}

// runningUpdatable lists, per fleet type, the members UpdateFleet may change
// while the fleet is RUNNING (reference §2.1, UpdateFleet model doc). Every
// other member present in the request needs a STOPPED fleet.
func runningUpdatable(fleetType string) map[string]bool {
	if fleetType == "ELASTIC" {
		return map[string]bool{"DisplayName": true, "IdleDisconnectTimeoutInSeconds": true, "DisconnectTimeoutInSeconds": true,
			"MaxConcurrentSessions": true, "SessionScriptS3Location": true, "UsbDeviceFilterStrings": true}
	}
	return map[string]bool{"DisplayName": true, "ComputeCapacity": true, "ImageArn": true, "ImageName": true,
		"IdleDisconnectTimeoutInSeconds": true, "DisconnectTimeoutInSeconds": true}
}

func presentFleetMembers(in *FleetInput) []string {
	var out []string
	add := func(ok bool, n string) {
		if ok {
			out = append(out, n)
		}
	}
	add(in.ImageName != nil, "ImageName")
	add(in.ImageArn != nil, "ImageArn")
	add(in.InstanceType != nil, "InstanceType")
	add(in.ComputeCapacity != nil, "ComputeCapacity")
	add(in.VpcConfig != nil, "VpcConfig")
	add(in.MaxUserDurationInSeconds != nil, "MaxUserDurationInSeconds")
	add(in.DisconnectTimeoutInSeconds != nil, "DisconnectTimeoutInSeconds")
	add(in.IdleDisconnectTimeoutInSeconds != nil, "IdleDisconnectTimeoutInSeconds")
	add(in.DeleteVpcConfig != nil, "DeleteVpcConfig")
	add(in.Description != nil, "Description") // doc + TF: needs STOPPED (ST disagrees; UNCONFIRMED)
	add(in.DisplayName != nil, "DisplayName")
	add(in.EnableDefaultInternetAccess != nil, "EnableDefaultInternetAccess")
	add(in.DomainJoinInfo != nil, "DomainJoinInfo")
	add(len(in.AttributesToDelete) > 0, "AttributesToDelete")
	add(in.IamRoleArn != nil, "IamRoleArn")
	add(in.StreamView != nil, "StreamView")
	add(in.Platform != nil, "Platform")
	add(in.MaxConcurrentSessions != nil, "MaxConcurrentSessions")
	add(in.UsbDeviceFilterStrings != nil, "UsbDeviceFilterStrings")
	add(in.SessionScriptS3Location != nil, "SessionScriptS3Location")
	add(in.MaxSessionsPerInstance != nil, "MaxSessionsPerInstance")
	add(in.RootVolumeConfig != nil, "RootVolumeConfig")
	add(in.DisableIMDSV1 != nil, "DisableIMDSV1")
	return out
}

// UpdateFleet changes a fleet, enforcing which members need a STOPPED fleet.
func (w *World) UpdateFleet(in *FleetInput) (Fleet, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if e := checkName("name", in.Name, true); e != nil {
		return Fleet{}, e
	}
	if e := validateFleetInput(in); e != nil {
		return Fleet{}, e
	}
	if e := w.checkAccount(); e != nil {
		return Fleet{}, e
	}
	f, ok := w.fleets[*in.Name]
	if !ok {
		return Fleet{}, apiErr(ErrResourceNotFound, "Fleet %s not found.", *in.Name)
	}
	switch f.State {
	case FleetStarting, FleetStopping:
		// Model doc: "If the fleet is in the STARTING or STOPP[ING] state, you can't update it."
		// GUESS (code): ConcurrentModificationException ("Wait a few minutes and try again").
		return Fleet{}, apiErr(ErrConcurrentModification, "Fleet %s is %s. Wait until it is RUNNING or STOPPED and try again.", f.Name, f.State)
	case FleetRunning:
		allowed := runningUpdatable(f.FleetType)
		var blocked []string
		for _, m := range presentFleetMembers(in) {
			if !allowed[m] {
				blocked = append(blocked, m)
			}
		}
		if len(blocked) > 0 {
			// Message from aws-cloudformation/cloudformation-coverage-roadmap#1017.
			return Fleet{}, apiErr(ErrResourceInUse, "Cannot update the attribute for fleet %s when it is ACTIVE. The fleet must be stopped to complete this action. (%s)", f.Name, strings.Join(blocked, ", "))
		}
	}
	if f.FleetType == "ELASTIC" && in.ComputeCapacity != nil {
		return Fleet{}, apiErr(ErrInvalidParameterCombination, "ComputeCapacity is not supported for Elastic fleets.")
	}
	next := *f
	next.Fleet.VpcConfig = cloneVpc(f.VpcConfig)
	if in.ImageName != nil || in.ImageArn != nil {
		n, e := imageNameOf(in.ImageName, in.ImageArn)
		if e != nil {
			return Fleet{}, e
		}
		img, e := w.lookupImage(n)
		if e != nil {
			return Fleet{}, e
		}
		next.ImageName, next.ImageArn = img.Name, img.Arn
	}
	if e := w.applyFleetInput(&next, in); e != nil {
		return Fleet{}, e
	}
	changed := next.desiredInstances != f.desiredInstances || next.desiredSessions != f.desiredSessions
	*f = next
	if changed {
		f.usage.CapacityChanges++
		w.resize(f, now)
	}
	return w.fleetView(f), nil
}

func (w *World) fleet(name *string) (*fleetRec, *APIError) {
	if e := checkRequired("name", name); e != nil {
		return nil, e
	}
	f, ok := w.fleets[*name]
	if !ok {
		return nil, apiErr(ErrResourceNotFound, "Fleet %s not found.", *name)
	}
	return f, nil
}

// StartFleet moves a STOPPED fleet to STARTING.
func (w *World) StartFleet(name *string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if e := w.checkAccount(); e != nil {
		return e
	}
	f, e := w.fleet(name)
	if e != nil {
		return e
	}
	switch f.State {
	case FleetStarting, FleetRunning:
		// GUESS: starting a started fleet is accepted as a no-op (ST re-issues StartFleet only when STOPPED).
		return nil
	case FleetStopping:
		return apiErr(ErrConcurrentModification, "Fleet %s is STOPPING. Wait until it is STOPPED and try again.", f.Name) // GUESS
	}
	f.State, f.transitionAt, f.FleetErrors = FleetStarting, now.Add(w.startDelay), nil
	f.usage.Starts++
	return nil
}

// StopFleet moves a STARTING or RUNNING fleet to STOPPING and ends its sessions.
func (w *World) StopFleet(name *string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	f, e := w.fleet(name)
	if e != nil {
		return e
	}
	if f.State == FleetStopped || f.State == FleetStopping {
		return nil // GUESS: no-op
	}
	f.State, f.transitionAt = FleetStopping, now.Add(w.stopDelay)
	f.running, f.pending = 0, nil
	f.usage.Stops++
	for _, s := range w.sessions {
		if s.FleetName == f.Name {
			w.endSession(s)
		}
	}
	w.advanceFleet(f, now)
	return nil
}

// DeleteFleet deletes a STOPPED fleet that no stack uses.
func (w *World) DeleteFleet(name *string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	f, e := w.fleet(name)
	if e != nil {
		return e
	}
	for k := range w.assoc {
		if k.fleet == f.Name {
			// Message from TFI-25354.
			return apiErr(ErrResourceInUse, "The fleet %s is associated with a stack. To delete the fleet, you must dissociate it from the stack.", f.Name)
		}
	}
	if f.State != FleetStopped {
		// Doc: "cannot be performed on a running, stopping, or starting fleet". GUESS (code).
		return apiErr(ErrResourceInUse, "Fleet %s is %s. Stop the fleet before deleting it.", f.Name, f.State)
	}
	for _, s := range w.sessions {
		if s.FleetName == f.Name {
			w.endSession(s)
		}
	}
	delete(w.fleets, f.Name)
	delete(w.tags, f.Arn)
	return nil
}

// page slices names by an opaque NextToken.
func page[T any](items []T, kind string, token *string, size int) ([]T, *string, *APIError) {
	start := 0
	if token != nil {
		raw, err := base64.RawURLEncoding.DecodeString(*token)
		cut := strings.LastIndex(string(raw), ":")
		k, n, ok := string(raw[:max(cut, 0)]), string(raw[cut+1:]), cut >= 0
		i, err2 := strconv.Atoi(n)
		if err != nil || !ok || err2 != nil || k != kind || i < 0 || i > len(items) {
			return nil, nil, apiErr(ErrValidation, "Invalid NextToken.")
		}
		start = i
	}
	end := min(start+size, len(items))
	var next *string
	if end < len(items) {
		t := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%s:%d", kind, end)))
		next = &t
	}
	return items[start:end], next, nil
}

func ptr[T any](v T) *T { return &v }

// DescribeFleets lists fleets (all, or the named ones; an unknown name is ResourceNotFoundException).
func (w *World) DescribeFleets(names []string, nextToken *string) ([]Fleet, *string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	// Reference §2.1: UNCONFIRMED whether the service errors or returns an empty list; emulate the error.
	return describeNamed(w.fleets, names, "fleet", "fleets", nextToken, w.pageSize, w.fleetView)
}

// describeNamed pages through all records of m, or the named ones (an unknown
// name is ResourceNotFoundException), in name order. The caller holds w.mu.
func describeNamed[R, V any](m map[string]R, names []string, kind, tokenKind string, nextToken *string, pageSize int, view func(R) V) ([]V, *string, error) {
	keys := sortedKeys(m)
	if len(names) > 0 {
		keys = nil
		for _, n := range names {
			if _, ok := m[n]; !ok {
				return nil, nil, apiErr(ErrResourceNotFound, "The %s %s could not be found.", kind, n)
			}
			keys = append(keys, n)
		}
	}
	keys, next, e := page(keys, tokenKind, nextToken, pageSize)
	if e != nil {
		return nil, nil, e
	}
	out := make([]V, 0, len(keys))
	for _, k := range keys {
		out = append(out, view(m[k]))
	}
	return out, next, nil
}

// ---- stacks ----

func validateStackInput(in *StackInput) *APIError {
	for _, c := range []*APIError{
		checkName("name", in.Name, false),
		checkMaxLen("description", in.Description, 256),
		checkMaxLen("displayName", in.DisplayName, 100),
		checkMaxLen("redirectURL", in.RedirectURL, 1000),
		checkMaxLen("feedbackURL", in.FeedbackURL, 1000),
		checkTags(in.Tags),
	} {
		if c != nil {
			return c
		}
	}
	if in.UserSettings != nil && len(in.UserSettings) < 1 {
		return vErr("userSettings", "[]", "Member must have length greater than or equal to 1")
	}
	for _, u := range in.UserSettings {
		if e := checkRequired("userSettings.action", u.Action); e != nil {
			return e
		}
		if e := checkRequired("userSettings.permission", u.Permission); e != nil {
			return e
		}
		if e := checkEnum("userSettings.action", u.Action, userActions); e != nil {
			return e
		}
		if e := checkEnum("userSettings.permission", u.Permission, permissions); e != nil {
			return e
		}
		if u.MaximumLength != nil {
			if !strings.HasPrefix(*u.Action, "CLIPBOARD_") || *u.Permission == "DISABLED" {
				return apiErr(ErrInvalidParameterCombination, "MaximumLength can only be set for enabled clipboard actions.")
			}
			if *u.MaximumLength < 1 || *u.MaximumLength > 20971520 {
				return apiErr(ErrInvalidParameterCombination, "MaximumLength must be between 1 and 20971520.")
			}
		}
	}
	for _, c := range in.StorageConnectors {
		if e := checkRequired("storageConnectors.connectorType", c.ConnectorType); e != nil {
			return e
		}
		if e := checkEnum("storageConnectors.connectorType", c.ConnectorType, connectors); e != nil {
			return e
		}
	}
	if in.AccessEndpoints != nil && (len(in.AccessEndpoints) < 1 || len(in.AccessEndpoints) > 4) {
		return vErr("accessEndpoints", fmt.Sprint(len(in.AccessEndpoints)), "Member must have length between 1 and 4")
	}
	for _, a := range in.AccessEndpoints {
		if e := checkEnum("accessEndpoints.endpointType", a.EndpointType, []string{"STREAMING"}); e != nil || a.EndpointType == nil {
			return vErr("accessEndpoints.endpointType", str(a.EndpointType), "Member must satisfy enum value set: [STREAMING]")
		}
	}
	if in.EmbedHostDomains != nil && (len(in.EmbedHostDomains) < 1 || len(in.EmbedHostDomains) > 20) {
		return vErr("embedHostDomains", fmt.Sprint(len(in.EmbedHostDomains)), "Member must have length between 1 and 20")
	}
	if s := in.StreamingExperienceSettings; s != nil {
		if e := checkEnum("streamingExperienceSettings.preferredProtocol", s.PreferredProtocol, []string{"TCP", "UDP"}); e != nil {
			return e
		}
	}
	if a := in.ApplicationSettings; a != nil {
		if a.Enabled == nil {
			return apiErr(ErrValidation, "1 validation error detected: Value null at 'applicationSettings.enabled' failed to satisfy constraint: Member must not be null")
		}
		if e := checkMaxLen("applicationSettings.settingsGroup", a.SettingsGroup, 100); e != nil {
			return e
		}
	}
	for _, a := range in.AttributesToDelete {
		if e := checkEnum("attributesToDelete", &a, stackAttrDel); e != nil {
			return e
		}
	}
	return nil
}

func (w *World) applyStackInput(s *stackRec, in *StackInput) {
	if in.Description != nil {
		s.Description = *in.Description
	}
	if in.DisplayName != nil {
		s.DisplayName = *in.DisplayName
	}
	if in.StorageConnectors != nil {
		s.StorageConnectors = slices.Clone(in.StorageConnectors)
	}
	if in.RedirectURL != nil {
		s.RedirectURL = *in.RedirectURL
	}
	if in.FeedbackURL != nil {
		s.FeedbackURL = *in.FeedbackURL
	}
	for _, u := range in.UserSettings {
		s.userSettings[*u.Action] = u
	}
	if a := in.ApplicationSettings; a != nil {
		r := &ApplicationSettingsResponse{Enabled: *a.Enabled, SettingsGroup: str(a.SettingsGroup)}
		if r.Enabled {
			r.S3BucketName = fmt.Sprintf("appstream-app-settings-%s-%s-%s", w.region, w.account, strings.ToLower(randomToken(6)))
		}
		s.ApplicationSettings = r
	}
	if in.AccessEndpoints != nil {
		s.AccessEndpoints = slices.Clone(in.AccessEndpoints)
	}
	if in.EmbedHostDomains != nil {
		s.EmbedHostDomains = slices.Clone(in.EmbedHostDomains)
	}
	if in.StreamingExperienceSettings != nil {
		v := *in.StreamingExperienceSettings
		s.StreamingExperienceSettings = &v
	}
	del := slices.Clone(in.AttributesToDelete)
	if in.DeleteStorageConnectors != nil && *in.DeleteStorageConnectors {
		del = append(del, "STORAGE_CONNECTORS")
	}
	for _, a := range del {
		switch a {
		case "STORAGE_CONNECTORS":
			s.StorageConnectors = nil
		case "STORAGE_CONNECTOR_HOMEFOLDERS", "STORAGE_CONNECTOR_GOOGLE_DRIVE", "STORAGE_CONNECTOR_ONE_DRIVE":
			t := strings.TrimPrefix(a, "STORAGE_CONNECTOR_")
			s.StorageConnectors = slices.DeleteFunc(s.StorageConnectors, func(c StorageConnector) bool { return str(c.ConnectorType) == t })
		case "REDIRECT_URL":
			s.RedirectURL = ""
		case "FEEDBACK_URL":
			s.FeedbackURL = ""
		case "USER_SETTINGS":
			s.userSettings = map[string]UserSetting{}
		case "EMBED_HOST_DOMAINS":
			s.EmbedHostDomains = nil
		case "ACCESS_ENDPOINTS":
			s.AccessEndpoints = nil
		case "STREAMING_EXPERIENCE_SETTINGS":
			s.StreamingExperienceSettings = nil
		}
	}
}

// stackView reads a stack back. UserSettings holds an entry for every action
// (reference §2.4: reads return all actions, including ones never sent).
// GUESS: the defaults of unsent actions are ENABLED, except
// AUTO_TIME_ZONE_REDIRECTION and DOMAIN_SMART_CARD_SIGNIN which are DISABLED.
func (w *World) stackView(s *stackRec) Stack {
	out := s.Stack
	out.UserSettings = nil
	for _, a := range userActions {
		u, ok := s.userSettings[a]
		if !ok {
			perm := "ENABLED"
			if a == "AUTO_TIME_ZONE_REDIRECTION" || a == "DOMAIN_SMART_CARD_SIGNIN" {
				perm = "DISABLED"
			}
			u = UserSetting{Action: ptr(a), Permission: ptr(perm)}
		}
		out.UserSettings = append(out.UserSettings, u)
	}
	out.StorageConnectors = slices.Clone(s.StorageConnectors)
	out.AccessEndpoints = slices.Clone(s.AccessEndpoints)
	out.EmbedHostDomains = slices.Clone(s.EmbedHostDomains)
	return out
}

// CreateStack creates a stack.
func (w *World) CreateStack(in *StackInput) (Stack, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if e := checkName("name", in.Name, true); e != nil {
		return Stack{}, e
	}
	if e := validateStackInput(in); e != nil {
		return Stack{}, e
	}
	if e := w.checkAccount(); e != nil {
		return Stack{}, e
	}
	name := *in.Name
	if _, ok := w.stacks[name]; ok {
		return Stack{}, apiErr(ErrResourceAlreadyExists, "Stack %s already exists.", name)
	}
	if w.maxStacks > 0 && len(w.stacks) >= w.maxStacks {
		return Stack{}, apiErr(ErrLimitExceeded, "The number of stacks in this account (%d) has reached its limit.", len(w.stacks))
	}
	s := &stackRec{Stack: Stack{Arn: w.arn("stack", name), Name: name, CreatedTime: now}, userSettings: map[string]UserSetting{}}
	w.applyStackInput(s, in)
	w.stacks[name] = s
	if len(in.Tags) > 0 {
		w.tags[s.Arn] = copyMap(in.Tags)
	}
	return w.stackView(s), nil
}

// UpdateStack changes a stack (everything but its name may change at any time).
func (w *World) UpdateStack(in *StackInput) (Stack, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	if e := checkRequired("name", in.Name); e != nil {
		return Stack{}, e
	}
	if e := validateStackInput(in); e != nil {
		return Stack{}, e
	}
	if e := w.checkAccount(); e != nil {
		return Stack{}, e
	}
	s, ok := w.stacks[*in.Name]
	if !ok {
		return Stack{}, apiErr(ErrResourceNotFound, "Stack %s not found.", *in.Name)
	}
	w.applyStackInput(s, in)
	return w.stackView(s), nil
}

// DeleteStack deletes a stack that no fleet is associated with.
func (w *World) DeleteStack(name *string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	if e := checkRequired("name", name); e != nil {
		return e
	}
	s, ok := w.stacks[*name]
	if !ok {
		return apiErr(ErrResourceNotFound, "Stack %s not found.", *name)
	}
	for k := range w.assoc {
		if k.stack == s.Name {
			// Message from TFI-22625.
			return apiErr(ErrResourceInUse, "Cannot delete stack %s. This stack has fleets associated with it. Disassociate the fleets and try again.", s.Name)
		}
	}
	for _, ss := range w.sessions {
		if ss.StackName == s.Name {
			w.endSession(ss)
		}
	}
	delete(w.stacks, s.Name)
	delete(w.tags, s.Arn)
	return nil
}

// DescribeStacks lists stacks (all, or the named ones; an unknown name is ResourceNotFoundException).
func (w *World) DescribeStacks(names []string, nextToken *string) ([]Stack, *string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	return describeNamed(w.stacks, names, "stack", "stacks", nextToken, w.pageSize, w.stackView)
}

// ---- associations ----

// AssociateFleet associates a fleet with a stack.
func (w *World) AssociateFleet(fleetName, stackName *string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	if e := checkRequired("fleetName", fleetName); e != nil {
		return e
	}
	if e := checkRequired("stackName", stackName); e != nil {
		return e
	}
	if e := w.checkAccount(); e != nil {
		return e
	}
	if _, ok := w.fleets[*fleetName]; !ok {
		return apiErr(ErrResourceNotFound, "Fleet %s not found.", *fleetName)
	}
	if _, ok := w.stacks[*stackName]; !ok {
		return apiErr(ErrResourceNotFound, "Stack %s not found.", *stackName)
	}
	k := assocKey{*fleetName, *stackName}
	if w.assoc[k] {
		return nil // GUESS: re-associating the same pair is a no-op
	}
	for o := range w.assoc {
		if o.stack == *stackName {
			// Console doc: a stack can have only one associated fleet. UNCONFIRMED for the API; GUESS (code).
			return apiErr(ErrOperationNotPermitted, "Stack %s is already associated with fleet %s.", *stackName, o.fleet)
		}
	}
	w.assoc[k] = true
	return nil
}

// DisassociateFleet removes an association.
func (w *World) DisassociateFleet(fleetName, stackName *string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	if e := checkRequired("fleetName", fleetName); e != nil {
		return e
	}
	if e := checkRequired("stackName", stackName); e != nil {
		return e
	}
	if _, ok := w.fleets[*fleetName]; !ok {
		return apiErr(ErrResourceNotFound, "Fleet %s not found.", *fleetName)
	}
	if _, ok := w.stacks[*stackName]; !ok {
		return apiErr(ErrResourceNotFound, "Stack %s not found.", *stackName)
	}
	k := assocKey{*fleetName, *stackName}
	if !w.assoc[k] {
		return apiErr(ErrResourceNotFound, "Fleet %s is not associated with stack %s.", *fleetName, *stackName) // GUESS
	}
	delete(w.assoc, k)
	return nil
}

// ListAssociatedStacks names the stacks a fleet is associated with (an unknown fleet has none; no errors are modeled).
func (w *World) ListAssociatedStacks(fleetName, nextToken *string) ([]string, *string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := checkRequired("fleetName", fleetName); e != nil {
		return nil, nil, e
	}
	var names []string
	for k := range w.assoc {
		if k.fleet == *fleetName {
			names = append(names, k.stack)
		}
	}
	sort.Strings(names)
	out, next, e := page(names, "stacks-of:"+*fleetName, nextToken, w.pageSize)
	if e != nil {
		return nil, nil, e
	}
	return out, next, nil
}

// ListAssociatedFleets names the fleets associated with a stack.
func (w *World) ListAssociatedFleets(stackName, nextToken *string) ([]string, *string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := checkRequired("stackName", stackName); e != nil {
		return nil, nil, e
	}
	var names []string
	for k := range w.assoc {
		if k.stack == *stackName {
			names = append(names, k.fleet)
		}
	}
	sort.Strings(names)
	out, next, e := page(names, "fleets-of:"+*stackName, nextToken, w.pageSize)
	if e != nil {
		return nil, nil, e
	}
	return out, next, nil
}

// ---- streaming URLs and sessions ----

// StreamingURLInput is the body of CreateStreamingURL.
type StreamingURLInput struct {
	StackName, FleetName, UserId, ApplicationId *string
	Validity                                    *int64
	SessionContext                              *string
}

type urlRec struct {
	token                                               string
	url                                                 string
	stack, fleet, userID, applicationID, sessionContext string
	expires                                             time.Time
	used                                                bool
	sessionID                                           string
}

// StreamingURL describes a minted streaming URL (inspection only).
type StreamingURL struct {
	URL, StackName, FleetName, UserId, ApplicationId, SessionContext string
	Expires                                                          time.Time
	Used                                                             bool
	SessionId                                                        string
}

// CreateStreamingURL mints a single-use URL for a running fleet associated with the stack.
// defaultBase is used when no StreamingBaseURL was configured (the request's own origin).
func (w *World) CreateStreamingURL(in *StreamingURLInput, defaultBase string) (string, time.Time, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	for _, c := range []*APIError{checkRequired("stackName", in.StackName), checkRequired("fleetName", in.FleetName), checkRequired("userId", in.UserId)} {
		if c != nil {
			return "", time.Time{}, c
		}
	}
	u := *in.UserId
	if len(u) < 2 || len(u) > 32 {
		return "", time.Time{}, vErr("userId", u, "Member must have length between 2 and 32")
	}
	if !userIDRe.MatchString(u) {
		return "", time.Time{}, vErr("userId", u, "Member must satisfy regular expression pattern: [\\w+=,.@-]*")
	}
	if in.ApplicationId != nil && *in.ApplicationId == "" {
		return "", time.Time{}, vErr("applicationId", "", "Member must have length greater than or equal to 1")
	}
	if in.SessionContext != nil && *in.SessionContext == "" {
		return "", time.Time{}, vErr("sessionContext", "", "Member must have length greater than or equal to 1")
	}
	validity := int64(60) // model doc: default 60 seconds
	if in.Validity != nil {
		validity = *in.Validity
		if validity < 1 || validity > 604800 {
			// Doc-string range; GUESS (code).
			return "", time.Time{}, apiErr(ErrInvalidParameterCombination, "Validity must be between 1 and 604800 seconds.")
		}
	}
	s, ok := w.stacks[*in.StackName]
	if !ok {
		return "", time.Time{}, apiErr(ErrResourceNotFound, "Stack %s not found.", *in.StackName)
	}
	f, ok := w.fleets[*in.FleetName]
	if !ok {
		return "", time.Time{}, apiErr(ErrResourceNotFound, "Fleet %s not found.", *in.FleetName)
	}
	// Doc: "only if a running fleet is associated with the stack, and the fleet doesn't have a Directory Config".
	// Which code each violation gets is UNCONFIRMED (GUESS below).
	if !w.assoc[assocKey{f.Name, s.Name}] {
		return "", time.Time{}, apiErr(ErrInvalidParameterCombination, "Fleet %s is not associated with stack %s.", f.Name, s.Name)
	}
	if f.DomainJoinInfo != nil {
		return "", time.Time{}, apiErr(ErrOperationNotPermitted, "Streaming URLs are not supported for fleet %s because it is joined to a directory.", f.Name)
	}
	if f.State != FleetRunning {
		return "", time.Time{}, apiErr(ErrResourceNotAvailable, "Fleet %s is not running (state %s).", f.Name, f.State)
	}
	if in.ApplicationId != nil {
		app := *in.ApplicationId
		ok := f.StreamView == "DESKTOP" && app == "Desktop"
		if img := w.images[f.ImageName]; img != nil {
			for _, a := range img.Applications {
				ok = ok || (a.Name == app && a.Enabled)
			}
		}
		if !ok {
			// The reference says ApplicationId is an app Name of the fleet's image (or Desktop). GUESS (code).
			return "", time.Time{}, apiErr(ErrInvalidParameterCombination, "Application %s is not available in image %s of fleet %s.", app, f.ImageName, f.Name)
		}
	}
	base := w.streamingBase
	if base == "" {
		base = defaultBase
	}
	tok := randomToken(32)
	rec := &urlRec{
		token: tok, url: strings.TrimRight(base, "/") + streamingPath + tok,
		stack: s.Name, fleet: f.Name, userID: u, applicationID: str(in.ApplicationId), sessionContext: str(in.SessionContext),
		expires: now.Add(time.Duration(validity) * time.Second),
	}
	w.urls[tok] = rec
	return rec.url, rec.expires, nil
}

// StreamingURLs returns every minted URL (inspection for tests).
func (w *World) StreamingURLs() []StreamingURL {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []StreamingURL
	for _, r := range w.urls {
		out = append(out, StreamingURL{URL: r.url, StackName: r.stack, FleetName: r.fleet, UserId: r.userID,
			ApplicationId: r.applicationID, SessionContext: r.sessionContext, Expires: r.expires, Used: r.used, SessionId: r.sessionID})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Expires.Before(out[j].Expires) })
	return out
}

// ExpireURL makes a minted URL (full URL or token) expire now; it reports whether it existed.
func (w *World) ExpireURL(urlOrToken string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	tok := urlOrToken
	if i := strings.LastIndex(tok, streamingPath); i >= 0 {
		tok = tok[i+len(streamingPath):]
	}
	r, ok := w.urls[tok]
	if ok {
		r.expires = now.Add(-time.Nanosecond)
	}
	return ok
}

// openResult is what a GET of a streaming URL produced.
type openResult struct {
	status  int
	title   string
	message string
	session Session
	rec     urlRec
}

// openStreamingURL consumes a URL and starts a session.
func (w *World) openStreamingURL(tok string) openResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	r, ok := w.urls[tok]
	if !ok {
		return openResult{status: 404, title: "Not found", message: "This streaming URL is not valid."}
	}
	if r.used {
		return openResult{status: 403, title: "Access denied", message: "This streaming URL has already been used."}
	}
	if !now.Before(r.expires) {
		return openResult{status: 403, title: "Access denied", message: "This streaming URL has expired."}
	}
	f, fok := w.fleets[r.fleet]
	_, sok := w.stacks[r.stack]
	if !fok || !sok || !w.assoc[assocKey{r.fleet, r.stack}] {
		return openResult{status: 503, title: "Unavailable", message: "The stack or fleet of this streaming URL is no longer available."}
	}
	if f.State != FleetRunning {
		return openResult{status: 503, title: "Unavailable", message: "The fleet is not running. Try again later."}
	}
	if f.FleetType == "ELASTIC" {
		// An Elastic fleet has no instances to run out of, only its session cap.
		if f.MaxConcurrentSessions != nil && w.liveSessions(f) >= *f.MaxConcurrentSessions {
			return openResult{status: 503, title: "Unavailable", message: "No streaming resources are available. Try again later."}
		}
	} else if c := w.fleetView(f).ComputeCapacityStatus; c.Available <= 0 && (c.AvailableUserSessions == nil || *c.AvailableUserSessions <= 0) {
		return openResult{status: 503, title: "Unavailable", message: "No streaming resources are available. Try again later."}
	}
	r.used = true
	s := &Session{
		Id: newUUID(), UserId: r.userID, StackName: r.stack, FleetName: r.fleet,
		State: SessionActive, ConnectionState: "CONNECTED", StartTime: now,
		MaxExpirationTime:  now.Add(time.Duration(f.MaxUserDurationInSeconds) * time.Second),
		AuthenticationType: "API", InstanceId: w.newID("i"),
		ApplicationId: r.applicationID, SessionContext: r.sessionContext,
	}
	if f.VpcConfig != nil {
		// The instance's address comes from the fleet's subnets (the first
		// with room), free of every network interface and live session:
		// base+11, +12, … as before, wrapping to the first free address.
		f.eniSeq++
		for _, id := range f.VpcConfig.SubnetIds {
			sn, ok := w.subnets[id]
			if !ok {
				continue
			}
			if a, ok := w.allocIP(sn, uint32(10+f.eniSeq)); ok {
				s.EniPrivateIpAddress, s.SubnetId = a, sn.ID
				s.EniId = w.newID("eni")
				break
			}
		}
	}
	w.sessions[s.Id] = s
	r.sessionID = s.Id
	return openResult{status: 200, title: "AppStream 2.0 session", session: *s, rec: *r}
}

// endSession ends a session and frees its instance: an instance beyond the
// fleet's desired capacity (kept only for this session after a scale-in) is
// terminated, otherwise it is available again. GUESS: real AppStream replaces
// an ON_DEMAND/ALWAYS_ON instance after its session (a fresh instance from the
// pool); the emulator makes the same instance available at once. The caller
// has integrated the fleet's usage up to the end time (w.now or advanceFleet).
func (w *World) endSession(s *Session) {
	if s.State == SessionExpired {
		return
	}
	s.State, s.ConnectionState = SessionExpired, "NOT_CONNECTED"
	if f, ok := w.fleets[s.FleetName]; ok {
		w.shrink(f)
	}
}

func (w *World) sortedSessions(keep func(*Session) bool) []Session {
	var out []Session
	for _, s := range w.sessions {
		if keep(s) {
			out = append(out, *s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StartTime.Equal(out[j].StartTime) {
			return out[i].StartTime.Before(out[j].StartTime)
		}
		return out[i].Id < out[j].Id
	})
	return out
}

// DescribeSessionsInput is the body of DescribeSessions.
type DescribeSessionsInput struct {
	StackName, FleetName, UserId, NextToken *string
	Limit                                   *int32
	AuthenticationType, InstanceId          *string
}

// DescribeSessions lists the live (ACTIVE or PENDING) sessions of a stack and fleet; expired sessions are not returned.
func (w *World) DescribeSessions(in *DescribeSessionsInput) ([]Session, *string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	if e := checkName("stackName", in.StackName, true); e != nil {
		return nil, nil, e
	}
	if e := checkName("fleetName", in.FleetName, true); e != nil {
		return nil, nil, e
	}
	if e := checkEnum("authenticationType", in.AuthenticationType, authTypes); e != nil {
		return nil, nil, e
	}
	if in.UserId != nil {
		if l := len(*in.UserId); l < 2 || l > 128 {
			return nil, nil, vErr("userId", *in.UserId, "Member must have length between 2 and 128")
		}
		if in.AuthenticationType == nil {
			// Model doc: "If you specify a user ID, you must also specify the authentication type."
			return nil, nil, apiErr(ErrInvalidParameterCombination, "AuthenticationType is required when UserId is specified.")
		}
	}
	auth := "API"
	if in.AuthenticationType != nil {
		auth = *in.AuthenticationType
	}
	limit := 20 // model doc: default 20, max 50
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 50 {
			return nil, nil, apiErr(ErrInvalidParameterCombination, "Limit must be between 1 and 50.") // GUESS (code)
		}
		limit = int(*in.Limit)
	}
	list := w.sortedSessions(func(s *Session) bool {
		return s.State != SessionExpired && s.StackName == *in.StackName && s.FleetName == *in.FleetName &&
			s.AuthenticationType == auth && (in.UserId == nil || s.UserId == *in.UserId) &&
			(in.InstanceId == nil || s.InstanceId == *in.InstanceId)
	})
	out, next, e := page(list, "sessions:"+*in.StackName+"/"+*in.FleetName, in.NextToken, limit)
	if e != nil {
		return nil, nil, e
	}
	return out, next, nil
}

// ExpireSession ends a session. Unknown or already expired sessions are accepted (no errors are modeled).
func (w *World) ExpireSession(id *string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	if e := checkRequired("sessionId", id); e != nil {
		return e
	}
	if s, ok := w.sessions[*id]; ok {
		w.endSession(s)
	}
	return nil
}

// ---- tags ----

func (w *World) taggable(arn *string) (string, *APIError) {
	if e := checkRequired("resourceArn", arn); e != nil {
		return "", e
	}
	if e := checkArn("resourceArn", arn); e != nil {
		return "", e
	}
	for _, f := range w.fleets {
		if f.Arn == *arn {
			return *arn, nil
		}
	}
	for _, s := range w.stacks {
		if s.Arn == *arn {
			return *arn, nil
		}
	}
	for _, i := range w.images {
		if i.Arn == *arn {
			return *arn, nil
		}
	}
	return "", apiErr(ErrResourceNotFound, "The resource %s could not be found.", *arn)
}

// TagResource adds or overwrites tags.
func (w *World) TagResource(arn *string, tags map[string]string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if tags == nil {
		return apiErr(ErrValidation, "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
	}
	if e := checkTags(tags); e != nil {
		return e
	}
	a, e := w.taggable(arn)
	if e != nil {
		return e
	}
	if e := w.checkAccount(); e != nil {
		return e
	}
	merged := copyMap(w.tags[a])
	if merged == nil {
		merged = map[string]string{}
	}
	for k, v := range tags {
		merged[k] = v
	}
	if len(merged) > 50 {
		return apiErr(ErrLimitExceeded, "A resource can have at most 50 tags.")
	}
	w.tags[a] = merged
	return nil
}

// UntagResource removes tags.
func (w *World) UntagResource(arn *string, keys []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(keys) < 1 || len(keys) > 50 {
		return vErr("tagKeys", fmt.Sprint(len(keys)), "Member must have length between 1 and 50")
	}
	a, e := w.taggable(arn)
	if e != nil {
		return e
	}
	for _, k := range keys {
		delete(w.tags[a], k)
	}
	return nil
}

// ListTagsForResource returns the tags of a fleet, stack or image.
func (w *World) ListTagsForResource(arn *string) (map[string]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	a, e := w.taggable(arn)
	if e != nil {
		return nil, e
	}
	return copyMap(w.tags[a]), nil
}

// ---- images ----

// DescribeImagesInput is the body of DescribeImages.
type DescribeImagesInput struct {
	Names, Arns []string
	Type        *string
	NextToken   *string
	MaxResults  *int32
}

// DescribeImages lists images (all images of this world are PRIVATE).
func (w *World) DescribeImages(in *DescribeImagesInput) ([]Image, *string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := checkEnum("type", in.Type, imageTypes); e != nil {
		return nil, nil, e
	}
	size := 25
	if in.MaxResults != nil {
		if *in.MaxResults < 0 || *in.MaxResults > 25 {
			return nil, nil, vErr("maxResults", fmt.Sprint(*in.MaxResults), "Member must have value between 0 and 25")
		}
		if *in.MaxResults > 0 {
			size = int(*in.MaxResults)
		}
	}
	if len(in.Names) > 0 && len(in.Arns) > 0 {
		return nil, nil, apiErr(ErrInvalidParameterCombination, "Names and Arns cannot be specified together.") // GUESS
	}
	var list []*Image
	switch {
	case len(in.Names) > 0:
		for _, n := range in.Names {
			img, ok := w.images[n]
			if !ok {
				return nil, nil, apiErr(ErrResourceNotFound, "The image %s could not be found.", n)
			}
			list = append(list, img)
		}
	case len(in.Arns) > 0:
		for _, a := range in.Arns {
			var found *Image
			for _, img := range w.images {
				if img.Arn == a {
					found = img
				}
			}
			if found == nil {
				return nil, nil, apiErr(ErrResourceNotFound, "The image %s could not be found.", a)
			}
			list = append(list, found)
		}
	default:
		for _, n := range sortedKeys(w.images) {
			list = append(list, w.images[n])
		}
	}
	if in.Type != nil {
		list = slices.DeleteFunc(list, func(i *Image) bool { return i.Visibility != *in.Type })
	}
	pg, next, e := page(list, "images", in.NextToken, size)
	if e != nil {
		return nil, nil, e
	}
	out := make([]Image, 0, len(pg))
	for _, i := range pg {
		c := *i
		c.Applications = slices.Clone(i.Applications)
		out = append(out, c)
	}
	return out, next, nil
}
