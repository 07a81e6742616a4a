package leader

import (
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/util/resourceversion"
)

// record is the part of a Lease that leader election reads: a change of any
// of these fields is a sign of life of its holder (or a new holder).
type record struct {
	holder          string
	durationSeconds int32
	renew, acquire  int64 // UnixNano; 0 when unset
	transitions     int32
}

func recordOf(l *coordinationv1.Lease) record {
	var r record
	if h := l.Spec.HolderIdentity; h != nil {
		r.holder = *h
	}
	if d := l.Spec.LeaseDurationSeconds; d != nil {
		r.durationSeconds = *d
	}
	if t := l.Spec.RenewTime; t != nil {
		r.renew = t.UnixNano()
	}
	if t := l.Spec.AcquireTime; t != nil {
		r.acquire = t.UnixNano()
	}
	if n := l.Spec.LeaseTransitions; n != nil {
		r.transitions = *n
	}
	return r
}

// observer is a candidate's view of the Lease: the newest version seen (by
// watch, poll or its own writes) and the local time at which its record last
// changed. A lease is valid for its leaseDurationSeconds from that observed
// time, never from the renewTime the holder wrote: the holder's clock may be
// skewed against ours, the moment we saw the change is not.
type observer struct {
	known bool                  // the Lease, or its absence, has been seen
	lease *coordinationv1.Lease // newest version seen; nil: it does not exist
	rec   record
	at    time.Time // local time the record last changed
}

// older reports whether resource version a is older than b. Resource
// versions of one resource are comparable integers (KEP-5504); should they
// not be, no version is considered older.
func older(a, b string) bool {
	c, err := resourceversion.CompareResourceVersion(a, b)
	return err == nil && c < 0
}

// observe records the Lease l (nil: it does not exist) as seen at local time
// at. A version older than the one already seen is ignored (a watch event
// that arrives after the response of a later write). It reports whether the
// record changed.
func (o *observer) observe(l *coordinationv1.Lease, at time.Time) bool {
	if l != nil && o.lease != nil && older(l.ResourceVersion, o.lease.ResourceVersion) {
		return false
	}
	if l == nil {
		changed := !o.known || o.lease != nil
		o.known, o.lease, o.rec = true, nil, record{}
		if changed {
			o.at = at
		}
		return changed
	}
	rec := recordOf(l)
	changed := !o.known || o.lease == nil || rec != o.rec
	o.known, o.lease, o.rec = true, l, rec
	if changed {
		o.at = at
	}
	return changed
}

// observeDeleted records that the Lease was deleted; last is its final state
// as the watch reports it (nil when unknown).
func (o *observer) observeDeleted(last *coordinationv1.Lease, at time.Time) bool {
	if last != nil && o.lease != nil && older(last.ResourceVersion, o.lease.ResourceVersion) {
		return false
	}
	return o.observe(nil, at)
}

// free reports whether identity id may try to take the lease at now: it does
// not exist, nobody (or id itself) holds it, or the holder has not changed
// its record for leaseDurationSeconds since we observed the last change.
// Otherwise it returns when the lease expires, as things stand.
func (o *observer) free(id string, now time.Time) (bool, time.Time) {
	if !o.known {
		return false, time.Time{}
	}
	if o.lease == nil || o.rec.holder == "" || o.rec.holder == id {
		return true, time.Time{}
	}
	expiry := o.at.Add(time.Duration(o.rec.durationSeconds) * time.Second)
	if !now.Before(expiry) {
		return true, time.Time{}
	}
	return false, expiry
}

// holder is the identity in the Lease seen last ("" when none or no Lease).
func (o *observer) holder() string { return o.rec.holder }
