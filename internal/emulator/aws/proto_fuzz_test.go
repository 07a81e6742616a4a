package aws_test

// Fuzz targets of the two wire protocols: the EC2 query protocol (form
// bodies and query strings, XML answers) and AppStream's awsJson1_1
// (X-Amz-Target and JSON bodies). Each input runs against a fresh world,
// through the real handlers (fault middleware included). Run one with
//
//	go test ./internal/emulator/aws -run '^$' -fuzz '^FuzzEC2Query$' -fuzztime 60s -parallel 1

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	clocktesting "k8s.io/utils/clock/testing"

	emu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
)

const ec2NS = "http://ec2.amazonaws.com/doc/2016-11-15/"

// Authorization headers a fuzzed request carries (its flags pick one).
var fuzzSigs = []string{
	"AWS4-HMAC-SHA256 Credential=AKID/20260901/ap-northeast-1/%s/aws4_request, SignedHeaders=host, Signature=00",
	"",
	"AWS4-HMAC-SHA256 Credential=AKID/20260901/us-east-1/%s/aws4_request, SignedHeaders=host, Signature=00",
	"AWS4-HMAC-SHA256 Credential=AKID/20260901/ap-northeast-1/sts/aws4_request",
	"Bearer %s",
}

// fuzzFault in the flags arms a one-shot fault (the next flag bit picks
// a server error or a throttle) for every call.
const (
	fuzzFault    = 0x80
	fuzzThrottle = 0x40
)

// newFuzzWorld is a fresh world with the tests' network (seed), an instance,
// a pending peering, and a running fleet with a stack and a streaming URL.
// Fuzzed inputs may say {instance}, {eni} and {pcx} for their ids.
func newFuzzWorld(t testing.TB) (*emu.World, *strings.Replacer) {
	t.Helper()
	w := emu.New(emu.Options{Clock: clocktesting.NewFakeClock(t0), Faults: fault.New(1), PageSize: 2})
	seed(w)
	pcx, err := w.RequestPeering("950858143650", "vpc-0soracom", "100.64.0.0/24", w.AccountID(), "vpc-0abc", region)
	if err != nil {
		t.Fatal(err)
	}
	run := url.Values{"Action": {"RunInstances"}, "Version": {"2016-11-15"}, "ImageId": {"resolve:ssm:" + emu.SSMParamAL2023X8664},
		"InstanceType": {"t3.micro"}, "MinCount": {"1"}, "MaxCount": {"1"}, "SubnetId": {"subnet-0a"}, "SecurityGroupId.1": {"sg-0a"}}
	if code, body := serveEC2(w, "POST", "/", run.Encode(), 0); code != 200 {
		t.Fatalf("RunInstances: %d %s", code, body)
	}
	ins := w.Instances()
	if len(ins) != 1 {
		t.Fatalf("instances: %+v", ins)
	}
	eni := ""
	if nis := w.NetworkInterfaces(); len(nis) > 0 {
		eni = nis[0].ID
	}
	for _, c := range []struct{ target, body string }{
		{"CreateFleet", `{"Name":"fleet-1","InstanceType":"stream.standard.medium","ImageName":"TeraTerm-Image","FleetType":"ON_DEMAND",` +
			`"ComputeCapacity":{"DesiredInstances":1},"VpcConfig":{"SubnetIds":["subnet-0a"],"SecurityGroupIds":["sg-0a"]}}`},
		{"CreateStack", `{"Name":"stack-1"}`},
		{"AssociateFleet", `{"FleetName":"fleet-1","StackName":"stack-1"}`},
		{"StartFleet", `{"Name":"fleet-1"}`},
		{"CreateStreamingURL", `{"StackName":"stack-1","FleetName":"fleet-1","UserId":"user-a","ApplicationId":"teraterm","Validity":300,"SessionContext":"10.128.3.7:22"}`},
	} {
		if code, body := serveAppStream(w, c.target, c.body, 0); code != 200 {
			t.Fatalf("%s: %d %s", c.target, code, body)
		}
	}
	return w, strings.NewReplacer("{instance}", ins[0].ID, "{eni}", eni, "{pcx}", pcx)
}

// serveEC2 sends one request to the EC2 handler the way net/http's server
// would hand it over (a request it cannot parse never reaches the handler:
// code 0).
func serveEC2(w *emu.World, method, target, body string, flags uint8) (int, string) {
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: ec2.ap-northeast-1.amazonaws.com\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: %d\r\n", method, target, len(body))
	if sig := fuzzSigs[int(flags&^(fuzzFault|fuzzThrottle))%len(fuzzSigs)]; sig != "" {
		fmt.Fprintf(&head, "Authorization: "+sig+"\r\n", "ec2")
	}
	head.WriteString("\r\n")
	return serveRaw(w.EC2Handler(), head.String()+body)
}

