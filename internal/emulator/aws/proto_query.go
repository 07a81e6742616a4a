package aws

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gatestream/gatestream/internal/emulator/fault"
)

// The EC2 query-protocol wire layer: form-encoded Action=…&Version=2016-11-15
// (flat lists such as RouteTableId.1, Filter.1.Name, Filter.1.Value.1),
// responses as <ActionResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
// with <requestId> and lists of <item>, errors as
// <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>.

const ec2NS = "http://ec2.amazonaws.com/doc/2016-11-15/"

func ec2OpOf(r *http.Request) string {
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	form, err := url.ParseQuery(string(fault.PeekBody(r)))
	if err != nil || form.Get("Action") == "" {
		return "Unknown"
	}
	return form.Get("Action")
}

// xmlFaultErrors writes EC2's answers to injected faults.
type xmlFaultErrors struct{}

func (xmlFaultErrors) WriteThrottle(w http.ResponseWriter, _ string) {
	writeXMLError(w, newRequestID(), http.StatusServiceUnavailable, &APIError{Code: "RequestLimitExceeded", Message: "Request limit exceeded."})
}

func (xmlFaultErrors) WriteServerError(w http.ResponseWriter, status int) {
	e := &APIError{Code: "InternalError", Message: "An internal error has occurred."}
	if status == http.StatusServiceUnavailable {
		e = &APIError{Code: "Unavailable", Message: "The server is overloaded and can't handle the request."}
	}
	writeXMLError(w, newRequestID(), status, e)
}

type xmlErrorResponse struct {
	XMLName   xml.Name `xml:"Response"`
	Errors    []xmlErr `xml:"Errors>Error"`
	RequestID string   `xml:"RequestID"`
}

