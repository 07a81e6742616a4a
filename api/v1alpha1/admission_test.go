package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/gatestream/gatestream/internal/testenv"
)

// The admission tests send invalid manifests to a real kube-apiserver and
// check that each is rejected by the CRD's OpenAPI schema or CEL rules with an
// error naming the field the user must fix. Every sample must be accepted.

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

const ns = "admission"

func ensureNamespace(t *testing.T) {
	t.Helper()
	err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// sample loads a file of config/samples as an unstructured object in the test namespace.
func sample(t *testing.T, file string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.Root, "config", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetNamespace(ns)
	return u
}

const (
	raeSample = "access_v1alpha1_remoteaccessenvironment.yaml"
	dgSample  = "access_v1alpha1_devicegroup.yaml"
	ssSample  = "access_v1alpha1_streamingsession.yaml"
)

// edit is a change to an object, written as a path of map keys (and list indexes as ints).
type edit func(t *testing.T, obj map[string]any)

func set(value any, path ...any) edit {
	return func(t *testing.T, obj map[string]any) {
		walk(t, obj, path, func(parent any, key any) { assign(t, parent, key, value) })
	}
}

func del(path ...any) edit {
	return func(t *testing.T, obj map[string]any) {
		walk(t, obj, path, func(parent any, key any) {
			m, ok := parent.(map[string]any)
			if !ok {
				t.Fatalf("del %v: parent is not a map", path)
			}
			delete(m, key.(string))
		})
	}
}

func walk(t *testing.T, obj map[string]any, path []any, leaf func(parent any, key any)) {
	t.Helper()
	var cur any = obj
	for i, k := range path {
		if i == len(path)-1 {
			leaf(cur, k)
			return
		}
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[k.(string)]
			if !ok {
				next = map[string]any{}
				c[k.(string)] = next
			}
			cur = next
		case []any:
			cur = c[k.(int)]
		default:
			t.Fatalf("path %v: cannot descend into %T", path, cur)
		}
	}
}

func assign(t *testing.T, parent any, key any, value any) {
	switch p := parent.(type) {
	case map[string]any:
		p[key.(string)] = value
	case []any:
		p[key.(int)] = value
	default:
		t.Fatalf("cannot assign into %T", parent)
	}
}

type admissionCase struct {
	name   string
	sample string
	edit   edit
	field  string // the field path the error must name
	msg    string // a part of the message telling the user what to do (optional)
}

func str(n int, c string) string { return strings.Repeat(c, n) }

