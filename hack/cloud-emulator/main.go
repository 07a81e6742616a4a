// Command cloud-emulator serves the SORACOM, AppStream and EC2 emulators
// (internal/emulator) with the demo world of config/samples/ seeded, for
// `make demo` and for trying the operator by hand.
//
// It also serves an admin API (internal/emulator/admin, on --admin-addr)
// that arms fault rules, reads the call log and seeds a larger world, so that
// end-to-end tests outside this process can use it as a test bed; --fault,
// --world-vpcs and --world-sims do the same at start. docs/emulator.md
// documents all of it.
//
// It prints the endpoints and the credential Secrets to apply on stdout (as
// YAML, with the endpoints in comments), optionally writes the endpoints to a
// file for scripts (--endpoints-file; JSON when the name ends in .json,
// shell variables otherwise), and runs until SIGINT or SIGTERM, when it shuts
// the servers down, removes the endpoints file and exits 0.
//
//	cloud-emulator --endpoints-file /tmp/emulator.env > /tmp/emulator-secrets.yaml
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/emulator/admin"
	"github.com/gatestream/gatestream/internal/emulator/fault"
)

// ReadyLine is the last line printed on stdout once everything is served.
const ReadyLine = "# Ready. Stop with Ctrl-C (SIGINT) or SIGTERM."

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one kills at once instead of waiting for the graceful shutdown.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type config struct {
	opts          emulator.Options
	namespace     string
	endpointsFile string
	adminAddr     string
	faults        faultFlag
	worldVPCs     int
	worldSIMs     int
}

// faultFlag collects --fault rules (api:operation:kind[:probability[:times]]).
type faultFlag []fault.Rule

func (f *faultFlag) String() string {
	if f == nil {
		return ""
	}
	s := make([]string, len(*f))
	for i, r := range *f {
		s[i] = admin.FormatRule(r)
	}
	return strings.Join(s, ",")
}

func (f *faultFlag) Set(v string) error {
	r, err := admin.ParseRule(v)
	if err != nil {
		return err
	}
	*f = append(*f, r)
	return nil
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("cloud-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	fs.StringVar(&c.opts.SoracomAddr, "soracom-addr", emulator.DefaultAddr, "listen address of the SORACOM API (port 0: chosen by the kernel)")
	fs.StringVar(&c.opts.AppStreamAddr, "appstream-addr", emulator.DefaultAddr, "listen address of the AppStream API and streaming pages")
	fs.StringVar(&c.opts.EC2Addr, "ec2-addr", emulator.DefaultAddr, "listen address of the EC2 API")
	fs.DurationVar(&c.opts.VPGCreateDelay, "vpg-create-delay", 3*time.Second, "how long a new VPG stays creating")
	fs.DurationVar(&c.opts.VPGTerminateDelay, "vpg-terminate-delay", 3*time.Second, "how long a terminated VPG stays terminating")
	fs.DurationVar(&c.opts.FleetStartDelay, "fleet-start-delay", 5*time.Second, "how long an AppStream fleet stays STARTING")
	fs.DurationVar(&c.opts.InstanceStartDelay, "instance-start-delay", 3*time.Second, "how long an EC2 instance (the router) stays pending")
	fs.DurationVar(&c.opts.FleetStopDelay, "fleet-stop-delay", 3*time.Second, "how long an AppStream fleet stays STOPPING")
	fs.Uint64Var(&c.opts.Seed, "seed", 1, "seed of the fault injector")
	fs.StringVar(&c.namespace, "print-secrets-namespace", "line-a", "namespace of the printed credential Secrets")
	fs.StringVar(&c.endpointsFile, "endpoints-file", "", "write the endpoints to this file (JSON if it ends in .json, else KEY=value lines); removed on exit")
	fs.StringVar(&c.adminAddr, "admin-addr", emulator.DefaultAddr, "listen address of the admin API (faults, call log, world; see docs/emulator.md)")
	fs.Var(&c.faults, "fault", "`api:operation:kind[:probability[:times]]`: arm this fault rule at start, e.g. 'soracom:*:throttle:0.2' (repeatable; kinds: throttle, server-error, unavailable, lose-response)")
	fs.IntVar(&c.worldVPCs, "world-vpcs", 0, fmt.Sprintf("seed `N` more VPCs (subnets in two zones, route tables, a security group each; at most %d)", emulator.MaxWorldVPCs))
	fs.IntVar(&c.worldSIMs, "world-sims", 0, "seed `N` more online SIMs, each with a device listening on port 22")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %v\n", fs.Args())
		fs.Usage()
		return nil, errors.New("unexpected arguments")
	}
	if c.worldVPCs < 0 || c.worldVPCs > emulator.MaxWorldVPCs {
		fmt.Fprintf(stderr, "invalid value %d for flag -world-vpcs: want 0 to %d\n", c.worldVPCs, emulator.MaxWorldVPCs)
		return nil, errors.New("bad -world-vpcs")
	}
	if c.worldSIMs < 0 || c.worldSIMs > emulator.MaxWorldSIMs {
		fmt.Fprintf(stderr, "invalid value %d for flag -world-sims: want 0 to %d\n", c.worldSIMs, emulator.MaxWorldSIMs)
		return nil, errors.New("bad -world-sims")
	}
	return c, nil
}

