package plugin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/session/target"
)

// Devices prints a table of the devices of every DeviceGroup in the namespace
// (or of one group): DEVICE, GROUP, ONLINE, ADDRESS, PORTS, ENVIRONMENT, READY.
// READY is True when both the group and its environment are Ready, else
// False(Reason) naming the first that is not.
func (a *App) Devices(ctx context.Context, groupName string) error {
	var groups []accessv1alpha1.DeviceGroup
	if groupName != "" {
		g := &accessv1alpha1.DeviceGroup{}
		if err := a.Client.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: groupName}, g); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("DeviceGroup %q not found in namespace %q", groupName, a.Namespace)
			}
			return err
		}
		groups = append(groups, *g)
	} else {
		var err error
		if groups, err = a.listGroups(ctx); err != nil {
			return err
		}
	}

	envs := map[string]*accessv1alpha1.RemoteAccessEnvironment{}
	envReady := func(name string) string {
		env, ok := envs[name]
		if !ok {
			env = &accessv1alpha1.RemoteAccessEnvironment{}
			if err := a.Client.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: name}, env); err != nil {
				env = nil
			}
			envs[name] = env
		}
		if env == nil {
			return "False(EnvironmentNotFound)"
		}
		return readyColumn(env.Status.Conditions)
	}

	rows := 0
	tw := tabwriter.NewWriter(a.Out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tGROUP\tONLINE\tADDRESS\tPORTS\tENVIRONMENT\tREADY")
	for i := range groups {
		g := &groups[i]
		ready := envReady(g.Spec.EnvironmentRef.Name)
		if ready == "True" {
			ready = readyColumn(g.Status.Conditions)
		}
		for _, d := range g.Spec.Devices {
			online, address := "unknown", d.Address
			if st := deviceStatus(g, d.Name); st != nil {
				online = strconv.FormatBool(st.Online)
				if st.Address != "" {
					address = st.Address
				}
			}
			ports := make([]string, 0, len(d.Ports))
			for _, p := range d.Ports {
				ports = append(ports, fmt.Sprintf("%s:%d", p.Name, p.Port))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, g.Name, online, orDash(address),
				orDash(strings.Join(ports, ",")), g.Spec.EnvironmentRef.Name, ready)
			rows++
		}
	}
	if rows == 0 {
		fmt.Fprintf(a.Err, "No devices found in namespace %s.\n", a.Namespace)
		return nil
	}
	return tw.Flush()
}

// readyColumn is True, or False(Reason)/Unknown(Reason) from a Ready condition.
func readyColumn(conds []metav1.Condition) string {
	c := readyCondition(conds)
	switch {
	case c == nil:
		return "Unknown"
	case c.Status == metav1.ConditionTrue:
		return "True"
	case c.Reason != "":
		return fmt.Sprintf("%s(%s)", c.Status, c.Reason)
	default:
		return string(c.Status)
	}
}

// SessionsOptions are the sessions command's flags.
type SessionsOptions struct {
	// AllUsers lists everybody's sessions (with a USER column).
	AllUsers bool
	// User lists this user's sessions instead of the current user's.
	User string
}

// Sessions prints a table of the current user's StreamingSessions: NAME,
// DEVICE, VIA (AppStream, or Napter:port), APP, PHASE, EXPIRES (the URL, or
// the Napter endpoint) and ACCESS-ENDS, relative to now.
func (a *App) Sessions(ctx context.Context, o SessionsOptions) error {
	user := o.User
	if !o.AllUsers && user == "" {
		var err error
		if user, err = a.whoAmI(ctx); err != nil {
			return fmt.Errorf("finding out who you are (pass --%s or --all-users): %w", AppStreamUserFlag, err)
		}
	}
	var list accessv1alpha1.StreamingSessionList
	if err := a.Client.List(ctx, &list, client.InNamespace(a.Namespace)); err != nil {
		return fmt.Errorf("listing StreamingSessions in namespace %q: %w", a.Namespace, err)
	}
	items := list.Items[:0]
	for _, s := range list.Items {
		if o.AllUsers || s.Spec.UserID == user {
			items = append(items, s)
		}
	}
	if len(items) == 0 {
		if o.AllUsers {
			fmt.Fprintf(a.Err, "No sessions found in namespace %s.\n", a.Namespace)
		} else {
			fmt.Fprintf(a.Err, "No sessions of user %s found in namespace %s (--all-users lists everybody's).\n", user, a.Namespace)
		}
		return nil
	}
	sort.SliceStable(items, func(i, j int) bool {
		ti, tj := items[i].CreationTimestamp, items[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return items[i].Name < items[j].Name
	})

	now := a.now()
	tw := tabwriter.NewWriter(a.Out, 0, 8, 3, ' ', 0)
	if o.AllUsers {
		fmt.Fprintln(tw, "NAME\tUSER\tDEVICE\tVIA\tAPP\tPHASE\tEXPIRES\tACCESS-ENDS")
	} else {
		fmt.Fprintln(tw, "NAME\tDEVICE\tVIA\tAPP\tPHASE\tEXPIRES\tACCESS-ENDS")
	}
	for _, s := range items {
		device := "-"
		if t := s.Spec.Target; t != nil {
			device = t.Device
		}
		phase := string(s.Status.Phase)
		if phase == "" {
			phase = "-"
		}
		cols := []string{s.Name}
		if o.AllUsers {
			cols = append(cols, s.Spec.UserID)
		}
		via, app, expires := string(accessv1alpha1.ViaAppStream), orDash(s.Spec.Application), s.Status.URLExpiresAt
		if target.ViaNapter(&s) {
			// EXPIRES is when the endpoint closes.
			via, app, expires = string(accessv1alpha1.ViaNapter), "-", nil
			if st := s.Status.Napter; st != nil {
				expires = st.ExpiresAt
			}
			if t := s.Spec.Target; t != nil && t.Port != nil {
				via += ":" + t.Port.String()
			}
		}
		cols = append(cols, device, via, app, phase,
			relative(now, expires), relative(now, s.Status.AccessEndsAt))
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	return tw.Flush()
}

// End deletes the named StreamingSessions; the controller then ends the
// user's AppStream sessions (phase Revoked) and removes the URL's Secret.
func (a *App) End(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return errors.New("end needs a session name: kubectl gatestream end SESSION (see `kubectl gatestream sessions`)")
	}
	var errs []error
	for _, name := range names {
		ss := &accessv1alpha1.StreamingSession{ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: name}}
		if err := a.Client.Delete(ctx, ss); err != nil {
			if apierrors.IsNotFound(err) {
				err = fmt.Errorf("streamingsession %q not found in namespace %q (see `kubectl gatestream sessions`)", name, a.Namespace)
			}
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(a.Out, "streamingsession %s deleted: gatestream ends its AppStream sessions\n", name)
	}
	return errors.Join(errs...)
}