var createCases = []admissionCase{
	// RemoteAccessEnvironment
	{"deletionPolicy enum", raeSample, set("Keep", "spec", "deletionPolicy"), "spec.deletionPolicy", "Unsupported value"},
	{"coverage enum", raeSample, set("us", "spec", "soracom", "coverage"), "spec.soracom.coverage", "Unsupported value"},
	{"endpoint must be http(s) URL", raeSample, set("ftp://x", "spec", "soracom", "endpoint"), "spec.soracom.endpoint", ""},
	{"credentialsSecretRef required", raeSample, del("spec", "soracom", "credentialsSecretRef"), "spec.soracom.credentialsSecretRef", "Required value"},
	{"gateway type enum", raeSample, set("G", "spec", "soracom", "gateway", "type"), "spec.soracom.gateway.type", "Unsupported value"},
	{"gateway type must be F for Canal", raeSample, set("E", "spec", "soracom", "gateway", "type"), "spec.soracom.gateway.type", "needs a Type-F gateway"},
	{"device subnet must be a CIDR", raeSample, set("10.128.0.0", "spec", "soracom", "gateway", "deviceSubnetCidrRange"), "spec.soracom.gateway.deviceSubnetCidrRange", "IPv4 CIDR"},
	{"device subnet must not overlap 100.64/10", raeSample, set("100.64.0.0/16", "spec", "soracom", "gateway", "deviceSubnetCidrRange"), "spec.soracom.gateway.deviceSubnetCidrRange", "must not overlap 100.64.0.0/10"},
	{"device subnet must not contain 198.18/15", raeSample, set("198.0.0.0/8", "spec", "soracom", "gateway", "deviceSubnetCidrRange"), "spec.soracom.gateway.deviceSubnetCidrRange", "198.18.0.0/15"},
	{"gateway region enum", raeSample, set("mars-north-1", "spec", "soracom", "gateway", "region"), "spec.soracom.gateway.region", "Unsupported value"},
	{"gateway id pattern", raeSample, set("gw-1", "spec", "soracom", "gateway", "id"), "spec.soracom.gateway.id", ""},
	{"vxlanId at least 1", raeSample, set(int64(0), "spec", "soracom", "gateway", "gate", "vxlanId"), "spec.soracom.gateway.gate.vxlanId", "greater than or equal to 1"},
	{"vxlanId at most 16777215", raeSample, set(int64(16777216), "spec", "soracom", "gateway", "gate", "vxlanId"), "spec.soracom.gateway.gate.vxlanId", "less than or equal to 16777215"},
	{"gate peer outer IP must be an IP", raeSample, set([]any{map[string]any{"outerIpAddress": "10.0.1"}}, "spec", "soracom", "gateway", "gate", "peers"), "spec.soracom.gateway.gate.peers[0].outerIpAddress", "IPv4 address"},
	{"gate peer inner IP inside device subnet", raeSample, set([]any{map[string]any{"outerIpAddress": "10.0.1.10", "innerIpAddress": "10.0.0.5"}}, "spec", "soracom", "gateway", "gate", "peers"), "spec.soracom.gateway.gate.peers", "inside gateway.deviceSubnetCidrRange"},
	{"canal destination must be a CIDR", raeSample, set("10.0.0.0/33", "spec", "soracom", "canal", "destinationCidrBlock"), "spec.soracom.canal.destinationCidrBlock", "IPv4 CIDR"},
	{"canal destination must be private", raeSample, set("8.8.0.0/16", "spec", "soracom", "canal", "destinationCidrBlock"), "spec.soracom.canal.destinationCidrBlock", "RFC 1918"},
	{"canal destination /16 or longer", raeSample, set("10.0.0.0/8", "spec", "soracom", "canal", "destinationCidrBlock"), "spec.soracom.canal.destinationCidrBlock", "/16 or longer"},
	{"router needs managed or existing, not both", raeSample, set(map[string]any{"managed": map[string]any{}, "existing": []any{map[string]any{"instanceId": "i-0123456789abcdef0", "innerIpAddress": "10.255.255.250"}}}, "spec", "router"), "spec.router", "exactly one of managed"},
	{"existing router needs instance or interface", raeSample, set(map[string]any{"existing": []any{map[string]any{"innerIpAddress": "10.255.255.250"}}}, "spec", "router"), "spec.router.existing[0]", "exactly one of instanceId or networkInterfaceId"},
	{"existing router inner address is an IP", raeSample, set(map[string]any{"existing": []any{map[string]any{"instanceId": "i-0123456789abcdef0", "innerIpAddress": "10.255.255"}}}, "spec", "router"), "spec.router.existing[0].innerIpAddress", "IPv4 address"},
	{"at most two routers", raeSample, set(map[string]any{"managed": map[string]any{"subnetIds": []any{"subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"}}}, "spec", "router"), "spec.router.managed.subnetIds", "must have at most 2 items"},
	{"router image is an AMI or an SSM parameter", raeSample, set(map[string]any{"managed": map[string]any{"imageId": "ubuntu"}}, "spec", "router"), "spec.router.managed.imageId", ""},
	{"returnPath enum", raeSample, set(map[string]any{"managed": map[string]any{}, "returnPath": "NAT"}, "spec", "router"), "spec.router.returnPath", "Unsupported value"},
	{"junction redirection needs one router", raeSample, set(map[string]any{"managed": map[string]any{"subnetIds": []any{"subnet-0aaa1111", "subnet-0bbb2222"}}, "returnPath": "JunctionRedirection"}, "spec", "router"), "spec.router.returnPath", "single router"},
	{"junction redirection conflicts with returnPath", raeSample, func(t *testing.T, obj map[string]any) {
		set(map[string]any{"managed": map[string]any{}, "returnPath": "JunctionRedirection"}, "spec", "router")(t, obj)
		set(map[string]any{"redirection": map[string]any{"gateway": "10.255.255.1"}}, "spec", "soracom", "junction")(t, obj)
	}, "spec.soracom.junction.redirection", "cannot be set with router.returnPath JunctionRedirection"},
	{"mirroring peer is an IP", raeSample, set(map[string]any{"mirroringPeers": []any{map[string]any{"ipAddress": "peer"}}}, "spec", "soracom", "junction"), "spec.soracom.junction.mirroringPeers[0].ipAddress", "IPv4 address"},
	{"aws account is 12 digits", raeSample, set("12345", "spec", "aws", "accountId"), "spec.aws.accountId", ""},
	{"aws vpc id pattern", raeSample, set("vpc_1", "spec", "aws", "vpcId"), "spec.aws.vpcId", ""},
	{"aws region pattern", raeSample, set("Tokyo", "spec", "aws", "region"), "spec.aws.region", ""},
	{"route tables at least one", raeSample, set([]any{}, "spec", "aws", "routeTableIds"), "spec.aws.routeTableIds", ""},
	{"route table id pattern", raeSample, set([]any{"rt-1"}, "spec", "aws", "routeTableIds"), "spec.aws.routeTableIds[0]", ""},
	{"aws role ARN pattern", raeSample, set("role/admin", "spec", "aws", "roleArn"), "spec.aws.roleArn", ""},
	{"fleet name pattern", raeSample, set("-fleet", "spec", "appStream", "fleet", "name"), "spec.appStream.fleet.name", ""},
	{"fleet name at most 101 characters", raeSample, set(str(102, "f"), "spec", "appStream", "fleet", "name"), "spec.appStream.fleet.name", ""},
	{"fleet image required", raeSample, del("spec", "appStream", "fleet", "imageName"), "spec.appStream.fleet.imageName", "Required value"},
	{"fleet instance type pattern", raeSample, set("m5.large", "spec", "appStream", "fleet", "instanceType"), "spec.appStream.fleet.instanceType", ""},
	{"fleet type enum", raeSample, set("SPOT", "spec", "appStream", "fleet", "fleetType"), "spec.appStream.fleet.fleetType", "Unsupported value"},
	{"fleet capacity at least 1", raeSample, set(int64(0), "spec", "appStream", "fleet", "desiredCapacity"), "spec.appStream.fleet.desiredCapacity", ""},
	{"fleet subnets required", raeSample, del("spec", "appStream", "fleet", "subnetIds"), "spec.appStream.fleet.subnetIds", "Required value"},
	{"fleet security groups at most 5", raeSample, set([]any{"sg-0001", "sg-0002", "sg-0003", "sg-0004", "sg-0005", "sg-0006"}, "spec", "appStream", "fleet", "securityGroupIds"), "spec.appStream.fleet.securityGroupIds", "must have at most 5 items"},
	{"fleet max user duration range", raeSample, set(int64(100), "spec", "appStream", "fleet", "maxUserDurationSeconds"), "spec.appStream.fleet.maxUserDurationSeconds", ""},
	{"fleet idle timeout 0 or 60+", raeSample, set(int64(30), "spec", "appStream", "fleet", "idleDisconnectTimeoutSeconds"), "spec.appStream.fleet.idleDisconnectTimeoutSeconds", "0 (off) or between 60 and 36000"},
	{"fleet stream view enum", raeSample, set("FULL", "spec", "appStream", "fleet", "streamView"), "spec.appStream.fleet.streamView", "Unsupported value"},
	{"fleet update policy enum", raeSample, set("Always", "spec", "appStream", "fleet", "updatePolicy"), "spec.appStream.fleet.updatePolicy", "Unsupported value"},
	{"stack name pattern", raeSample, set("my stack", "spec", "appStream", "stack", "name"), "spec.appStream.stack.name", ""},
	{"stack user setting enum", raeSample, set("Yes", "spec", "appStream", "stack", "userSettings", "fileUpload"), "spec.appStream.stack.userSettings.fileUpload", "Unsupported value"},
	{"applications at least one", raeSample, set([]any{}, "spec", "appStream", "applications"), "spec.appStream.applications", ""},
	{"application name pattern", raeSample, set([]any{"tera term"}, "spec", "appStream", "applications"), "spec.appStream.applications[0]", ""},

	// DeviceGroup
	// Hardening (issue 15): host bits, overlaps, region typos, Secret metadata, names.
	{"device subnet with host bits", raeSample, set("10.128.0.1/9", "spec", "soracom", "gateway", "deviceSubnetCidrRange"), "spec.soracom.gateway.deviceSubnetCidrRange", "10.128.0.1/9 has host bits set"},
	{"canal destination with host bits", raeSample, set("10.0.0.1/16", "spec", "soracom", "canal", "destinationCidrBlock"), "spec.soracom.canal.destinationCidrBlock", "10.0.0.1/16 has host bits set"},
	{"device subnet overlaps the VPC", raeSample, set("10.0.0.0/9", "spec", "soracom", "gateway", "deviceSubnetCidrRange"), "spec.soracom.canal.destinationCidrBlock", "overlaps gateway.deviceSubnetCidrRange 10.0.0.0/9"},
	{"AWS region typo", raeSample, set("ap-northest-1", "spec", "aws", "region"), "spec.aws.region", "Unsupported value"},
	{"LAN route with host bits", dgSample, set("192.168.1.5/24", "spec", "lanRoutes", 0, "cidr"), "spec.lanRoutes[0].cidr", "192.168.1.5/24 has host bits set"},
	{"LAN routes overlap", dgSample, func(t *testing.T, o map[string]any) {
		routes := o["spec"].(map[string]any)["lanRoutes"].([]any)
		o["spec"].(map[string]any)["lanRoutes"] = append(routes, map[string]any{"simId": "8981100000000000001", "cidr": "192.168.0.0/16"})
	}, "spec.lanRoutes", "overlap"},
	{"secretTemplate label key", ssSample, set("x", "spec", "secretTemplate", "labels", "bad key!"), "spec.secretTemplate.labels", "label key"},
	{"secretTemplate label value", ssSample, set("line a", "spec", "secretTemplate", "labels", "team"), "spec.secretTemplate.labels.team", ""},
	{"secretTemplate annotation key", ssSample, set(map[string]any{"bad key!": "x"}, "spec", "secretTemplate", "annotations"), "spec.secretTemplate.annotations", "annotation key"},
	{"urlValidity in days", ssSample, set("8d", "spec", "urlValidity"), "spec.urlValidity", "8d is not a duration"},
	{"urlValidity in words", ssSample, set("5 minutes", "spec", "urlValidity"), "spec.urlValidity", "5 minutes is not a duration"},
	{"accessWindow in days", ssSample, set("2d", "spec", "accessWindow"), "spec.accessWindow", "2d is not a duration"},
	{"ttlAfterFinished negative", ssSample, set("-1h", "spec", "ttlAfterFinished"), "spec.ttlAfterFinished", "is not a duration"},
	{"target device group is a name", ssSample, set("other/line-a", "spec", "target", "deviceGroup"), "spec.target.deviceGroup", ""},
	{"device group environment required", dgSample, del("spec", "environmentRef"), "spec.environmentRef", "Required value"},
	{"sim id pattern", dgSample, set([]any{"abc"}, "spec", "sims"), "spec.sims[0]", ""},
	{"sims or selector required", dgSample, func(t *testing.T, o map[string]any) {
		spec := o["spec"].(map[string]any)
		delete(spec, "sims")
		delete(spec, "devices")
		delete(spec, "lanRoutes")
	}, "spec.sims", "simSelector"},
	{"selector needs a tag", dgSample, set(map[string]any{"tags": map[string]any{}}, "spec", "simSelector"), "spec.simSelector.tags", ""},
	{"router device needs a LAN route", dgSample, del("spec", "lanRoutes"), "spec.devices", "add a lanRoutes entry"},
	{"router device address inside LAN route", dgSample, set("192.168.2.20", "spec", "devices", 1, "address"), "spec.devices", "contains the address"},
	{"device address must be an IP", dgSample, set("plc-7.local", "spec", "devices", 1, "address"), "spec.devices[1].address", "IPv4 address"},
	{"device SIM must be a member", dgSample, set("8981100000000000099", "spec", "devices", 0, "simId"), "spec.devices", "must be one of the group's sims"},
	{"LAN route SIM must be a member", dgSample, set([]any{map[string]any{"simId": "8981100000000000099", "cidr": "10.9.0.0/24"}}, "spec", "lanRoutes"), "spec.lanRoutes", "must be one of the group's sims"},
	{"LAN route must be a CIDR", dgSample, set("192.168.1.0", "spec", "lanRoutes", 0, "cidr"), "spec.lanRoutes[0].cidr", "IPv4 CIDR"},
	{"device name is a DNS label", dgSample, set("Raspi_1", "spec", "devices", 0, "name"), "spec.devices[0].name", ""},
	{"device port range", dgSample, set(int64(70000), "spec", "devices", 0, "ports", 0, "port"), "spec.devices[0].ports[0].port", ""},
	{"device port protocol enum", dgSample, set("SCTP", "spec", "devices", 0, "ports", 0, "protocol"), "spec.devices[0].ports[0].protocol", "Unsupported value"},

	// StreamingSession
	{"user id at least 2 characters", ssSample, set("a", "spec", "userId"), "spec.userId", ""},
	{"user id at most 32 characters", ssSample, set(str(33, "u"), "spec", "userId"), "spec.userId", ""},
	{"user id alphabet", ssSample, set("user a", "spec", "userId"), "spec.userId", ""},
	{"application pattern", ssSample, set("tera term", "spec", "application"), "spec.application", ""},
	{"environment required", ssSample, del("spec", "environmentRef"), "spec.environmentRef", "Required value"},
	{"URL validity at least 1s", ssSample, set("500ms", "spec", "urlValidity"), "spec.urlValidity", "between 1s and 168h"},
	{"URL validity at most 7 days", ssSample, set("169h", "spec", "urlValidity"), "spec.urlValidity", "between 1s and 168h"},
	{"access window at least 1m", ssSample, set("30s", "spec", "accessWindow"), "spec.accessWindow", "between 1m and 120h"},
	{"target device required", ssSample, del("spec", "target", "device"), "spec.target.device", "Required value"},
	{"target port number range", ssSample, set(int64(0), "spec", "target", "port"), "spec.target.port", "between 1 and 65535"},
	{"target port name pattern", ssSample, set("SSH!", "spec", "target", "port"), "spec.target.port", "port name"},

	// Capacity from demand, ELASTIC fleets and Napter (issue 16).
	{"capacity policy enum", raeSample, set(map[string]any{"policy": "Auto"}, "spec", "appStream", "capacity"), "spec.appStream.capacity.policy", "Unsupported value"},
	{"capacity Demand needs demand", raeSample, set(map[string]any{"policy": "Demand"}, "spec", "appStream", "capacity"), "spec.appStream.capacity.demand", "needs capacity.demand"},
	{"capacity demand only with Demand", raeSample, set(map[string]any{"policy": "Fixed", "demand": map[string]any{"max": int64(3)}}, "spec", "appStream", "capacity"), "spec.appStream.capacity.demand", "applies only with capacity.policy Demand"},
	{"capacity min above max", raeSample, set(map[string]any{"policy": "Demand", "demand": map[string]any{"min": int64(5), "max": int64(2)}}, "spec", "appStream", "capacity"), "spec.appStream.capacity.demand.min", "must not exceed capacity.demand.max"},
	{"stopAfterIdle too short", raeSample, set(map[string]any{"policy": "Demand", "demand": map[string]any{"stopAfterIdle": "10s"}}, "spec", "appStream", "capacity"), "spec.appStream.capacity.demand.stopAfterIdle", "between 1m and 24h"},
	{"schedule time of day", raeSample, set(map[string]any{"policy": "Demand", "demand": map[string]any{"schedules": []any{map[string]any{"name": "office", "start": "8am", "end": "18:00", "min": int64(1)}}}}, "spec", "appStream", "capacity"), "spec.appStream.capacity.demand.schedules[0].start", ""},
	{"schedule day enum", raeSample, set(map[string]any{"policy": "Demand", "demand": map[string]any{"schedules": []any{map[string]any{"name": "office", "days": []any{"Monday"}, "start": "08:00", "end": "18:00", "min": int64(1)}}}}, "spec", "appStream", "capacity"), "spec.appStream.capacity.demand.schedules[0].days[0]", "Unsupported value"},
	{"schedule min above max", raeSample, set(map[string]any{"policy": "Demand", "demand": map[string]any{"max": int64(2), "schedules": []any{map[string]any{"name": "office", "start": "08:00", "end": "18:00", "min": int64(3)}}}}, "spec", "appStream", "capacity"), "spec.appStream.capacity.demand.schedules", "must not exceed capacity.demand.max"},
	{"price is a decimal", raeSample, set(map[string]any{"runningInstanceHour": map[string]any{"stream.standard.medium": "¥25"}}, "spec", "appStream", "prices"), "spec.appStream.prices.runningInstanceHour.stream.standard.medium", ""},
	{"ELASTIC needs maxConcurrentSessions and platform", raeSample, set("ELASTIC", "spec", "appStream", "fleet", "fleetType"), "spec.appStream.fleet.maxConcurrentSessions", "needs fleet.maxConcurrentSessions and fleet.platform"},
	{"maxConcurrentSessions only for ELASTIC", raeSample, set(int64(5), "spec", "appStream", "fleet", "maxConcurrentSessions"), "spec.appStream.fleet.fleetType", "apply only to ELASTIC fleets"},
	{"ELASTIC with capacity Demand", raeSample, func(t *testing.T, o map[string]any) {
		set("ELASTIC", "spec", "appStream", "fleet", "fleetType")(t, o)
		set(int64(5), "spec", "appStream", "fleet", "maxConcurrentSessions")(t, o)
		set("AMAZON_LINUX2", "spec", "appStream", "fleet", "platform")(t, o)
		set([]any{"subnet-0aaa1111", "subnet-0bbb2222"}, "spec", "appStream", "fleet", "subnetIds")(t, o)
		set(map[string]any{"policy": "Demand", "demand": map[string]any{}}, "spec", "appStream", "capacity")(t, o)
	}, "spec.appStream.capacity.policy", "AWS sizes ELASTIC fleets itself"},
	{"napter allowed ranges are CIDRs", raeSample, set(map[string]any{"enabled": true, "allowedSourceRanges": []any{"office"}}, "spec", "napter"), "spec.napter.allowedSourceRanges", "IPv4 CIDRs"},
	{"router port only behind a router", dgSample, set(int64(2222), "spec", "devices", 0, "ports", 0, "routerPort"), "spec.devices[0].ports", "routerPort is for a device behind a cellular router"},
	{"via enum", ssSample, set("SSH", "spec", "via"), "spec.via", "Unsupported value"},
	{"Napter needs source ranges", ssSample, set("Napter", "spec", "via"), "spec.napter", "needs napter.sourceRanges and a target with a port"},
	{"napter only with via Napter", ssSample, set(map[string]any{"sourceRanges": []any{"203.0.113.0/24"}}, "spec", "napter"), "spec.napter", "applies only with via: Napter"},
	{"Napter source range is a network", ssSample, func(t *testing.T, o map[string]any) {
		set("Napter", "spec", "via")(t, o)
		set(map[string]any{"sourceRanges": []any{"203.0.113.7/24"}}, "spec", "napter")(t, o)
	}, "spec.napter.sourceRanges", "IPv4 network addresses in CIDR form"},
	{"Napter window at most 8h", ssSample, func(t *testing.T, o map[string]any) {
		set("Napter", "spec", "via")(t, o)
		set(map[string]any{"sourceRanges": []any{"203.0.113.0/24"}}, "spec", "napter")(t, o)
		set("9h", "spec", "accessWindow")(t, o)
	}, "spec.accessWindow", "at most 8h"},
	{"application required with AppStream", ssSample, del("spec", "application"), "spec.application", "application is required"},
}