// run serves until ctx is done and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cloud, err := emulator.Start(cfg.opts)
	if err != nil {
		fmt.Fprintf(stderr, "cloud-emulator: %v\n", err)
		return 1
	}
	adminSrv, err := listenAdmin(cloud, cfg.adminAddr)
	if err != nil {
		fmt.Fprintf(stderr, "cloud-emulator: %v\n", err)
		_ = cloud.Close()
		return 1
	}
	code := serve(ctx, cloud, adminSrv, cfg, stdout, stderr)
	if err := adminSrv.close(); err != nil {
		fmt.Fprintf(stderr, "cloud-emulator: shutdown of the admin API: %v\n", err)
		code = 1
	}
	if err := cloud.Close(); err != nil {
		fmt.Fprintf(stderr, "cloud-emulator: shutdown: %v\n", err)
		code = 1
	}
	if cfg.endpointsFile != "" {
		if err := os.Remove(cfg.endpointsFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "cloud-emulator: %v\n", err)
		}
	}
	if code == 0 {
		fmt.Fprintln(stderr, "cloud-emulator: stopped")
	}
	return code
}

// adminServer is the admin API's HTTP server.
type adminServer struct {
	ln   net.Listener
	srv  *http.Server
	url  string
	done chan struct{} // closed when Serve has returned; nil until start
}

// listenAdmin takes the admin API's port (so that a busy port fails before
// anything is seeded); start serves it.
func listenAdmin(cloud *emulator.Cloud, addr string) (*adminServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for the admin API on %s: %w", addr, err)
	}
	return &adminServer{
		ln:  ln,
		srv: &http.Server{Handler: admin.New(cloud), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute},
		url: "http://" + ln.Addr().String(),
	}, nil
}

// start serves the admin API. Connections made before wait in the listen
// queue, so that nobody sees the world before it is seeded.
func (a *adminServer) start() {
	a.done = make(chan struct{})
	go func() {
		defer close(a.done)
		_ = a.srv.Serve(a.ln) // http.ErrServerClosed after Shutdown/Close
	}()
}

// close lets in-flight admin requests finish for a few seconds, then closes
// every connection, and returns once the port is free.
func (a *adminServer) close() error {
	if a.done == nil {
		return a.ln.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := a.srv.Shutdown(ctx)
	if err != nil {
		_ = a.srv.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			err = nil
		}
	}
	<-a.done
	return err
}

