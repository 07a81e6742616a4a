package aws

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The awsJson1_1 wire layer of AppStream: POST / with
// X-Amz-Target: PhotonAdminProxyService.<Op>, JSON bodies keyed by model
// member names, timestamps as epoch seconds, errors as 400
// {"__type": "<Code>", "message": "…"} (reference §1.1, §1.5).

const (
	jsonContentType = "application/x-amz-json-1.1"
	targetPrefix    = "PhotonAdminProxyService."
)

func appStreamOpOf(r *http.Request) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return strings.TrimPrefix(t, targetPrefix)
	}
	// Smithy RPC v2 CBOR puts the operation in the path.
	if i := strings.LastIndex(r.URL.Path, "/operation/"); i >= 0 {
		return r.URL.Path[i+len("/operation/"):]
	}
	return "Unknown"
}

// jsonFaultErrors writes AppStream's answers to injected faults.
type jsonFaultErrors struct{}

func (jsonFaultErrors) WriteThrottle(w http.ResponseWriter, _ string) {
	// AWS common error; the Go SDK's default retryer retries it (reference §1.5).
	writeJSONError(w, newRequestID(), http.StatusBadRequest, &APIError{Code: "ThrottlingException", Message: "Rate exceeded"})
}

func (jsonFaultErrors) WriteServerError(w http.ResponseWriter, status int) {
	e := &APIError{Code: "InternalFailure", Message: "The request processing has failed because of an unknown error, exception or failure."}
	if status == http.StatusServiceUnavailable {
		e = &APIError{Code: "ServiceUnavailable", Message: "The request has failed due to a temporary failure of the server."}
	}
	writeJSONError(w, newRequestID(), status, e)
}

func newRequestID() string { return newUUID() }

func writeJSONError(w http.ResponseWriter, reqID string, status int, e *APIError) {
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"__type": e.Code, "message": e.Message})
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, reqID string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeJSONError(w, reqID, http.StatusInternalServerError, &APIError{Code: "InternalFailure", Message: err.Error()})
		return
	}
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("X-Amzn-Requestid", reqID)
	_, _ = w.Write(b)
}

// checkSigV4 accepts any SigV4 signature but requires one, scoped to the service and the world's region.
func checkSigV4(r *http.Request, service, region string) *APIError {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return &APIError{Code: "MissingAuthenticationTokenException", Message: "Missing Authentication Token"}
	}
	const p = "AWS4-HMAC-SHA256 Credential="
	if !strings.HasPrefix(auth, p) {
		return &APIError{Code: "IncompleteSignatureException", Message: "Authorization header requires 'Credential' parameter."}
	}
	cred, _, _ := strings.Cut(auth[len(p):], ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" {
		return &APIError{Code: "IncompleteSignatureException", Message: "Credential scope is malformed: " + cred}
	}
	if parts[2] != region {
		return &APIError{Code: "InvalidSignatureException", Message: fmt.Sprintf("Credential should be scoped to a valid region, not '%s'.", parts[2])}
	}
	if parts[3] != service {
		return &APIError{Code: "InvalidSignatureException", Message: fmt.Sprintf("Credential should be scoped to correct service: '%s'.", service)}
	}
	return nil
}

type jsonHandler func(w *World, r *http.Request, body []byte) (any, error)

func decodeInto[T any](body []byte) (*T, error) {
	v := new(T)
	if len(bytes.TrimSpace(body)) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return nil, &APIError{Code: "SerializationException", Message: err.Error()}
	}
	return v, nil
}

// op adapts a state method with input I to a jsonHandler.
func op[I any](f func(w *World, r *http.Request, in *I) (any, error)) jsonHandler {
	return func(w *World, r *http.Request, body []byte) (any, error) {
		in, err := decodeInto[I](body)
		if err != nil {
			return nil, err
		}
		return f(w, r, in)
	}
}

type nameIn struct{ Name *string }
type namesIn struct {
	Names     []string
	NextToken *string
}
type assocIn struct{ FleetName, StackName *string }
type listAssocIn struct{ FleetName, StackName, NextToken *string }
type tagIn struct {
	ResourceArn *string
	Tags        map[string]string
	TagKeys     []string
}

var empty = struct{}{}