func TestAdmissionRejectsInvalidManifests(t *testing.T) {
	ensureNamespace(t)
	for i, tc := range createCases {
		t.Run(tc.name, func(t *testing.T) {
			obj := sample(t, tc.sample)
			obj.SetName(fmt.Sprintf("invalid-%d", i))
			tc.edit(t, obj.Object)
			err := env.Client.Create(context.Background(), obj)
			expectInvalid(t, err, tc.field, tc.msg)
		})
	}
}

func expectInvalid(t *testing.T, err error, field, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want rejection naming %s", field)
	}
	if !apierrors.IsInvalid(err) {
		t.Fatalf("want 422 Invalid, got %v", err)
	}
	status := err.(apierrors.APIStatus).Status()
	var messages []string
	for _, c := range status.Details.Causes {
		if c.Field == field {
			messages = append(messages, c.Message)
			if strings.Contains(c.Message, msg) {
				return
			}
		}
	}
	if len(messages) == 0 {
		t.Fatalf("no cause names %s: %v", field, err)
	}
	t.Fatalf("causes for %s say %q; want one to contain %q", field, messages, msg)
}

type updateCase struct {
	name   string
	sample string
	before edit // applied before create (nil: none)
	edit   edit
	field  string
	msg    string
}

var updateCases = []updateCase{
	{"gateway type is immutable", raeSample, nil, set("F2", "spec", "soracom", "gateway", "type"), "spec.soracom.gateway.type", "immutable"},
	{"device subnet is immutable", raeSample, nil, set("10.64.0.0/10", "spec", "soracom", "gateway", "deviceSubnetCidrRange"), "spec.soracom.gateway.deviceSubnetCidrRange", "immutable"},
	{"useInternetGateway is immutable", raeSample, nil, set(true, "spec", "soracom", "gateway", "useInternetGateway"), "spec.soracom.gateway.useInternetGateway", "immutable"},
	{"gateway region is immutable", raeSample, nil, set("eu-central-1", "spec", "soracom", "gateway", "region"), "spec.soracom.gateway.region", "immutable"},
	{"gateway id cannot be set later", raeSample, nil, set("vpg-abc", "spec", "soracom", "gateway", "id"), "spec.soracom.gateway.id", "cannot be set, changed or removed"},
	{"AWS region is immutable", raeSample, nil, set("eu-central-1", "spec", "aws", "region"), "spec.aws.region", "immutable"},
	{"AWS account is immutable", raeSample, nil, set("210987654321", "spec", "aws", "accountId"), "spec.aws.accountId", "immutable"},
	{"VPC is immutable", raeSample, nil, set("vpc-0def5678", "spec", "aws", "vpcId"), "spec.aws.vpcId", "immutable"},
	{"fleet name cannot be set later", raeSample, nil, set("fleet-2", "spec", "appStream", "fleet", "name"), "spec.appStream.fleet.name", "immutable"},
	{"fleet name cannot change", raeSample, set("fleet-1", "spec", "appStream", "fleet", "name"), set("fleet-2", "spec", "appStream", "fleet", "name"), "spec.appStream.fleet.name", "immutable"},
	{"fleet type is immutable", raeSample, nil, set("ALWAYS_ON", "spec", "appStream", "fleet", "fleetType"), "spec.appStream.fleet.fleetType", "immutable"},
	{"stack name cannot change", raeSample, set("stack-1", "spec", "appStream", "stack", "name"), set("stack-2", "spec", "appStream", "stack", "name"), "spec.appStream.stack.name", "immutable"},
	{"group id cannot change", dgSample, set("grp-1", "spec", "group", "id"), set("grp-2", "spec", "group", "id"), "spec.group.id", "cannot be set, changed or removed"},
	{"stack name cannot be set later (no stack at creation)", raeSample, del("spec", "appStream", "stack"), set(map[string]any{"name": "stack-2"}, "spec", "appStream", "stack"), "spec.appStream.stack.name", "cannot be set, changed or removed"},
	{"stack name cannot be removed with the stack", raeSample, set("stack-1", "spec", "appStream", "stack", "name"), del("spec", "appStream", "stack"), "spec.appStream.stack.name", "cannot be set, changed or removed"},
	{"stack name cannot be removed", raeSample, set("stack-1", "spec", "appStream", "stack", "name"), del("spec", "appStream", "stack", "name"), "spec.appStream.stack.name", ""},
	{"fleet name cannot be removed", raeSample, set("fleet-1", "spec", "appStream", "fleet", "name"), del("spec", "appStream", "fleet", "name"), "spec.appStream.fleet.name", "immutable"},
	{"gateway region cannot be set later", raeSample, del("spec", "soracom", "gateway", "region"), set("eu-central-1", "spec", "soracom", "gateway", "region"), "spec.soracom.gateway.region", "cannot be set or removed"},
	{"gateway region cannot be removed", raeSample, nil, del("spec", "soracom", "gateway", "region"), "spec.soracom.gateway.region", "cannot be set or removed"},
	{"gateway id cannot be removed", raeSample, set("vpg-abc", "spec", "soracom", "gateway", "id"), del("spec", "soracom", "gateway", "id"), "spec.soracom.gateway.id", "cannot be set, changed or removed"},
	{"group id cannot be set later (no group at creation)", dgSample, del("spec", "group"), set(map[string]any{"id": "grp-1"}, "spec", "group"), "spec.group.id", "cannot be set, changed or removed"},
	{"group id cannot be removed with the group", dgSample, set("grp-1", "spec", "group", "id"), del("spec", "group"), "spec.group.id", "cannot be set, changed or removed"},
	{"streaming session spec is immutable", ssSample, nil, set("user-b", "spec", "userId"), "spec", "immutable; delete it and create a new one"},
}

