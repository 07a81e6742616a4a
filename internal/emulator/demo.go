package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/soracom"
)

// The demo world. Every identifier matches config/samples/ (the
// RemoteAccessEnvironment factory-floor and the DeviceGroup line-a in
// namespace line-a).
const (
	DemoSoracomOperatorID = "OP0012345678"
	DemoSoracomAuthKeyID  = "keyId-demo"
	DemoSoracomAuthKey    = "secret-demo"

	// The emulator accepts any SigV4 credentials scoped to the right region
	// and service; these are what the demo's Secret carries.
	DemoAWSAccessKeyID     = "AKIAEMULATORDEMO0001"
	DemoAWSSecretAccessKey = "secret-demo-aws"
	DemoAWSAccountID       = "123456789012"
	DemoAWSRegion          = "ap-northeast-1"

	DemoVPCID           = "vpc-0abc1234"
	DemoVPCCIDR         = "10.0.0.0/16"
	DemoSubnetID        = "subnet-0a1b2c3d"
	DemoSubnetCIDR      = "10.0.1.0/24"
	DemoAZ              = "ap-northeast-1a"
	DemoRouteTableID    = "rtb-0abc1234"
	DemoSecurityGroupID = "sg-0a1b2c3d"
	// DemoVPGRange is the range VPG subnets are allocated from
	// (vpgSubnetCidrRange 100.64.x.0/24); the security group admits it.
	DemoVPGRange  = "100.64.0.0/10"
	DemoImageName = "TeraTerm-Image"

	// DemoSIMRaspberryPi is raspi-1's SIM (online).
	DemoSIMRaspberryPi = "8981100000000000001"
	// DemoSIMRouter is the cellular router's SIM (online) with DemoRouterLAN behind it.
	DemoSIMRouter = "8981100000000000002"
	DemoRouterLAN = "192.168.1.0/24"
	// DemoPLCAddress is plc-7's address on that LAN (port 80).
	DemoPLCAddress = "192.168.1.20"

	// The demo's devices as the packet walker knows them (AppStream path
	// and Napter): raspi-1 is DemoSIMRaspberryPi's own host, listening on
	// DemoRaspberryPiPorts; plc-7 sits at DemoPLCAddress behind the cellular
	// router of DemoSIMRouter, listening on DemoPLCPorts. The router
	// forwards DemoRouterPortHTTP to plc-7:80 and DemoRouterPortSSH to
	// plc-7:22, for Napter, which reaches only the router (a DeviceGroup
	// port's routerPort).
	DemoRaspberryPiName = "raspi-1"
	DemoPLCName         = "plc-7"
	DemoRouterPortHTTP  = 8080
	DemoRouterPortSSH   = 8022

	// Secret names and keys the operator reads (internal/clients).
	SoracomSecretName = "soracom-auth"
	AWSSecretName     = "aws-credentials"
)

// DemoRaspberryPiPorts are the TCP ports raspi-1 listens on (ssh, and a web page).
var DemoRaspberryPiPorts = []int{22, 80}

// DemoPLCPorts are the TCP ports plc-7 listens on (its web UI, and ssh for maintenance).
var DemoPLCPorts = []int{80, 22}

// DemoApplications are the image's applications (the sample environment's applications).
var DemoApplications = []string{"teraterm", "rdp", "firefox"}

// Seeded is what SeedDemo created: credentials, endpoints and identifiers.
// The credentials are bearer material: put them only in Secrets.
type Seeded struct {
	SoracomOperatorID  string
	SoracomAuthKeyID   string
	SoracomAuthKey     string
	AWSAccessKeyID     string
	AWSSecretAccessKey string
	AWSAccountID       string
	AWSRegion          string

	SoracomURL, AppStreamURL, EC2URL string

	VPCID, SubnetID, RouteTableID, SecurityGroupID string
	ImageName                                      string
	Applications                                   []string
	// SIMs are every seeded SIM id, sorted; the first two are online.
	SIMs []string
}

// demoSIMs are the seeded SIMs: a Raspberry Pi and a cellular router online,
// three spare SIMs offline.
var demoSIMs = []soracom.SIM{
	{ID: DemoSIMRaspberryPi, IMSI: "440103000000001", Online: true,
		Tags: map[string]string{"name": "raspi-1", "site": "osaka", "line": "line-a", "device": "raspberry-pi"}},
	{ID: DemoSIMRouter, IMSI: "440103000000002", Online: true,
		Tags: map[string]string{"name": "router-line-a", "site": "osaka", "line": "line-a", "device": "cellular-router", "lan": DemoRouterLAN}},
	{ID: "8981100000000000003", IMSI: "440103000000003",
		Tags: map[string]string{"name": "raspi-2", "site": "osaka", "line": "line-b", "device": "raspberry-pi"}},
	{ID: "8981100000000000004", IMSI: "440103000000004",
		Tags: map[string]string{"name": "spare-1", "site": "nagoya"}},
	{ID: "8981100000000000005", IMSI: "440103000000005", Status: "inactive",
		Tags: map[string]string{"name": "spare-2", "site": "nagoya"}},
}

