package capacity

import (
	"strings"
	"testing"
	"time"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

var tokyo = mustLoad("Asia/Tokyo")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// jst is 2026-09-<day> hh:mm in Tokyo (the 7th is a Monday).
func jst(day, hh, mm int) time.Time { return time.Date(2026, 9, day, hh, mm, 0, 0, tokyo) }

func businessHours() accessv1alpha1.CapacitySchedule {
	return accessv1alpha1.CapacitySchedule{
		Name: "business-hours", Days: []accessv1alpha1.Weekday{"Mon", "Tue", "Wed", "Thu", "Fri"},
		Start: "08:00", End: "18:00", TimeZone: "Asia/Tokyo", Min: 2,
	}
}

func TestWindowBusinessHours(t *testing.T) {
	if jst(7, 0, 0).Weekday() != time.Monday {
		t.Fatalf("the table assumes 2026-09-07 is a Monday, not a %s", jst(7, 0, 0).Weekday())
	}
	s := businessHours()
	tests := []struct {
		name string
		now  time.Time
		open bool
		next time.Time
	}{
		{name: "Monday 07:59 JST: closed, opens at 08:00", now: jst(7, 7, 59), open: false, next: jst(7, 8, 0)},
		{name: "Monday 07:59:59 JST: closed", now: jst(7, 7, 59).Add(59 * time.Second), open: false, next: jst(7, 8, 0)},
		{name: "Monday 08:00 JST: open, closes at 18:00", now: jst(7, 8, 0), open: true, next: jst(7, 18, 0)},
		{name: "Monday 17:59 JST: open", now: jst(7, 17, 59), open: true, next: jst(7, 18, 0)},
		{name: "Monday 18:00 JST: closed, opens Tuesday", now: jst(7, 18, 0), open: false, next: jst(8, 8, 0)},
		{name: "the same instant in UTC: Monday 08:00 JST is Sunday 23:00 UTC", now: jst(7, 8, 0).UTC(), open: true, next: jst(7, 18, 0)},
		{name: "Friday 18:00 JST: closed, opens Monday", now: jst(11, 18, 0), open: false, next: jst(14, 8, 0)},
		{name: "Saturday noon JST: closed, opens Monday 08:00", now: jst(12, 12, 0), open: false, next: jst(14, 8, 0)},
		{name: "Sunday 23:59 JST: closed, opens Monday 08:00", now: jst(13, 23, 59), open: false, next: jst(14, 8, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			open, next := Window(s, tc.now)
			if open != tc.open || !next.Equal(tc.next) {
				t.Fatalf("Window at %v = %v, %v; want %v, %v", tc.now.In(tokyo), open, next.In(tokyo), tc.open, tc.next.In(tokyo))
			}
		})
	}
}

func TestWindowOvernight(t *testing.T) {
	daily := accessv1alpha1.CapacitySchedule{Name: "night", Start: "22:00", End: "06:00", Min: 1}
	fridays := daily
	fridays.Days = []accessv1alpha1.Weekday{"Fri"}
	utc := func(day, hh, mm int) time.Time { return time.Date(2026, 9, day, hh, mm, 0, 0, time.UTC) }
	tests := []struct {
		name string
		s    accessv1alpha1.CapacitySchedule
		now  time.Time
		open bool
		next time.Time
	}{
		{name: "daily, 21:59: closed", s: daily, now: utc(7, 21, 59), open: false, next: utc(7, 22, 0)},
		{name: "daily, 22:00: open until 06:00 the next day", s: daily, now: utc(7, 22, 0), open: true, next: utc(8, 6, 0)},
		{name: "daily, 23:00: open", s: daily, now: utc(7, 23, 0), open: true, next: utc(8, 6, 0)},
		{name: "daily, 05:59 the next day: open", s: daily, now: utc(8, 5, 59), open: true, next: utc(8, 6, 0)},
		{name: "daily, 06:00: closed until 22:00", s: daily, now: utc(8, 6, 0), open: false, next: utc(8, 22, 0)},
		{name: "Fridays, Friday 23:00: open", s: fridays, now: utc(11, 23, 0), open: true, next: utc(12, 6, 0)},
		{name: "Fridays, Saturday 03:00: still open (started Friday)", s: fridays, now: utc(12, 3, 0), open: true, next: utc(12, 6, 0)},
		{name: "Fridays, Saturday 05:59: open", s: fridays, now: utc(12, 5, 59), open: true, next: utc(12, 6, 0)},
		{name: "Fridays, Saturday 06:00: closed until next Friday", s: fridays, now: utc(12, 6, 0), open: false, next: utc(18, 22, 0)},
		{name: "Fridays, Saturday 23:00: closed (Saturday is not a start day)", s: fridays, now: utc(12, 23, 0), open: false, next: utc(18, 22, 0)},
		{name: "Fridays, Friday 03:00: closed (Thursday is not a start day)", s: fridays, now: utc(11, 3, 0), open: false, next: utc(11, 22, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			open, next := Window(tc.s, tc.now)
			if open != tc.open || !next.Equal(tc.next) {
				t.Fatalf("Window at %v = %v, %v; want %v, %v", tc.now, open, next, tc.open, tc.next)
			}
		})
	}
}

// TestWindowDaylightSaving: start and end are local wall-clock times, also
// on the days the clocks change (America/New_York springs forward on
// 2026-03-08 and falls back on 2026-11-01).
func TestWindowDaylightSaving(t *testing.T) {
	ny := mustLoad("America/New_York")
	s := accessv1alpha1.CapacitySchedule{Name: "mornings", Start: "00:00", End: "12:00", TimeZone: "America/New_York", Min: 1}
	at := func(m time.Month, d, hh, mm int) time.Time { return time.Date(2026, m, d, hh, mm, 0, 0, ny) }
	tests := []struct {
		name string
		now  time.Time
		open bool
		next time.Time
	}{
		{name: "spring forward, 11:00 EDT: open, closes at 12:00 local", now: at(3, 8, 11, 0), open: true, next: at(3, 8, 12, 0)},
		{name: "spring forward, 12:30 EDT: closed", now: at(3, 8, 12, 30), open: false, next: at(3, 9, 0, 0)},
		{name: "fall back, 11:30 EST: open, closes at 12:00 local", now: at(11, 1, 11, 30), open: true, next: at(11, 1, 12, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			open, next := Window(s, tc.now)
			if open != tc.open || !next.Equal(tc.next) {
				t.Errorf("Window at %v = %v, %v; want %v, %v", tc.now, open, next.In(ny), tc.open, tc.next)
			}
		})
	}
}

func TestWindowBadInput(t *testing.T) {
	bad := []accessv1alpha1.CapacitySchedule{
		{Name: "nowhere", Start: "08:00", End: "18:00", TimeZone: "Mars/Olympus_Mons", Min: 1},
		{Name: "bad-start", Start: "8am", End: "18:00", Min: 1},
		{Name: "bad-end", Start: "08:00", End: "24:00", Min: 1},
		{Name: "bad-minutes", Start: "08:60", End: "18:00", Min: 1},
	}
	for _, s := range bad {
		// Every minute of a week, in steps of 7 minutes.
		for now := t0; now.Before(t0.Add(7 * 24 * time.Hour)); now = now.Add(7 * time.Minute) {
			if open, next := Window(s, now); open || !next.IsZero() {
				t.Fatalf("%s at %v: open %v next %v; want never open, nothing due", s.Name, now, open, next)
			}
		}
	}
	// A schedule in UTC by default and by name.
	for _, tz := range []string{"", "UTC"} {
		s := accessv1alpha1.CapacitySchedule{Name: "utc", Start: "09:00", End: "10:00", TimeZone: tz}
		if open, next := Window(s, t0); !open || !next.Equal(t0.Add(time.Hour)) {
			t.Errorf("time zone %q at %v: %v, %v; want open until 10:00 UTC", tz, t0, open, next)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := Validate(nil); err != nil {
		t.Errorf("nil: %v", err)
	}
	if err := Validate(&accessv1alpha1.CapacitySpec{Policy: accessv1alpha1.CapacityFixed}); err != nil {
		t.Errorf("Fixed: %v", err)
	}
	good := &accessv1alpha1.CapacitySpec{Policy: accessv1alpha1.CapacityDemand, Demand: &accessv1alpha1.DemandCapacity{Max: 10,
		Schedules: []accessv1alpha1.CapacitySchedule{businessHours(), {Name: "utc", Start: "00:00", End: "01:00"}}}}
	if err := Validate(good); err != nil {
		t.Errorf("known zones: %v", err)
	}
	bad := good.DeepCopy()
	bad.Demand.Schedules = append(bad.Demand.Schedules, accessv1alpha1.CapacitySchedule{Name: "lunar", Start: "08:00", End: "09:00", TimeZone: "Moon/Tranquility"})
	err := Validate(bad)
	if err == nil || !strings.Contains(err.Error(), "Moon/Tranquility") || !strings.Contains(err.Error(), "lunar") {
		t.Fatalf("unknown zone: %v; want an error naming the zone and the schedule", err)
	}
	if _, err := Location(bad.Demand.Schedules[2]); err == nil {
		t.Fatal("Location of an unknown zone: no error")
	}
	if loc, err := Location(businessHours()); err != nil || loc.String() != "Asia/Tokyo" {
		t.Fatalf("Location(Asia/Tokyo) = %v, %v", loc, err)
	}
}

func TestDecideSchedules(t *testing.T) {
	peak := accessv1alpha1.CapacitySchedule{Name: "peak", Days: []accessv1alpha1.Weekday{"Mon"}, Start: "12:00", End: "13:00", TimeZone: "Asia/Tokyo", Min: 5}
	low := accessv1alpha1.CapacitySchedule{Name: "low", Start: "00:00", End: "23:59", TimeZone: "Asia/Tokyo", Min: 1}
	d := accessv1alpha1.DemandCapacity{Min: 0, Max: 10, Spare: 1, StopAfterIdle: minutes(30), Schedules: []accessv1alpha1.CapacitySchedule{businessHours(), peak}}
	lowOnly := d
	lowOnly.Min = 3
	lowOnly.Schedules = []accessv1alpha1.CapacitySchedule{low}
	longIdle := ptr(jst(6, 0, 0)) // since Sunday

	tests := []struct {
		name     string
		d        accessv1alpha1.DemandCapacity
		now      time.Time
		live     int
		run      bool
		desired  int32
		min      int32
		schedule string
		next     time.Time
	}{
		{name: "Monday 07:59, idle: stopped, business hours next", d: d, now: jst(7, 7, 59),
			run: false, desired: 0, min: 0, next: jst(7, 8, 0)},
		{name: "Monday 08:00, idle: min 2 of business-hours", d: d, now: jst(7, 8, 0),
			run: true, desired: 2, min: 2, schedule: "business-hours", next: jst(7, 12, 0)},
		{name: "Monday 12:30, idle: peak is the highest", d: d, now: jst(7, 12, 30),
			run: true, desired: 5, min: 5, schedule: "peak", next: jst(7, 13, 0)},
		{name: "Monday 12:30, 7 live: 7 + spare", d: d, now: jst(7, 12, 30), live: 7,
			run: true, desired: 8, min: 5, schedule: "peak", next: jst(7, 13, 0)},
		{name: "Monday 13:00: back to business-hours", d: d, now: jst(7, 13, 0),
			run: true, desired: 2, min: 2, schedule: "business-hours", next: jst(7, 18, 0)},
		{name: "Monday 18:00, idle since Sunday: stopped at once", d: d, now: jst(7, 18, 0),
			run: false, desired: 0, min: 0, next: jst(8, 8, 0)},
		{name: "Monday 18:00, 1 live: min 0 again", d: d, now: jst(7, 18, 0), live: 1,
			run: true, desired: 2, min: 0, next: jst(8, 8, 0)},
		{name: "Saturday, idle: stopped until Monday", d: d, now: jst(12, 10, 0),
			run: false, desired: 0, min: 0, next: jst(14, 8, 0)},
		{name: "a schedule below demand.min does not lower it", d: lowOnly, now: jst(7, 10, 0),
			run: true, desired: 3, min: 3, schedule: "", next: jst(7, 23, 59)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Decide(Input{Spec: demandSpec(tc.d), Now: tc.now, Live: tc.live, IdleSince: longIdle, FleetUp: true})
			if p.Run != tc.run || p.Desired != tc.desired || p.Min != tc.min || p.Schedule != tc.schedule || !p.Next.Equal(tc.next) {
				t.Fatalf("run %v desired %d min %d schedule %q next %v; want run %v desired %d min %d schedule %q next %v (why: %s)",
					p.Run, p.Desired, p.Min, p.Schedule, p.Next.In(tokyo), tc.run, tc.desired, tc.min, tc.schedule, tc.next.In(tokyo), p.Why)
			}
			if tc.schedule != "" && !strings.Contains(p.Why, tc.schedule) && tc.live == 0 {
				t.Fatalf("why %q does not name schedule %s", p.Why, tc.schedule)
			}
		})
	}
}

// TestDecideScheduleRaisesAndLowersMin steps a fake clock minute by minute
// across a business day: min is 2 exactly from 08:00 to 18:00, and each
// change happens at the Next the previous plan announced.
func TestDecideScheduleRaisesAndLowersMin(t *testing.T) {
	spec := demandSpec(accessv1alpha1.DemandCapacity{Min: 0, Max: 10, Spare: 1, StopAfterIdle: minutes(30),
		Schedules: []accessv1alpha1.CapacitySchedule{businessHours()}})
	idle := ptr(jst(6, 12, 0)) // idle since Sunday noon
	var prev Plan
	var changes []time.Time
	for now := jst(7, 6, 0); !now.After(jst(7, 20, 0)); now = now.Add(time.Minute) {
		p := Decide(Input{Spec: spec, Now: now, IdleSince: idle, FleetUp: prev.Run})
		idle = p.IdleSince // the caller records the mark
		inHours := !now.Before(jst(7, 8, 0)) && now.Before(jst(7, 18, 0))
		wantMin, wantDesired := int32(0), int32(0)
		if inHours {
			wantMin, wantDesired = 2, 2
		}
		if p.Min != wantMin || p.Run != inHours || p.Desired != wantDesired {
			t.Fatalf("%v: min %d run %v desired %d; want min %d run %v desired %d", now.In(tokyo), p.Min, p.Run, p.Desired, wantMin, inHours, wantDesired)
		}
		if !prev.Next.IsZero() && (p.Min != prev.Min || p.Run != prev.Run) {
			if !now.Equal(prev.Next) {
				t.Fatalf("%v: the plan changed, but the last plan said next %v", now.In(tokyo), prev.Next.In(tokyo))
			}
			changes = append(changes, now)
		}
		prev = p
	}
	if len(changes) != 2 || !changes[0].Equal(jst(7, 8, 0)) || !changes[1].Equal(jst(7, 18, 0)) {
		t.Fatalf("changes at %v; want 08:00 and 18:00 JST", changes)
	}
}