var jsonOps = map[string]jsonHandler{
	"CreateFleet": op(func(w *World, _ *http.Request, in *FleetInput) (any, error) {
		f, err := w.CreateFleet(in)
		return map[string]any{"Fleet": fleetJSON(f)}, err
	}),
	"UpdateFleet": op(func(w *World, _ *http.Request, in *FleetInput) (any, error) {
		f, err := w.UpdateFleet(in)
		return map[string]any{"Fleet": fleetJSON(f)}, err
	}),
	"DescribeFleets": op(func(w *World, _ *http.Request, in *namesIn) (any, error) {
		fs, next, err := w.DescribeFleets(in.Names, in.NextToken)
		out := make([]wireFleet, len(fs))
		for i, f := range fs {
			out[i] = fleetJSON(f)
		}
		return struct {
			Fleets    []wireFleet
			NextToken *string `json:",omitempty"`
		}{out, next}, err
	}),
	"StartFleet":  op(func(w *World, _ *http.Request, in *nameIn) (any, error) { return empty, w.StartFleet(in.Name) }),
	"StopFleet":   op(func(w *World, _ *http.Request, in *nameIn) (any, error) { return empty, w.StopFleet(in.Name) }),
	"DeleteFleet": op(func(w *World, _ *http.Request, in *nameIn) (any, error) { return empty, w.DeleteFleet(in.Name) }),
	"CreateStack": op(func(w *World, _ *http.Request, in *StackInput) (any, error) {
		s, err := w.CreateStack(in)
		return map[string]any{"Stack": stackJSON(s)}, err
	}),
	"UpdateStack": op(func(w *World, _ *http.Request, in *StackInput) (any, error) {
		s, err := w.UpdateStack(in)
		return map[string]any{"Stack": stackJSON(s)}, err
	}),
	"DescribeStacks": op(func(w *World, _ *http.Request, in *namesIn) (any, error) {
		ss, next, err := w.DescribeStacks(in.Names, in.NextToken)
		out := make([]wireStack, len(ss))
		for i, s := range ss {
			out[i] = stackJSON(s)
		}
		return struct {
			Stacks    []wireStack
			NextToken *string `json:",omitempty"`
		}{out, next}, err
	}),
	"DeleteStack": op(func(w *World, _ *http.Request, in *nameIn) (any, error) { return empty, w.DeleteStack(in.Name) }),
	"AssociateFleet": op(func(w *World, _ *http.Request, in *assocIn) (any, error) {
		return empty, w.AssociateFleet(in.FleetName, in.StackName)
	}),
	"DisassociateFleet": op(func(w *World, _ *http.Request, in *assocIn) (any, error) {
		return empty, w.DisassociateFleet(in.FleetName, in.StackName)
	}),
	"ListAssociatedStacks": op(func(w *World, _ *http.Request, in *listAssocIn) (any, error) {
		names, next, err := w.ListAssociatedStacks(in.FleetName, in.NextToken)
		return namesOut(names, next), err
	}),
	"ListAssociatedFleets": op(func(w *World, _ *http.Request, in *listAssocIn) (any, error) {
		names, next, err := w.ListAssociatedFleets(in.StackName, in.NextToken)
		return namesOut(names, next), err
	}),
	"CreateStreamingURL": op(func(w *World, r *http.Request, in *StreamingURLInput) (any, error) {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		u, exp, err := w.CreateStreamingURL(in, scheme+"://"+r.Host)
		return struct {
			StreamingURL string
			Expires      epochSeconds
		}{u, epochSeconds(exp)}, err
	}),
	"DescribeSessions": op(func(w *World, _ *http.Request, in *DescribeSessionsInput) (any, error) {
		ss, next, err := w.DescribeSessions(in)
		out := make([]wireSession, len(ss))
		for i, s := range ss {
			out[i] = sessionJSON(s)
		}
		return struct {
			Sessions  []wireSession
			NextToken *string `json:",omitempty"`
		}{out, next}, err
	}),
	"ExpireSession": op(func(w *World, _ *http.Request, in *struct{ SessionId *string }) (any, error) {
		return empty, w.ExpireSession(in.SessionId)
	}),
	"TagResource": op(func(w *World, _ *http.Request, in *tagIn) (any, error) {
		return empty, w.TagResource(in.ResourceArn, in.Tags)
	}),
	"UntagResource": op(func(w *World, _ *http.Request, in *tagIn) (any, error) {
		return empty, w.UntagResource(in.ResourceArn, in.TagKeys)
	}),
	"ListTagsForResource": op(func(w *World, _ *http.Request, in *tagIn) (any, error) {
		tags, err := w.ListTagsForResource(in.ResourceArn)
		if tags == nil {
			tags = map[string]string{}
		}
		return map[string]any{"Tags": tags}, err
	}),
	"DescribeImages": op(func(w *World, _ *http.Request, in *DescribeImagesInput) (any, error) {
		imgs, next, err := w.DescribeImages(in)
		out := make([]wireImage, len(imgs))
		for i, img := range imgs {
			out[i] = imageJSON(img)
		}
		return struct {
			Images    []wireImage
			NextToken *string `json:",omitempty"`
		}{out, next}, err
	}),
}

func namesOut(names []string, next *string) any {
	if names == nil {
		names = []string{}
	}
	return struct {
		Names     []string
		NextToken *string `json:",omitempty"`
	}{names, next}
}

