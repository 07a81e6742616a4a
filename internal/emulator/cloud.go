// Package emulator runs the SORACOM, AppStream and EC2 emulators as one cloud:
// one shared fault injector and call log, one AWS world that is also the AWS
// side of SORACOM Canal (a peering created on SORACOM appears
// pending-acceptance in EC2), and three HTTP servers on 127.0.0.1.
//
// Tests call Start with kernel-chosen ports; the demo binary
// (hack/cloud-emulator) passes fixed ones. SeedDemo fills the world to match
// config/samples/.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/emulator/soracom"
)

// API names of the three emulators in the fault injector's rules and call log.
const (
	APISoracom   = soracom.API
	APIAppStream = "appstream"
	APIEC2       = "ec2"
)

// DefaultAddr is the listen address used when an Options address is empty:
// loopback only, port chosen by the kernel.
const DefaultAddr = "127.0.0.1:0"

// shutdownGrace bounds how long Close waits for in-flight requests before it
// closes their connections.
const shutdownGrace = 5 * time.Second

// Options configure Start. The zero value is usable.
type Options struct {
	// Clock drives every state machine of both emulators (default clock.RealClock).
	Clock clock.PassiveClock
	// Seed seeds the shared fault injector's random decisions.
	Seed uint64

	// VPGCreateDelay is how long a new VPG stays "creating"; VPGTerminateDelay
	// how long a terminated one stays "terminating".
	VPGCreateDelay, VPGTerminateDelay time.Duration
	// FleetStartDelay is how long a fleet stays STARTING; FleetStopDelay STOPPING.
	FleetStartDelay, FleetStopDelay time.Duration
	// InstanceStartDelay is how long an EC2 instance (the router) stays pending.
	InstanceStartDelay time.Duration

	// SoracomPageSize is the largest page a SORACOM list call returns (default 100).
	SoracomPageSize int
	// SoracomRateLimitPerMinute limits SORACOM calls per operator and path
	// template per minute (0: unlimited).
	SoracomRateLimitPerMinute int
	// SoracomCoverage is "jp" (default) or "g": the default region of a VPG
	// created without placement (ap-northeast-1 or eu-central-1).
	SoracomCoverage string

	// Listen addresses (host:port) of the three servers; default DefaultAddr.
	SoracomAddr, AppStreamAddr, EC2Addr string

	// NapterListen gives every Napter port mapping created from then on a
	// real TCP endpoint: a listener on 127.0.0.1 with a kernel-chosen port,
	// the emulator's stand-in for Napter's global address (the entry's
	// ipAddress is 127.0.0.1, its port the listener's, its hostname
	// localhost; TLS with a self-signed certificate for tlsRequired
	// entries). The packet walker (ReachNapter) decides each connection from
	// its own address. It closes when the entry is deleted, once it has
	// expired and anything observes it (on accept too), and on Close.
	// Default false: entries get made-up documentation addresses
	// (203.0.113.x) and nothing listens.
	NapterListen bool
}

// Cloud is a running set of emulators. Its fields are read-only after Start.
type Cloud struct {
	// Soracom is the SORACOM emulator (seed and inspect through its Go API).
	Soracom *soracom.Server
	// AWS is the AppStream + EC2 world.
	AWS *aws.World
	// Faults is the fault injector and call log shared by the three APIs.
	Faults *fault.Injector

	// SoracomURL is the SORACOM API base (http://127.0.0.1:port; the API lives under /v1).
	SoracomURL string
	// AppStreamURL is the AppStream endpoint (BaseEndpoint of the SDK client);
	// minted streaming URLs point at it too.
	AppStreamURL string
	// EC2URL is the EC2 endpoint (BaseEndpoint of the SDK client).
	EC2URL string

	servers []*server

	mu     sync.Mutex
	seeded *Seeded

	devices devices
	// napter are the real Napter endpoints (nil unless Options.NapterListen).
	napter *napterEndpoints

	closeOnce sync.Once
	closeErr  error
}

type server struct {
	srv  *http.Server
	done chan struct{} // closed when Serve has returned

	mu sync.Mutex
	// fresh are connections that have not sent a request yet. Shutdown treats
	// them as busy for 5 s (a client may be about to use them); Close closes
	// them at once, since the emulator is going away anyway.
	fresh map[net.Conn]struct{}
}