// SeedDemo fills the world to match config/samples/: the SORACOM operator
// and its AuthKey, the SIMs, and the AWS VPC, subnet, route table, security
// group and TeraTerm image. It can be called once.
func (c *Cloud) SeedDemo() (*Seeded, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seeded != nil {
		return nil, errors.New("emulator: the demo world is already seeded")
	}

	c.Soracom.AddOperator(DemoSoracomOperatorID, DemoSoracomAuthKeyID, DemoSoracomAuthKey)
	sims := make([]string, 0, len(demoSIMs))
	for _, s := range demoSIMs {
		s.OperatorID = DemoSoracomOperatorID
		c.Soracom.AddSIM(s)
		sims = append(sims, s.ID)
	}

	w := c.AWS
	w.AddVPC(DemoVPCID, DemoVPCCIDR)
	w.AddSubnet(DemoSubnetID, DemoVPCID, DemoSubnetCIDR, DemoAZ)
	w.AddRouteTable(DemoRouteTableID, DemoVPCID, DemoSubnetID)
	w.AddSecurityGroup(aws.SecurityGroup{
		ID: DemoSecurityGroupID, VPCID: DemoVPCID, Name: "appstream-device-access",
		Description: "AppStream fleet and router: the VPC's own traffic in, the SORACOM VPG range (VXLAN) both ways, anything out",
		Ingress:     []aws.Rule{{Protocol: "-1", CIDRs: []string{DemoVPCCIDR, DemoVPGRange}}},
		Egress:      []aws.Rule{{Protocol: "-1", CIDRs: []string{DemoVPGRange, "0.0.0.0/0"}}},
	})
	w.AddImage(DemoImageName, "AVAILABLE",
		aws.Application{Name: "teraterm", DisplayName: "Tera Term"},
		aws.Application{Name: "rdp", DisplayName: "Remote Desktop Connection"},
		aws.Application{Name: "firefox", DisplayName: "Firefox"},
	)

	// The devices of config/samples' DeviceGroup: raspi-1 is the Raspberry
	// Pi's SIM's own host (ssh), plc-7 sits on the LAN behind the cellular
	// router, whose port forwards lead Napter connections to it.
	c.AddSIMDevice(DemoRaspberryPiName, DemoSIMRaspberryPi, DemoRaspberryPiPorts...)
	if err := c.AddLANDevice(DemoPLCName, DemoSIMRouter, DemoPLCAddress, DemoPLCPorts...); err != nil {
		return nil, err
	}
	for _, f := range []struct{ router, lan int }{{DemoRouterPortHTTP, 80}, {DemoRouterPortSSH, 22}} {
		if err := c.AddPortForward(DemoSIMRouter, f.router, DemoPLCAddress, f.lan); err != nil {
			return nil, err
		}
	}

	c.seeded = &Seeded{
		SoracomOperatorID: DemoSoracomOperatorID,
		SoracomAuthKeyID:  DemoSoracomAuthKeyID, SoracomAuthKey: DemoSoracomAuthKey,
		AWSAccessKeyID: DemoAWSAccessKeyID, AWSSecretAccessKey: DemoAWSSecretAccessKey,
		AWSAccountID: DemoAWSAccountID, AWSRegion: DemoAWSRegion,
		SoracomURL: c.SoracomURL, AppStreamURL: c.AppStreamURL, EC2URL: c.EC2URL,
		VPCID: DemoVPCID, SubnetID: DemoSubnetID, RouteTableID: DemoRouteTableID,
		SecurityGroupID: DemoSecurityGroupID,
		ImageName:       DemoImageName,
		Applications:    append([]string(nil), DemoApplications...),
		SIMs:            sims,
	}
	cp := *c.seeded
	cp.Applications = append([]string(nil), c.seeded.Applications...)
	cp.SIMs = append([]string(nil), c.seeded.SIMs...)
	return &cp, nil
}

// CredentialsManifests renders two Secret manifests (YAML, separated by
// "---") in namespace: SoracomSecretName with authKeyId and authKey, and
// AWSSecretName with accessKeyId and secretAccessKey — the demo's credentials
// (SeedDemo registers them).
func (c *Cloud) CredentialsManifests(namespace string) string {
	var b strings.Builder
	secret(&b, SoracomSecretName, namespace, [][2]string{
		{"authKeyId", DemoSoracomAuthKeyID},
		{"authKey", DemoSoracomAuthKey},
	})
	b.WriteString("---\n")
	secret(&b, AWSSecretName, namespace, [][2]string{
		{"accessKeyId", DemoAWSAccessKeyID},
		{"secretAccessKey", DemoAWSSecretAccessKey},
	})
	return b.String()
}

func secret(b *strings.Builder, name, namespace string, data [][2]string) {
	fmt.Fprintf(b, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n", yamlString(name), yamlString(namespace))
	b.WriteString("  labels:\n    app.kubernetes.io/part-of: gatestream-demo\ntype: Opaque\nstringData:\n")
	for _, kv := range data {
		fmt.Fprintf(b, "  %s: %s\n", kv[0], yamlString(kv[1]))
	}
}

// yamlString quotes s as a YAML double-quoted scalar (JSON strings are valid YAML).
func yamlString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// EnvironmentPatch is a JSON merge patch for the sample
// RemoteAccessEnvironment that points it at these emulators and at the AWS
// credentials Secret (kubectl patch rae factory-floor --type merge -p …).
func (c *Cloud) EnvironmentPatch() string {
	patch := map[string]any{"spec": map[string]any{
		"soracom": map[string]any{"endpoint": c.SoracomURL},
		"aws": map[string]any{
			"endpoints":            map[string]string{"appStream": c.AppStreamURL, "ec2": c.EC2URL},
			"credentialsSecretRef": map[string]string{"name": AWSSecretName},
		},
	}}
	out, _ := json.Marshal(patch)
	return string(out)
}