// serveJSON is the AppStream API endpoint.
func (w *World) serveJSON(rw http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	if r.Header.Get("Smithy-Protocol") != "" || strings.HasPrefix(r.URL.Path, "/service/") {
		// Reference §1.4: fail loudly if the client switched to Smithy RPC v2 CBOR.
		writeJSONError(rw, reqID, http.StatusBadRequest, &APIError{Code: "UnsupportedProtocolException",
			Message: "this AppStream emulator speaks awsJson1_1 only; the client sent " + r.Header.Get("Smithy-Protocol") + " " + r.URL.Path})
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeJSONError(rw, reqID, http.StatusNotFound, &APIError{Code: "UnknownOperationException", Message: r.Method + " " + r.URL.Path})
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, jsonContentType) {
		writeJSONError(rw, reqID, http.StatusBadRequest, &APIError{Code: "UnsupportedProtocolException",
			Message: fmt.Sprintf("Content-Type must be %s, got %q", jsonContentType, ct)})
		return
	}
	if e := checkSigV4(r, "appstream", w.region); e != nil {
		writeJSONError(rw, reqID, http.StatusForbidden, e)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	h, ok := jsonOps[strings.TrimPrefix(target, targetPrefix)]
	if !ok || !strings.HasPrefix(target, targetPrefix) {
		writeJSONError(rw, reqID, http.StatusBadRequest, &APIError{Code: "UnknownOperationException", Message: "Unknown operation " + target})
		return
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		writeJSONError(rw, reqID, http.StatusBadRequest, &APIError{Code: "SerializationException", Message: err.Error()})
		return
	}
	out, err := h(w, r, buf.Bytes())
	if err != nil {
		e, ok := err.(*APIError)
		if !ok {
			e = &APIError{Code: "InternalFailure", Message: err.Error()}
		}
		// The API reference lists 400 for every AppStream exception (reference §1.5).
		writeJSONError(rw, reqID, http.StatusBadRequest, e)
		return
	}
	writeJSON(rw, reqID, out)
}

// ---- wire shapes ----

// epochSeconds encodes a timestamp as a JSON number of seconds since the epoch.
type epochSeconds time.Time

func (t epochSeconds) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	return []byte(strconv.FormatFloat(float64(tt.UnixMilli())/1000, 'f', -1, 64)), nil
}

func tsPtr(t time.Time) *epochSeconds {
	if t.IsZero() {
		return nil
	}
	e := epochSeconds(t)
	return &e
}

func sPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

type wireCapacity struct {
	Desired, Running, InUse, Available                                                 int32
	DesiredUserSessions, AvailableUserSessions, ActiveUserSessions, ActualUserSessions *int32 `json:",omitempty"`
}

type wireFleet struct {
	Arn                            string
	Name                           string
	DisplayName                    *string `json:",omitempty"`
	Description                    *string `json:",omitempty"`
	ImageName                      *string `json:",omitempty"`
	ImageArn                       *string `json:",omitempty"`
	InstanceType                   string
	FleetType                      string
	ComputeCapacityStatus          wireCapacity
	MaxUserDurationInSeconds       int32
	DisconnectTimeoutInSeconds     int32
	IdleDisconnectTimeoutInSeconds int32
	State                          string
	VpcConfig                      *VpcConfig    `json:",omitempty"`
	CreatedTime                    *epochSeconds `json:",omitempty"`
	FleetErrors                    []FleetError  `json:",omitempty"`
	EnableDefaultInternetAccess    bool
	DomainJoinInfo                 *DomainJoinInfo `json:",omitempty"`
	IamRoleArn                     *string         `json:",omitempty"`
	StreamView                     string
	Platform                       *string       `json:",omitempty"`
	MaxConcurrentSessions          *int32        `json:",omitempty"`
	UsbDeviceFilterStrings         []string      `json:",omitempty"`
	SessionScriptS3Location        *S3Location   `json:",omitempty"`
	MaxSessionsPerInstance         *int32        `json:",omitempty"`
	RootVolumeConfig               *VolumeConfig `json:",omitempty"`
	DisableIMDSV1                  bool
}

