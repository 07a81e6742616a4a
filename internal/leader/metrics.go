package leader

import (
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// masterStatus is leader_election_master_status{name=<lease>}: 1 while this
// process leads, 0 otherwise. controller-runtime registers the same GaugeVec
// (for client-go's elector) in its registry at init; an identical one is
// registered here and, as it is already there, the existing one is used.
var masterStatus struct {
	once  sync.Once
	gauge *prometheus.GaugeVec
	err   error
}

func leaderGauge() (*prometheus.GaugeVec, error) {
	masterStatus.once.Do(func() {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "leader_election_master_status",
			Help: "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease. Please make sure to group by name.",
		}, []string{"name"})
		err := crmetrics.Registry.Register(g)
		var already prometheus.AlreadyRegisteredError
		switch {
		case err == nil:
			masterStatus.gauge = g
		case errors.As(err, &already):
			existing, ok := already.ExistingCollector.(*prometheus.GaugeVec)
			if !ok {
				masterStatus.err = fmt.Errorf("leader_election_master_status is registered as a %T, not a GaugeVec", already.ExistingCollector)
				return
			}
			masterStatus.gauge = existing
		default:
			masterStatus.err = fmt.Errorf("registering leader_election_master_status: %w", err)
		}
	})
	return masterStatus.gauge, masterStatus.err
}