type xmlErr struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func writeXMLError(w http.ResponseWriter, reqID string, status int, e *APIError) {
	b, _ := xml.Marshal(xmlErrorResponse{Errors: []xmlErr{{e.Code, e.Message}}, RequestID: reqID})
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

// head starts every EC2 response document.
type head struct {
	RequestID string `xml:"requestId"`
}

func writeXML(w http.ResponseWriter, action, reqID string, v interface{ setHead(head) }) {
	v.setHead(head{RequestID: reqID})
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	// <ActionResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
	if err := enc.EncodeElement(v, xml.StartElement{Name: xml.Name{Space: ec2NS, Local: action + "Response"}}); err != nil {
		writeXMLError(w, reqID, http.StatusInternalServerError, &APIError{Code: "InternalError", Message: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	_, _ = w.Write(buf.Bytes())
}

func (h *head) setHead(n head) { *h = n }

// ---- request parsing ----

// flatList reads Name.1, Name.2, … in index order.
func flatList(form url.Values, name string) []string {
	type kv struct {
		i int
		v string
	}
	var items []kv
	for k, vs := range form {
		rest, ok := strings.CutPrefix(k, name+".")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(rest)
		if err != nil || len(vs) == 0 {
			continue
		}
		items = append(items, kv{i, vs[0]})
	}
	sort.Slice(items, func(a, b int) bool { return items[a].i < items[b].i })
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.v
	}
	return out
}

func filters(form url.Values) []Filter {
	idx := map[int]bool{}
	for k := range form {
		if rest, ok := strings.CutPrefix(k, "Filter."); ok {
			n, _, _ := strings.Cut(rest, ".")
			if i, err := strconv.Atoi(n); err == nil {
				idx[i] = true
			}
		}
	}
	var is []int
	for i := range idx {
		is = append(is, i)
	}
	sort.Ints(is)
	var out []Filter
	for _, i := range is {
		p := "Filter." + strconv.Itoa(i)
		out = append(out, Filter{Name: form.Get(p + ".Name"), Values: flatList(form, p+".Value")})
	}
	return out
}

func describeInput(form url.Values, idParam string) (*DescribeInput, *APIError) {
	in := &DescribeInput{IDs: flatList(form, idParam), Filters: filters(form)}
	if v := form.Get("MaxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, apiErr("InvalidParameterValue", "Value (%s) for parameter maxResults is invalid.", v)
		}
		in.MaxResults = &n
	}
	if v := form.Get("NextToken"); v != "" {
		in.NextToken = &v
	}
	for _, f := range in.Filters {
		if f.Name == "" {
			return nil, apiErr("InvalidParameterValue", "The filter 'null' is invalid")
		}
	}
	return in, nil
}

func routeInput(form url.Values) *RouteInput {
	in := &RouteInput{
		RouteTableID: form.Get("RouteTableId"), DestinationCidrBlock: form.Get("DestinationCidrBlock"),
		GatewayID: form.Get("GatewayId"), VpcPeeringConnectionID: form.Get("VpcPeeringConnectionId"),
		NetworkInterfaceID: form.Get("NetworkInterfaceId"), InstanceID: form.Get("InstanceId"),
	}
	for _, k := range []string{"NatGatewayId", "TransitGatewayId", "LocalGatewayId",
		"CarrierGatewayId", "EgressOnlyInternetGatewayId", "CoreNetworkArn", "VpcEndpointId", "OdbNetworkArn"} {
		if form.Get(k) != "" {
			in.OtherTargets = append(in.OtherTargets, k)
		}
	}
	return in
}

// ---- dispatch ----

type queryHandler func(w *World, form url.Values) (interface{ setHead(head) }, error)

var queryOps = map[string]queryHandler{
	"DescribeVpcs": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		in, e := describeInput(form, "VpcId")
		if e != nil {
			return nil, e
		}
		vs, next, err := w.DescribeVpcs(in)
		out := &describeVpcsXML{NextToken: next}
		for _, v := range vs {
			out.Vpcs = append(out.Vpcs, vpcXML{VpcID: v.ID, State: "available", CidrBlock: v.CIDR,
				CidrAssoc: []cidrAssocXML{{AssociationID: "vpc-cidr-assoc-" + strings.TrimPrefix(v.ID, "vpc-"), CidrBlock: v.CIDR, State: stateXML{"associated"}}},
				OwnerID:   w.account, DhcpOptionsID: "dopt-00000000000000000", InstanceTenancy: "default", IsDefault: false, Tags: tagsXML(v.Tags)})
		}
		return out, err
	},
	"DescribeSubnets": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		in, e := describeInput(form, "SubnetId")
		if e != nil {
			return nil, e
		}
		ss, next, err := w.DescribeSubnets(in)
		out := &describeSubnetsXML{NextToken: next}
		for _, s := range ss {
			out.Subnets = append(out.Subnets, subnetXML{SubnetID: s.ID, SubnetArn: "arn:aws:ec2:" + w.region + ":" + w.account + ":subnet/" + s.ID,
				State: "available", VpcID: s.VPCID, CidrBlock: s.CIDR, AvailableIPs: subnetFreeIPs(s.CIDR), AZ: s.AZ,
				OwnerID: w.account, Tags: tagsXML(s.Tags)})
		}
		return out, err
	},
	"DescribeRouteTables": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		in, e := describeInput(form, "RouteTableId")
		if e != nil {
			return nil, e
		}
		rts, next, err := w.DescribeRouteTables(in)
		out := &describeRouteTablesXML{NextToken: next}
		for _, rt := range rts {
			x := routeTableXML{RouteTableID: rt.ID, VpcID: rt.VPCID, OwnerID: w.account, Tags: tagsXML(rt.Tags)}
			for _, a := range rt.Associations {
				x.Associations = append(x.Associations, rtAssocXML{ID: a.ID, RouteTableID: rt.ID, SubnetID: a.SubnetID,
					Main: a.Main, State: stateXML{"associated"}})
			}
			for _, r := range rt.Routes {
				rx := routeXML{Dest: r.DestinationCidrBlock, GatewayID: r.GatewayID,
					PcxID: r.VpcPeeringConnectionID, NetworkInterfaceID: r.NetworkInterfaceID, InstanceID: r.InstanceID,
					State: r.State, Origin: r.Origin}
				if r.InstanceID != "" {
					rx.InstanceOwnerID = w.account
				}
				x.Routes = append(x.Routes, rx)
			}
			out.RouteTables = append(out.RouteTables, x)
		}
		return out, err
	},
	"CreateRoute": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		return &returnXML{Return: true}, w.CreateRoute(routeInput(form))
	},
	"ReplaceRoute": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		return &returnXML{Return: true}, w.ReplaceRoute(routeInput(form))
	},
	"DeleteRoute": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		return &returnXML{Return: true}, w.DeleteRoute(routeInput(form))
	},
	"DescribeSecurityGroups": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		in, e := describeInput(form, "GroupId")
		if e != nil {
			return nil, e
		}
		in.Names = flatList(form, "GroupName")
		gs, next, err := w.DescribeSecurityGroups(in)
		out := &describeSGsXML{NextToken: next}
		for _, g := range gs {
			out.Groups = append(out.Groups, sgXML{OwnerID: w.account, GroupID: g.ID, GroupName: g.Name, Description: g.Description,
				VpcID: g.VPCID, Arn: "arn:aws:ec2:" + w.region + ":" + w.account + ":security-group/" + g.ID,
				Ingress: permsXML(g.Ingress), Egress: permsXML(g.Egress), Tags: tagsXML(g.Tags)})
		}
		return out, err
	},
	"DescribeVpcPeeringConnections": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		in, e := describeInput(form, "VpcPeeringConnectionId")
		if e != nil {
			return nil, e
		}
		ps, next, err := w.DescribeVpcPeeringConnections(in)
		out := &describePeeringsXML{NextToken: next}
		for _, p := range ps {
			out.Peerings = append(out.Peerings, peeringXML(p))
		}
		return out, err
	},
	"AcceptVpcPeeringConnection": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		p, err := w.AcceptVpcPeeringConnection(form.Get("VpcPeeringConnectionId"))
		x := peeringXML(p)
		return &acceptPeeringXML{Peering: &x}, err
	},
	"DeleteVpcPeeringConnection": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		return &returnXML{Return: true}, w.DeleteVpcPeeringConnection(form.Get("VpcPeeringConnectionId"))
	},
}