func fleetJSON(f Fleet) wireFleet {
	c := f.ComputeCapacityStatus
	return wireFleet{
		Arn: f.Arn, Name: f.Name, DisplayName: sPtr(f.DisplayName), Description: sPtr(f.Description),
		ImageName: sPtr(f.ImageName), ImageArn: sPtr(f.ImageArn), InstanceType: f.InstanceType, FleetType: f.FleetType,
		ComputeCapacityStatus: wireCapacity{c.Desired, c.Running, c.InUse, c.Available,
			c.DesiredUserSessions, c.AvailableUserSessions, c.ActiveUserSessions, c.ActualUserSessions},
		MaxUserDurationInSeconds: f.MaxUserDurationInSeconds, DisconnectTimeoutInSeconds: f.DisconnectTimeoutInSeconds,
		IdleDisconnectTimeoutInSeconds: f.IdleDisconnectTimeoutInSeconds, State: f.State, VpcConfig: f.VpcConfig,
		CreatedTime: tsPtr(f.CreatedTime), FleetErrors: f.FleetErrors, EnableDefaultInternetAccess: f.EnableDefaultInternetAccess,
		DomainJoinInfo: f.DomainJoinInfo, IamRoleArn: sPtr(f.IamRoleArn), StreamView: f.StreamView, Platform: sPtr(f.Platform),
		MaxConcurrentSessions: f.MaxConcurrentSessions, UsbDeviceFilterStrings: f.UsbDeviceFilterStrings,
		SessionScriptS3Location: f.SessionScriptS3Location, MaxSessionsPerInstance: f.MaxSessionsPerInstance,
		RootVolumeConfig: f.RootVolumeConfig, DisableIMDSV1: f.DisableIMDSV1,
	}
}

type wireStack struct {
	Arn                         string
	Name                        string
	Description                 *string       `json:",omitempty"`
	DisplayName                 *string       `json:",omitempty"`
	CreatedTime                 *epochSeconds `json:",omitempty"`
	StorageConnectors           []StorageConnector
	RedirectURL                 *string                      `json:",omitempty"`
	FeedbackURL                 *string                      `json:",omitempty"`
	StackErrors                 []StackError                 `json:",omitempty"`
	UserSettings                []UserSetting                `json:",omitempty"`
	ApplicationSettings         *ApplicationSettingsResponse `json:",omitempty"`
	AccessEndpoints             []AccessEndpoint             `json:",omitempty"`
	EmbedHostDomains            []string                     `json:",omitempty"`
	StreamingExperienceSettings *StreamingExperienceSettings `json:",omitempty"`
}

func stackJSON(s Stack) wireStack {
	sc := s.StorageConnectors
	if sc == nil {
		sc = []StorageConnector{}
	}
	return wireStack{
		Arn: s.Arn, Name: s.Name, Description: sPtr(s.Description), DisplayName: sPtr(s.DisplayName),
		CreatedTime: tsPtr(s.CreatedTime), StorageConnectors: sc, RedirectURL: sPtr(s.RedirectURL),
		FeedbackURL: sPtr(s.FeedbackURL), StackErrors: s.StackErrors, UserSettings: s.UserSettings,
		ApplicationSettings: s.ApplicationSettings, AccessEndpoints: s.AccessEndpoints,
		EmbedHostDomains: s.EmbedHostDomains, StreamingExperienceSettings: s.StreamingExperienceSettings,
	}
}

type wireNetworkAccess struct {
	EniPrivateIpAddress string
	EniId               string
}

type wireSession struct {
	Id                         string
	UserId                     string
	StackName                  string
	FleetName                  string
	State                      string
	ConnectionState            string
	StartTime                  *epochSeconds `json:",omitempty"`
	MaxExpirationTime          *epochSeconds `json:",omitempty"`
	AuthenticationType         string
	NetworkAccessConfiguration *wireNetworkAccess `json:",omitempty"`
	InstanceId                 *string            `json:",omitempty"`
	InstanceDrainStatus        string
}

func sessionJSON(s Session) wireSession {
	out := wireSession{
		Id: s.Id, UserId: s.UserId, StackName: s.StackName, FleetName: s.FleetName, State: s.State,
		ConnectionState: s.ConnectionState, StartTime: tsPtr(s.StartTime), MaxExpirationTime: tsPtr(s.MaxExpirationTime),
		AuthenticationType: s.AuthenticationType, InstanceId: sPtr(s.InstanceId), InstanceDrainStatus: "NOT_APPLICABLE",
	}
	if s.EniPrivateIpAddress != "" {
		out.NetworkAccessConfiguration = &wireNetworkAccess{EniPrivateIpAddress: s.EniPrivateIpAddress, EniId: s.EniId}
	}
	return out
}

type wireApp struct {
	Name        string
	DisplayName string
	Enabled     bool
}

type wireImage struct {
	Name         string
	Arn          string
	DisplayName  string
	State        string
	Visibility   string
	Platform     string
	ImageType    string
	CreatedTime  *epochSeconds `json:",omitempty"`
	Applications []wireApp
}

func imageJSON(i Image) wireImage {
	apps := make([]wireApp, len(i.Applications))
	for j, a := range i.Applications {
		apps[j] = wireApp(a)
	}
	return wireImage{Name: i.Name, Arn: i.Arn, DisplayName: i.DisplayName, State: i.State, Visibility: i.Visibility,
		Platform: i.Platform, ImageType: i.ImageType, CreatedTime: tsPtr(i.CreatedTime), Applications: apps}
}