func TestAdmissionRejectsImmutableChanges(t *testing.T) {
	ensureNamespace(t)
	ctx := context.Background()
	for i, tc := range updateCases {
		t.Run(tc.name, func(t *testing.T) {
			obj := sample(t, tc.sample)
			obj.SetName(fmt.Sprintf("immutable-%d", i))
			if tc.before != nil {
				tc.before(t, obj.Object)
			}
			if err := env.Client.Create(ctx, obj); err != nil {
				t.Fatalf("create: %v", err)
			}
			tc.edit(t, obj.Object)
			expectInvalid(t, env.Client.Update(ctx, obj), tc.field, tc.msg)
		})
	}
}

func TestSamplesAreAccepted(t *testing.T) {
	ensureNamespace(t)
	ctx := context.Background()
	for _, file := range []string{raeSample, dgSample, ssSample, "access_v1alpha1_streamingsession_napter.yaml"} {
		t.Run(file, func(t *testing.T) {
			obj := sample(t, file)
			obj.SetName("sample-" + obj.GetName())
			if err := env.Client.Create(ctx, obj); err != nil {
				t.Fatalf("sample %s rejected: %v", file, err)
			}
		})
	}
}

func TestMutableFieldsCanChange(t *testing.T) {
	ensureNamespace(t)
	ctx := context.Background()
	obj := sample(t, raeSample)
	obj.SetName("mutable")
	if err := env.Client.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	set(int64(5), "spec", "appStream", "fleet", "desiredCapacity")(t, obj.Object)
	set(false, "spec", "soracom", "gateway", "gate", "privacySeparator")(t, obj.Object)
	set([]any{"rtb-0abc1234", "rtb-0def5678"}, "spec", "aws", "routeTableIds")(t, obj.Object)
	if err := env.Client.Update(ctx, obj); err != nil {
		t.Fatalf("changing mutable fields was rejected: %v", err)
	}
}