func serveAppStream(w *emu.World, target, body string, flags uint8) (int, string) {
	var head strings.Builder
	fmt.Fprintf(&head, "POST / HTTP/1.1\r\nHost: appstream2.ap-northeast-1.amazonaws.com\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: PhotonAdminProxyService.%s\r\nContent-Length: %d\r\n", target, len(body))
	if sig := fuzzSigs[int(flags&^(fuzzFault|fuzzThrottle))%len(fuzzSigs)]; sig != "" {
		fmt.Fprintf(&head, "Authorization: "+sig+"\r\n", "appstream")
	}
	head.WriteString("\r\n")
	return serveRaw(w.AppStreamHandler(), head.String()+body)
}

func serveRaw(h http.Handler, raw string) (int, string) {
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		return 0, err.Error()
	}
	req.RemoteAddr = "192.0.2.1:1234"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Content-Type") + "\n" + res.Header.Get("X-Amzn-Requestid") + "\n" + string(b)
}

func armFault(w *emu.World, api string, flags uint8) (int, bool) {
	if flags&fuzzFault == 0 {
		return 0, false
	}
	kind, status := fault.ServerError, http.StatusInternalServerError
	if flags&fuzzThrottle != 0 {
		kind, status = fault.Throttle, 0
	}
	w.Faults().Add(fault.Rule{API: api, Op: fault.Any, Kind: kind, Times: 1})
	return status, true
}