// serveQuery is the EC2 API endpoint.
func (w *World) serveQuery(rw http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeXMLError(rw, reqID, http.StatusMethodNotAllowed, &APIError{Code: "InvalidAction", Message: "Unsupported method " + r.Method})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeXMLError(rw, reqID, http.StatusBadRequest, &APIError{Code: "MalformedQueryString", Message: err.Error()})
		return
	}
	if e := checkSigV4(r, "ec2", w.region); e != nil {
		// EC2 reports signature problems as AuthFailure (401).
		writeXMLError(rw, reqID, http.StatusUnauthorized, &APIError{Code: "AuthFailure", Message: "AWS was not able to validate the provided access credentials: " + e.Message})
		return
	}
	action := r.Form.Get("Action")
	if action == "" {
		writeXMLError(rw, reqID, http.StatusBadRequest, &APIError{Code: "MissingAction", Message: "The request must contain the parameter Action"})
		return
	}
	if r.Form.Get("Version") == "" {
		writeXMLError(rw, reqID, http.StatusBadRequest, &APIError{Code: "MissingParameter", Message: "The request must contain the parameter Version"})
		return
	}
	h, ok := queryOps[action]
	if !ok {
		writeXMLError(rw, reqID, http.StatusBadRequest, &APIError{Code: "InvalidAction", Message: "The action " + action + " is not valid for this web service."})
		return
	}
	if r.Form.Get("DryRun") == "true" {
		writeXMLError(rw, reqID, http.StatusPreconditionFailed, &APIError{Code: "DryRunOperation", Message: "Request would have succeeded, but DryRun flag is set."})
		return
	}
	out, err := h(w, r.Form)
	if err != nil {
		e, ok := err.(*APIError)
		if !ok {
			e = &APIError{Code: "InternalError", Message: err.Error()}
		}
		writeXMLError(rw, reqID, http.StatusBadRequest, e)
		return
	}
	writeXML(rw, action, reqID, out)
}