func TestDefaultsAreApplied(t *testing.T) {
	ensureNamespace(t)
	ctx := context.Background()
	obj := sample(t, raeSample)
	obj.SetName("defaults")
	spec := obj.Object["spec"].(map[string]any)
	delete(spec, "deletionPolicy")
	gw := spec["soracom"].(map[string]any)["gateway"].(map[string]any)
	for _, k := range []string{"type", "deviceSubnetCidrRange", "useInternetGateway", "region"} {
		delete(gw, k)
	}
	delete(gw["gate"].(map[string]any), "vxlanId")
	delete(spec, "router")
	if err := env.Client.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	// The gateway's region is left to SORACOM, which places it by coverage.
	if _, found, _ := unstructured.NestedFieldNoCopy(obj.Object, "spec", "soracom", "gateway", "region"); found {
		t.Errorf("spec.soracom.gateway.region was defaulted; SORACOM chooses it by coverage")
	}
	want := map[string]any{
		"spec.deletionPolicy":                        "Delete",
		"spec.soracom.gateway.type":                  "F",
		"spec.soracom.gateway.deviceSubnetCidrRange": "10.128.0.0/9",
		"spec.soracom.gateway.useInternetGateway":    false,
		"spec.router.managed.instanceType":           "t3.nano",
		"spec.router.managed.imageId":                "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
		"spec.router.returnPath":                     "Masquerade",
		"spec.soracom.gateway.gate.vxlanId":          int64(10),
		"spec.appStream.fleet.updatePolicy":          "WhenIdle",
	}
	for path, v := range want {
		got, found, err := unstructured.NestedFieldNoCopy(obj.Object, strings.Split(path, ".")...)
		if err != nil || !found || got != v {
			t.Errorf("%s = %v (found %v, err %v); want default %v", path, got, found, err, v)
		}
	}
}