// FuzzEC2Query: any form body or query string, with any method and
// signature: no panic, no 5xx unless a fault is armed, and every answer is
// well-formed XML: <ActionResponse xmlns=…> with a requestId on 200, else
// <Response><Errors><Error><Code> with a code and a RequestID. No error
// escapes as InternalError.
func FuzzEC2Query(f *testing.F) {
	for _, s := range []struct {
		method, query, body string
		flags               uint8
	}{
		{"POST", "", "Action=DescribeRouteTables&Version=2016-11-15&RouteTableId.1=rtb-0abc", 0},
		{"POST", "", "Action=DescribeRouteTables&Version=2016-11-15&Filter.1.Name=association.subnet-id&Filter.1.Value.1=subnet-0a&MaxResults=5", 0},
		{"POST", "", "Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=&MaxResults=x", 0},
		{"POST", "", "Action=DescribeSubnets&Version=2016-11-15&SubnetId.2=subnet-0b&SubnetId.1=subnet-0a", 0},
		{"POST", "", "Action=DescribeSecurityGroups&Version=2016-11-15&GroupName.1=appstream&NextToken=abc", 0},
		{"POST", "", "Action=CreateRoute&Version=2016-11-15&RouteTableId=rtb-0abc&DestinationCidrBlock=192.168.1.0%2F24&InstanceId={instance}", 0},
		{"POST", "", "Action=CreateRoute&Version=2016-11-15&RouteTableId=rtb-0abc&DestinationCidrBlock=100.64.0.0%2F24&VpcPeeringConnectionId={pcx}", 0},
		{"POST", "", "Action=ReplaceRoute&Version=2016-11-15&RouteTableId=rtb-0abc&DestinationCidrBlock=10.0.0.0%2F16&NatGatewayId=nat-1", 0},
		{"POST", "", "Action=DeleteRoute&Version=2016-11-15&RouteTableId=rtb-0abc&DestinationCidrBlock=0.0.0.0%2F0", 0},
		{"POST", "", "Action=AcceptVpcPeeringConnection&Version=2016-11-15&VpcPeeringConnectionId={pcx}", 0},
		{"POST", "", "Action=DescribeVpcPeeringConnections&Version=2016-11-15&VpcPeeringConnectionId.1={pcx}", 0},
		{"POST", "", "Action=DeleteVpcPeeringConnection&Version=2016-11-15&VpcPeeringConnectionId=pcx-nope", 0},
		{"POST", "", "Action=RunInstances&Version=2016-11-15&ImageId=resolve%3Assm%3A%2Faws%2Fservice%2Fami-amazon-linux-latest%2Fal2023-ami-kernel-default-x86_64&InstanceType=t3.micro&MinCount=1&MaxCount=1&SubnetId=subnet-0b&ClientToken=tok-1&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=role&TagSpecification.1.Tag.1.Value=router", 0},
		{"POST", "", "Action=RunInstances&Version=2016-11-15&ImageId=ami-nope&MinCount=2&MaxCount=x&NetworkInterface.1.DeviceIndex=0", 0},
		{"POST", "", "Action=DescribeInstances&Version=2016-11-15&InstanceId.1={instance}&Filter.1.Name=instance-state-name&Filter.1.Value.1=running", 0},
		{"POST", "", "Action=DescribeInstanceStatus&Version=2016-11-15&IncludeAllInstances=true&InstanceId.1={instance}", 0},
		{"POST", "", "Action=DescribeInstanceAttribute&Version=2016-11-15&InstanceId={instance}&Attribute=sourceDestCheck", 0},
		{"POST", "", "Action=ModifyInstanceAttribute&Version=2016-11-15&InstanceId={instance}&SourceDestCheck.Value=false", 0},
		{"POST", "", "Action=ModifyNetworkInterfaceAttribute&Version=2016-11-15&NetworkInterfaceId={eni}&SourceDestCheck.Value=maybe", 0},
		{"POST", "", "Action=DescribeNetworkInterfaces&Version=2016-11-15&NetworkInterfaceId.1={eni}", 0},
		{"POST", "", "Action=StopInstances&Version=2016-11-15&InstanceId.1={instance}", 0},
		{"POST", "", "Action=TerminateInstances&Version=2016-11-15&InstanceId.1={instance}&InstanceId.2=i-nope", 0},
		{"POST", "", "Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupId=sg-0a&IpPermissions.1.IpProtocol=udp&IpPermissions.1.FromPort=4789&IpPermissions.1.ToPort=4789&IpPermissions.1.IpRanges.1.CidrIp=203.0.113.9%2F32", 0},
		{"POST", "", "Action=RevokeSecurityGroupEgress&Version=2016-11-15&GroupId=sg-0a&IpProtocol=-1&CidrIp=0.0.0.0%2F0&FromPort=x", 0},
		{"GET", "?Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-0abc", "", 0},
		{"POST", "", "Action=DescribeVpcs&Version=2016-11-15&DryRun=true", 0},
		{"POST", "", "Action=CreateNatGateway&Version=2016-11-15", 0},
		{"POST", "", "Action=DescribeVpcs", 0},
		{"POST", "", "Version=2016-11-15", 0},
		{"POST", "", "Action=DescribeVpcs&Version=2016-11-15&%zz", 0},
		{"PUT", "", "Action=DescribeVpcs&Version=2016-11-15", 0},
		{"POST", "", "Action=DescribeVpcs&Version=2016-11-15", 1},
		{"POST", "", "Action=DescribeVpcs&Version=2016-11-15", 2},
		{"POST", "", "Action=DescribeVpcs&Version=2016-11-15", 3},
		{"POST", "", "Action=DescribeVpcs&Version=2016-11-15", 4},
		{"POST", "", "Action=DescribeVpcs&Version=2016-11-15", fuzzFault},
		{"POST", "", "Action=DescribeVpcs&Version=2016-11-15", fuzzFault | fuzzThrottle},
	} {
		f.Add(s.method, s.query, []byte(s.body), s.flags)
	}
	f.Fuzz(func(t *testing.T, method, query string, body []byte, flags uint8) {
		w, ids := newFuzzWorld(t)
		query, body = ids.Replace(query), []byte(ids.Replace(string(body)))
		want5xx, faulted := armFault(w, "ec2", flags)
		code, out := serveEC2(w, method, "/"+query, string(body), flags)
		if code == 0 {
			return
		}
		ct, rest, _ := strings.Cut(out, "\n")
		_, doc, _ := strings.Cut(rest, "\n")
		if faulted && want5xx != 0 && code != want5xx {
			t.Fatalf("server error armed: %d %s", code, doc)
		}
		if code >= 500 && !faulted {
			t.Fatalf("%s /%s %q: %d %s", method, query, body, code, doc)
		}
		if ct != "text/xml;charset=UTF-8" {
			t.Fatalf("%d with Content-Type %q: %s", code, ct, doc)
		}
		root, err := checkXML(doc)
		if err != nil {
			t.Fatalf("%s /%s %q: %d, not well-formed XML (%v): %s", method, query, body, code, err, doc)
		}
		if code == http.StatusOK {
			if root.Name.Space != ec2NS || !strings.HasSuffix(root.Name.Local, "Response") || root.Name.Local == "Response" {
				t.Fatalf("200 with root %v: %s", root.Name, doc)
			}
			var ok struct {
				RequestID string `xml:"requestId"`
			}
			if err := xml.Unmarshal([]byte(doc), &ok); err != nil || ok.RequestID == "" {
				t.Fatalf("200 without requestId (%v): %s", err, doc)
			}
			return
		}
		var e struct {
			XMLName   xml.Name
			Codes     []string `xml:"Errors>Error>Code"`
			Messages  []string `xml:"Errors>Error>Message"`
			RequestID string   `xml:"RequestID"`
		}
		if err := xml.Unmarshal([]byte(doc), &e); err != nil || e.XMLName.Local != "Response" || len(e.Codes) != 1 || e.Codes[0] == "" ||
			len(e.Messages) != 1 || e.RequestID == "" {
			t.Fatalf("%d without an EC2 error document (%v): %s", code, err, doc)
		}
		if e.Codes[0] == "InternalError" && !faulted {
			t.Fatalf("%s /%s %q: an error without an EC2 code: %s", method, query, body, doc)
		}
	})
}