// ---- response shapes (element names from the SDK's ec2 deserializers) ----

type stateXML struct {
	State string `xml:"state"`
}

type tagXML struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func tagsXML(m map[string]string) []tagXML {
	var out []tagXML
	for _, k := range sortedKeys(m) {
		out = append(out, tagXML{k, m[k]})
	}
	return out
}

type returnXML struct {
	head
	Return bool `xml:"return"`
}

type cidrAssocXML struct {
	AssociationID string   `xml:"associationId"`
	CidrBlock     string   `xml:"cidrBlock"`
	State         stateXML `xml:"cidrBlockState"`
}

type vpcXML struct {
	VpcID           string         `xml:"vpcId"`
	OwnerID         string         `xml:"ownerId"`
	State           string         `xml:"state"`
	CidrBlock       string         `xml:"cidrBlock"`
	CidrAssoc       []cidrAssocXML `xml:"cidrBlockAssociationSet>item"`
	DhcpOptionsID   string         `xml:"dhcpOptionsId"`
	InstanceTenancy string         `xml:"instanceTenancy"`
	IsDefault       bool           `xml:"isDefault"`
	Tags            []tagXML       `xml:"tagSet>item"`
}

type describeVpcsXML struct {
	head
	Vpcs      []vpcXML `xml:"vpcSet>item"`
	NextToken *string  `xml:"nextToken,omitempty"`
}

type subnetXML struct {
	SubnetID     string   `xml:"subnetId"`
	SubnetArn    string   `xml:"subnetArn"`
	State        string   `xml:"state"`
	OwnerID      string   `xml:"ownerId"`
	VpcID        string   `xml:"vpcId"`
	CidrBlock    string   `xml:"cidrBlock"`
	AvailableIPs int      `xml:"availableIpAddressCount"`
	AZ           string   `xml:"availabilityZone"`
	DefaultForAz bool     `xml:"defaultForAz"`
	MapPublicIP  bool     `xml:"mapPublicIpOnLaunch"`
	Tags         []tagXML `xml:"tagSet>item"`
}

type describeSubnetsXML struct {
	head
	Subnets   []subnetXML `xml:"subnetSet>item"`
	NextToken *string     `xml:"nextToken,omitempty"`
}

type rtAssocXML struct {
	ID           string   `xml:"routeTableAssociationId"`
	RouteTableID string   `xml:"routeTableId"`
	SubnetID     string   `xml:"subnetId,omitempty"`
	Main         bool     `xml:"main"`
	State        stateXML `xml:"associationState"`
}

type routeXML struct {
	Dest               string `xml:"destinationCidrBlock"`
	GatewayID          string `xml:"gatewayId,omitempty"`
	PcxID              string `xml:"vpcPeeringConnectionId,omitempty"`
	InstanceID         string `xml:"instanceId,omitempty"`
	InstanceOwnerID    string `xml:"instanceOwnerId,omitempty"`
	NetworkInterfaceID string `xml:"networkInterfaceId,omitempty"`
	State              string `xml:"state"`
	Origin             string `xml:"origin"`
}

type routeTableXML struct {
	RouteTableID string       `xml:"routeTableId"`
	VpcID        string       `xml:"vpcId"`
	OwnerID      string       `xml:"ownerId"`
	Routes       []routeXML   `xml:"routeSet>item"`
	Associations []rtAssocXML `xml:"associationSet>item"`
	Tags         []tagXML     `xml:"tagSet>item"`
}

type describeRouteTablesXML struct {
	head
	RouteTables []routeTableXML `xml:"routeTableSet>item"`
	NextToken   *string         `xml:"nextToken,omitempty"`
}

type ipRangeXML struct {
	CidrIP string `xml:"cidrIp"`
}