// A bad value gets exactly one message, naming the field and the value (not a
// CEL type-conversion error from another rule on the same field).
func TestAdmissionGivesOneMessagePerBadValue(t *testing.T) {
	ensureNamespace(t)
	for i, tc := range []struct {
		file  string
		edit  edit
		field string
	}{
		{ssSample, set("8d", "spec", "urlValidity"), "spec.urlValidity"},
		{ssSample, set("5 minutes", "spec", "accessWindow"), "spec.accessWindow"},
		{raeSample, set("10.128.0.1/9", "spec", "soracom", "gateway", "deviceSubnetCidrRange"), "spec.soracom.gateway.deviceSubnetCidrRange"},
		{raeSample, set("10.0.0.1/16", "spec", "soracom", "canal", "destinationCidrBlock"), "spec.soracom.canal.destinationCidrBlock"},
		// Rules on other fields must not trip over a value that is not a CIDR or an IP.
		{raeSample, func(t *testing.T, o map[string]any) {
			set("10.128.0.0", "spec", "soracom", "gateway", "deviceSubnetCidrRange")(t, o)
			set([]any{map[string]any{"outerIpAddress": "10.0.1.10", "innerIpAddress": "10.128.255.1"}}, "spec", "soracom", "gateway", "gate", "peers")(t, o)
		}, "spec.soracom.gateway.deviceSubnetCidrRange"},
		{dgSample, set("192.168.1", "spec", "devices", 1, "address"), "spec.devices[1].address"},
	} {
		obj := sample(t, tc.file)
		obj.SetName(fmt.Sprintf("one-message-%d", i))
		tc.edit(t, obj.Object)
		err := env.Client.Create(context.Background(), obj)
		if !apierrors.IsInvalid(err) {
			t.Fatalf("%s: want 422, got %v", tc.field, err)
		}
		var msgs []string
		for _, c := range err.(apierrors.APIStatus).Status().Details.Causes {
			msgs = append(msgs, c.Field+": "+c.Message)
			if strings.Contains(c.Message, "conversion") || strings.Contains(c.Message, "no such overload") {
				t.Errorf("%s: a raw CEL error: %s", tc.field, c.Message)
			}
		}
		if len(msgs) != 1 {
			t.Errorf("%s: %d messages, want exactly 1: %q", tc.field, len(msgs), msgs)
		}
	}
}