// checkXML reads the whole document and returns its root element.
func checkXML(doc string) (xml.StartElement, error) {
	d := xml.NewDecoder(strings.NewReader(doc))
	var root xml.StartElement
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if root.Name.Local == "" || depth != 0 {
				return root, errors.New("no root element or unclosed elements")
			}
			return root, nil
		}
		if err != nil {
			return root, err
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if root.Name.Local != "" {
					return root, errors.New("a second root element")
				}
				root = el.Copy()
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(el)) > 0 {
				return root, errors.New("text outside the root element")
			}
		}
	}
}

// FuzzAppStreamJSON: any X-Amz-Target and body (with any of the signatures
// and content types): no panic, no 5xx unless a fault is armed, every answer
// is JSON with the awsJson1_1 content type and a request id, and every error
// is {"__type": code, "message": text}, never an InternalFailure.
func FuzzAppStreamJSON(f *testing.F) {
	for _, s := range []struct {
		target, body string
		flags        uint8
	}{
		{"PhotonAdminProxyService.DescribeFleets", `{"Names":["fleet-1"]}`, 0},
		{"PhotonAdminProxyService.DescribeFleets", ``, 0},
		{"PhotonAdminProxyService.DescribeStacks", `{"NextToken":"x"}`, 0},
		{"PhotonAdminProxyService.CreateFleet", `{"Name":"fleet-2","InstanceType":"stream.standard.small","ImageName":"TeraTerm-Image","FleetType":"ON_DEMAND","ComputeCapacity":{"DesiredInstances":2},"VpcConfig":{"SubnetIds":["subnet-0a","subnet-0b"],"SecurityGroupIds":["sg-0a"]},"MaxUserDurationInSeconds":3600,"Tags":{"owner":"u-1"}}`, 0},
		{"PhotonAdminProxyService.UpdateFleet", `{"Name":"fleet-1","ComputeCapacity":{"DesiredInstances":-1},"AttributesToDelete":["VPC_CONFIGURATION"]}`, 0},
		{"PhotonAdminProxyService.StopFleet", `{"Name":"fleet-1"}`, 0},
		{"PhotonAdminProxyService.DeleteFleet", `{"Name":"fleet-1"}`, 0},
		{"PhotonAdminProxyService.CreateStack", `{"Name":"stack-2","UserSettings":[{"Action":"CLIPBOARD_COPY_FROM_LOCAL_DEVICE","Permission":"DISABLED"}],"ApplicationSettings":{"Enabled":false}}`, 0},
		{"PhotonAdminProxyService.UpdateStack", `{"Name":"stack-1","AttributesToDelete":["USER_SETTINGS"]}`, 0},
		{"PhotonAdminProxyService.DeleteStack", `{"Name":"stack-1"}`, 0},
		{"PhotonAdminProxyService.DisassociateFleet", `{"FleetName":"fleet-1","StackName":"stack-1"}`, 0},
		{"PhotonAdminProxyService.ListAssociatedStacks", `{"FleetName":"fleet-1"}`, 0},
		{"PhotonAdminProxyService.ListAssociatedFleets", `{"StackName":"stack-1"}`, 0},
		{"PhotonAdminProxyService.CreateStreamingURL", `{"StackName":"stack-1","FleetName":"fleet-1","UserId":"user-a","ApplicationId":"rdp","Validity":1,"SessionContext":"10.128.3.7:3389"}`, 0},
		{"PhotonAdminProxyService.CreateStreamingURL", `{"StackName":"stack-1","FleetName":"fleet-1","UserId":"u","Validity":6048001}`, 0},
		{"PhotonAdminProxyService.DescribeSessions", `{"StackName":"stack-1","FleetName":"fleet-1","UserId":"user-a","Limit":0}`, 0},
		{"PhotonAdminProxyService.ExpireSession", `{"SessionId":"nope"}`, 0},
		{"PhotonAdminProxyService.TagResource", `{"ResourceArn":"arn:aws:appstream:ap-northeast-1:123456789012:fleet/fleet-1","Tags":{"a":"b"}}`, 0},
		{"PhotonAdminProxyService.UntagResource", `{"ResourceArn":"arn:aws:appstream:ap-northeast-1:123456789012:stack/stack-1","TagKeys":["a"]}`, 0},
		{"PhotonAdminProxyService.ListTagsForResource", `{"ResourceArn":"arn:nope"}`, 0},
		{"PhotonAdminProxyService.DescribeImages", `{"Names":["TeraTerm-Image"],"Type":"PRIVATE","MaxResults":1}`, 0},
		{"PhotonAdminProxyService.DescribeFleets", `{not json`, 0},
		{"PhotonAdminProxyService.DescribeFleets", `{"Names":"fleet-1"}`, 0},
		{"PhotonAdminProxyService.Nope", `{}`, 0},
		{"DescribeFleets", `{}`, 0},
		{"PhotonAdminProxyService.DescribeFleets", `{}`, 1},
		{"PhotonAdminProxyService.DescribeFleets", `{}`, 2},
		{"PhotonAdminProxyService.DescribeFleets", `{}`, 3},
		{"PhotonAdminProxyService.DescribeFleets", `{}`, 4},
		{"PhotonAdminProxyService.DescribeFleets", `{}`, 5},
		{"PhotonAdminProxyService.DescribeFleets", `{}`, 6},
		{"PhotonAdminProxyService.CreateStack", `{"Name":"stack-3"}`, fuzzFault},
		{"PhotonAdminProxyService.CreateStack", `{"Name":"stack-3"}`, fuzzFault | fuzzThrottle},
	} {
		f.Add(s.target, []byte(s.body), s.flags)
	}
	contentTypes := []string{"application/x-amz-json-1.1", "application/json", "application/cbor"}
	f.Fuzz(func(t *testing.T, target string, body []byte, flags uint8) {
		w, _ := newFuzzWorld(t)
		want5xx, faulted := armFault(w, "appstream", flags)
		var head strings.Builder
		fmt.Fprintf(&head, "POST / HTTP/1.1\r\nHost: appstream2.ap-northeast-1.amazonaws.com\r\nContent-Length: %d\r\nX-Amz-Target: %s\r\n", len(body), target)
		sel := int(flags &^ (fuzzFault | fuzzThrottle))
		fmt.Fprintf(&head, "Content-Type: %s\r\n", contentTypes[sel/len(fuzzSigs)%len(contentTypes)])
		if sig := fuzzSigs[sel%len(fuzzSigs)]; sig != "" {
			fmt.Fprintf(&head, "Authorization: "+sig+"\r\n", "appstream")
		}
		head.WriteString("\r\n")
		code, out := serveRaw(w.AppStreamHandler(), head.String()+string(body))
		if code == 0 {
			return
		}
		parts := strings.SplitN(out, "\n", 3)
		ct, reqID, doc := parts[0], parts[1], parts[2]
		if faulted && want5xx != 0 && code != want5xx {
			t.Fatalf("server error armed: %d %s", code, doc)
		}
		if code >= 500 && !faulted {
			t.Fatalf("%q %q: %d %s", target, body, code, doc)
		}
		if ct != "application/x-amz-json-1.1" || reqID == "" || !json.Valid([]byte(doc)) {
			t.Fatalf("%q %q: %d, Content-Type %q, request id %q, body %s", target, body, code, ct, reqID, doc)
		}
		if code == http.StatusOK {
			return
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(doc), &e); err != nil {
			t.Fatalf("%d: %v %s", code, err, doc)
		}
		typ, _ := e["__type"].(string)
		if _, ok := e["message"].(string); !ok || typ == "" || len(e) != 2 {
			t.Fatalf("%d without an awsJson error body: %s", code, doc)
		}
		if typ == "InternalFailure" && !faulted {
			t.Fatalf("%q %q: an error without an AppStream code: %s", target, body, doc)
		}
	})
}