func serve(ctx context.Context, cloud *emulator.Cloud, adm *adminServer, cfg *config, stdout, stderr io.Writer) int {
	if _, err := cloud.SeedDemo(); err != nil {
		fmt.Fprintf(stderr, "cloud-emulator: %v\n", err)
		return 1
	}
	var world *emulator.World
	if cfg.worldVPCs > 0 || cfg.worldSIMs > 0 {
		var err error
		if world, err = cloud.SeedWorld(cfg.worldVPCs, cfg.worldSIMs); err != nil {
			fmt.Fprintf(stderr, "cloud-emulator: %v\n", err)
			return 1
		}
	}
	for _, r := range cfg.faults {
		cloud.Faults.Add(r)
	}
	adm.start()
	adminURL := adm.url
	if cfg.endpointsFile != "" {
		if err := writeEndpoints(cfg.endpointsFile, cloud, adminURL); err != nil {
			fmt.Fprintf(stderr, "cloud-emulator: %v\n", err)
			return 1
		}
	}
	if _, err := io.WriteString(stdout, banner(cloud, adminURL, cfg.namespace, world, cfg.faults)); err != nil {
		fmt.Fprintf(stderr, "cloud-emulator: %v\n", err)
		return 1
	}
	<-ctx.Done()
	fmt.Fprintln(stderr, "cloud-emulator: shutting down")
	return 0
}

// banner is valid YAML (the Secrets, the rest in comments), so stdout can be
// piped to kubectl apply -f -.
// world (nil when none) and faults are what the flags seeded and armed.
func banner(c *emulator.Cloud, adminURL, namespace string, world *emulator.World, faults []fault.Rule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# gatestream cloud emulator: the demo world of config/samples/ is seeded.\n")
	fmt.Fprintf(&b, "#   SORACOM API:   %s   (spec.soracom.endpoint)\n", c.SoracomURL)
	fmt.Fprintf(&b, "#   AppStream API: %s   (spec.aws.endpoints.appStream; streaming URLs open here)\n", c.AppStreamURL)
	fmt.Fprintf(&b, "#   EC2 API:       %s   (spec.aws.endpoints.ec2)\n", c.EC2URL)
	fmt.Fprintf(&b, "#   Admin API:     %s   (fault rules, call log, larger worlds: docs/emulator.md)\n", adminURL)
	if world != nil {
		fmt.Fprintf(&b, "# Seeded %d more VPCs and %d more online SIMs (curl %s/world lists them).\n",
			len(world.VPCs), len(world.SIMs), adminURL)
	}
	for _, r := range faults {
		fmt.Fprintf(&b, "# Fault armed: %s\n", admin.FormatRule(r))
	}
	fmt.Fprintf(&b, "# Point the sample environment at them:\n")
	fmt.Fprintf(&b, "#   kubectl -n %s patch remoteaccessenvironment factory-floor --type merge -p '%s'\n", namespace, c.EnvironmentPatch())
	fmt.Fprintf(&b, "# Credentials to apply (kubectl apply -f -):\n---\n")
	b.WriteString(c.CredentialsManifests(namespace))
	b.WriteString(ReadyLine + "\n")
	return b.String()
}

// Endpoints is the content of --endpoints-file in JSON form.
type Endpoints struct {
	Soracom          string          `json:"soracom"`
	AppStream        string          `json:"appStream"`
	EC2              string          `json:"ec2"`
	EnvironmentPatch json.RawMessage `json:"environmentPatch"`
	// Admin is the admin API's base URL (internal/emulator/admin).
	Admin string `json:"admin"`
}

// writeEndpoints writes the file atomically (a reader never sees it half written).
func writeEndpoints(path string, c *emulator.Cloud, adminURL string) error {
	var data []byte
	if strings.HasSuffix(path, ".json") {
		var err error
		data, err = json.MarshalIndent(Endpoints{Soracom: c.SoracomURL, AppStream: c.AppStreamURL, EC2: c.EC2URL,
			EnvironmentPatch: json.RawMessage(c.EnvironmentPatch()), Admin: adminURL}, "", "  ")
		if err != nil {
			return err
		}
		data = append(data, '\n')
	} else {
		data = fmt.Appendf(nil, "SORACOM_ENDPOINT=%s\nAPPSTREAM_ENDPOINT=%s\nEC2_ENDPOINT=%s\nENVIRONMENT_PATCH='%s'\nGATESTREAM_EMULATOR_ADMIN=%s\n",
			c.SoracomURL, c.AppStreamURL, c.EC2URL, c.EnvironmentPatch(), adminURL)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
