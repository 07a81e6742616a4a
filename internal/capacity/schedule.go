package capacity

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the schedules' IANA time zones, also in images without /usr/share/zoneinfo

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

var weekdays = map[accessv1alpha1.Weekday]time.Weekday{
	"Sun": time.Sunday, "Mon": time.Monday, "Tue": time.Tuesday, "Wed": time.Wednesday,
	"Thu": time.Thursday, "Fri": time.Friday, "Sat": time.Saturday,
}

// Location loads a schedule's time zone (UTC when unset).
func Location(s accessv1alpha1.CapacitySchedule) (*time.Location, error) {
	if s.TimeZone == "" || s.TimeZone == "UTC" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("capacity schedule %s: time zone %q: %w", s.Name, s.TimeZone, err)
	}
	return loc, nil
}

// Window reports whether schedule s is open at now, and the next time it
// opens or closes (its next boundary after now). A schedule whose time zone
// cannot be loaded is never open (Validate reports it).
func Window(s accessv1alpha1.CapacitySchedule, now time.Time) (open bool, next time.Time) {
	loc, err := Location(s)
	if err != nil {
		return false, time.Time{}
	}
	start, err1 := clock(s.Start)
	end, err2 := clock(s.End)
	if err1 != nil || err2 != nil {
		return false, time.Time{}
	}
	local := now.In(loc)
	// A window opens on an allowed day at start and lasts until end (the next
	// day when end <= start). Look at the windows that opened yesterday and
	// today, and the boundaries of the next eight days.
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	for i := -1; i <= 8; i++ {
		d := day.AddDate(0, 0, i)
		if !onDay(s, d.Weekday()) {
			continue
		}
		// Both ends are wall-clock times (a day with a daylight-saving change
		// is shorter or longer, the window still closes at end).
		opens := time.Date(d.Year(), d.Month(), d.Day(), int(start/time.Hour), int(start%time.Hour/time.Minute), 0, 0, loc)
		closeDay := d
		if end <= start {
			closeDay = d.AddDate(0, 0, 1)
		}
		closes := time.Date(closeDay.Year(), closeDay.Month(), closeDay.Day(), int(end/time.Hour), int(end%time.Hour/time.Minute), 0, 0, loc)
		if !now.Before(opens) && now.Before(closes) {
			open = true
			next = earliest(next, closes)
		}
		if opens.After(now) {
			next = earliest(next, opens)
		}
	}
	return open, next
}

func onDay(s accessv1alpha1.CapacitySchedule, d time.Weekday) bool {
	if len(s.Days) == 0 {
		return true
	}
	for _, w := range s.Days {
		if weekdays[w] == d {
			return true
		}
	}
	return false
}

// clock parses HH:MM into the time since midnight.
func clock(hhmm string) (time.Duration, error) {
	h, m, ok := strings.Cut(hhmm, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", hhmm)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// Validate reports what admission cannot check: the schedules' time zones exist here.
func Validate(c *accessv1alpha1.CapacitySpec) error {
	if c == nil || c.Demand == nil {
		return nil
	}
	for _, s := range c.Demand.Schedules {
		if _, err := Location(s); err != nil {
			return err
		}
	}
	return nil
}