func (s *server) connState(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st == http.StateNew {
		s.fresh[c] = struct{}{}
	} else {
		delete(s.fresh, c)
	}
}

// shutdown stops accepting, closes connections without a request, lets
// in-flight requests finish until ctx is done, then closes everything.
func (s *server) shutdown(ctx context.Context) error {
	res := make(chan error, 1)
	go func() { res <- s.srv.Shutdown(ctx) }()
	// Serve returns as soon as Shutdown has closed the listener; from then on
	// no connection is added.
	<-s.done
	s.mu.Lock()
	for c := range s.fresh {
		_ = c.Close()
	}
	clear(s.fresh)
	s.mu.Unlock()
	err := <-res
	if err != nil {
		// Grace period over: drop the remaining connections.
		_ = s.srv.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			err = nil
		}
	}
	return err
}

// Start builds the world and serves the three APIs. Close stops them.
func Start(opts Options) (*Cloud, error) {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	faults := fault.New(opts.Seed)
	world := aws.New(aws.Options{
		Clock:              opts.Clock,
		Faults:             faults,
		AccountID:          DemoAWSAccountID,
		Region:             DemoAWSRegion,
		FleetStartDelay:    opts.FleetStartDelay,
		FleetStopDelay:     opts.FleetStopDelay,
		InstanceStartDelay: opts.InstanceStartDelay,
	})
	sor := soracom.New(soracom.Options{
		Clock:              opts.Clock,
		Faults:             faults,
		VPGCreateDelay:     opts.VPGCreateDelay,
		VPGTerminateDelay:  opts.VPGTerminateDelay,
		RateLimitPerMinute: opts.SoracomRateLimitPerMinute,
		PageSize:           opts.SoracomPageSize,
		Coverage:           opts.SoracomCoverage,
		Peering:            world,
	})
	c := &Cloud{Soracom: sor, AWS: world, Faults: faults}
	if opts.NapterListen {
		n, err := newNapterEndpoints(c)
		if err != nil {
			return nil, err
		}
		c.napter = n
		sor.SetNapterListener(n.listen)
	}
	// The session pages say whether the session's target is reachable, by
	// the independent packet walker (internal/emulator/reach).
	world.SetReachability(func(s aws.Session) string {
		if res, ok := c.ReachSession(s); ok {
			return res.String()
		}
		return ""
	})

	// Listen on all three before serving, so that a port conflict leaves nothing behind.
	addrs := []string{opts.SoracomAddr, opts.AppStreamAddr, opts.EC2Addr}
	names := []string{"SORACOM", "AppStream", "EC2"}
	lns := make([]net.Listener, 0, len(addrs))
	for i, a := range addrs {
		if a == "" {
			a = DefaultAddr
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return nil, fmt.Errorf("emulator: listen for %s on %s: %w", names[i], a, err)
		}
		lns = append(lns, ln)
	}
	c.SoracomURL = "http://" + lns[0].Addr().String()
	c.AppStreamURL = "http://" + lns[1].Addr().String()
	c.EC2URL = "http://" + lns[2].Addr().String()
	world.SetStreamingBaseURL(c.AppStreamURL)

	handlers := []http.Handler{sor.Handler(), world.AppStreamHandler(), world.EC2Handler()}
	for i, ln := range lns {
		s := &server{done: make(chan struct{}), fresh: map[net.Conn]struct{}{}}
		s.srv = &http.Server{
			Handler:           handlers[i],
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ConnState:         s.connState,
		}
		c.servers = append(c.servers, s)
		go func() {
			defer close(s.done)
			_ = s.srv.Serve(ln) // returns http.ErrServerClosed after Shutdown/Close
		}()
	}
	return c, nil
}

// Close stops the three servers and the Napter endpoints: no new connections are accepted, in-flight
// requests get a few seconds to finish, then every connection is closed. It
// returns when the servers' goroutines are gone and the ports are free. It is
// safe to call more than once.
func (c *Cloud) Close() error {
	c.closeOnce.Do(func() {
		if c.napter != nil {
			c.napter.close()
			c.Soracom.CloseNapterEndpoints()
		}
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		var wg sync.WaitGroup
		errs := make([]error, len(c.servers))
		for i, s := range c.servers {
			wg.Go(func() { errs[i] = s.shutdown(ctx) })
		}
		wg.Wait()
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}