type permXML struct {
	Protocol string       `xml:"ipProtocol"`
	FromPort *int         `xml:"fromPort,omitempty"`
	ToPort   *int         `xml:"toPort,omitempty"`
	Ranges   []ipRangeXML `xml:"ipRanges>item"`
}

func permsXML(rules []Rule) []permXML {
	var out []permXML
	for _, r := range rules {
		p := permXML{Protocol: r.Protocol}
		if p.Protocol == "" {
			p.Protocol = "-1"
		}
		if p.Protocol != "-1" {
			from, to := r.FromPort, r.ToPort
			p.FromPort, p.ToPort = &from, &to
		}
		for _, c := range r.CIDRs {
			p.Ranges = append(p.Ranges, ipRangeXML{c})
		}
		out = append(out, p)
	}
	return out
}

type sgXML struct {
	OwnerID     string    `xml:"ownerId"`
	GroupID     string    `xml:"groupId"`
	GroupName   string    `xml:"groupName"`
	Description string    `xml:"groupDescription"`
	VpcID       string    `xml:"vpcId"`
	Arn         string    `xml:"securityGroupArn"`
	Ingress     []permXML `xml:"ipPermissions>item"`
	Egress      []permXML `xml:"ipPermissionsEgress>item"`
	Tags        []tagXML  `xml:"tagSet>item"`
}

type describeSGsXML struct {
	head
	Groups    []sgXML `xml:"securityGroupInfo>item"`
	NextToken *string `xml:"nextToken,omitempty"`
}

type cidrXML struct {
	CidrBlock string `xml:"cidrBlock"`
}

type peeringVpcXML struct {
	CidrBlock    string    `xml:"cidrBlock,omitempty"`
	CidrBlockSet []cidrXML `xml:"cidrBlockSet>item"`
	OwnerID      string    `xml:"ownerId"`
	VpcID        string    `xml:"vpcId"`
	Region       string    `xml:"region"`
}

type peeringStatusXML struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type peeringItemXML struct {
	ID             string           `xml:"vpcPeeringConnectionId"`
	Requester      peeringVpcXML    `xml:"requesterVpcInfo"`
	Accepter       peeringVpcXML    `xml:"accepterVpcInfo"`
	Status         peeringStatusXML `xml:"status"`
	ExpirationTime string           `xml:"expirationTime,omitempty"`
	Tags           []tagXML         `xml:"tagSet>item"`
}

func peeringXML(p Peering) peeringItemXML {
	x := peeringItemXML{
		ID:        p.ID,
		Requester: peeringVpcXML{CidrBlock: p.RequesterCIDR, OwnerID: p.RequesterOwnerID, VpcID: p.RequesterVPCID, Region: p.RequesterRegion},
		Accepter:  peeringVpcXML{OwnerID: p.AccepterOwnerID, VpcID: p.AccepterVPCID, Region: p.AccepterRegion},
		Status:    peeringStatusXML{p.Status, p.Message},
		Tags:      tagsXML(p.Tags),
	}
	if p.RequesterCIDR != "" {
		x.Requester.CidrBlockSet = []cidrXML{{p.RequesterCIDR}}
	}
	// EC2 reports the accepter's CIDR once the peering is active.
	if p.Status == PeeringActive && p.AccepterCIDR != "" {
		x.Accepter.CidrBlock = p.AccepterCIDR
		x.Accepter.CidrBlockSet = []cidrXML{{p.AccepterCIDR}}
	}
	if !p.ExpirationTime.IsZero() {
		x.ExpirationTime = p.ExpirationTime.UTC().Format(time.RFC3339)
	}
	return x
}

type describePeeringsXML struct {
	head
	Peerings  []peeringItemXML `xml:"vpcPeeringConnectionSet>item"`
	NextToken *string          `xml:"nextToken,omitempty"`
}

type acceptPeeringXML struct {
	head
	Peering *peeringItemXML `xml:"vpcPeeringConnection"`
}
