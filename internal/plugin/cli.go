package plugin

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// AppStreamUserFlag names the AppStream user id on connect and sessions
// (--user is kubectl's: the kubeconfig user).
const AppStreamUserFlag = "appstream-user"

// Main runs kubectl-gatestream with args (without the program name) and
// returns the process exit code: 0, or 1 after printing the error on stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := NewCommand(stdout, stderr, nil)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	return 0
}

// NewCommand builds the command tree. newApp builds the App once the flags
// are parsed; nil builds it from kubectl's own kubeconfig flags (--kubeconfig,
// --context, --user, -n/--namespace, --as, --as-group, …).
func NewCommand(stdout, stderr io.Writer, newApp func() (*App, error)) *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-gatestream",
		Short: "Browser access to devices through gatestream",
		Long: `kubectl gatestream opens browser sessions (AppStream 2.0 streaming URLs) to
devices on SORACOM SIMs, through the RemoteAccessEnvironments and DeviceGroups
that gatestream manages in the current namespace.`,
		Annotations:       map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl gatestream"},
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)

	kube := genericclioptions.NewConfigFlags(true)
	kube.AddFlags(root.PersistentFlags())
	if newApp == nil {
		newApp = func() (*App, error) { return appFromKubeconfig(kube, stdout, stderr) }
	}

	root.AddCommand(connectCommand(newApp), openCommand(newApp), devicesCommand(newApp), sessionsCommand(newApp), endCommand(newApp))
	return root
}

func connectCommand(newApp func() (*App, error)) *cobra.Command {
	var o ConnectOptions
	cmd := &cobra.Command{
		Use:   "connect DEVICE",
		Short: "Create a StreamingSession for a device and print its URL (or Napter endpoint)",
		Long: `connect finds the DeviceGroup that has DEVICE, checks that its environment is
Ready, creates a StreamingSession for you, waits until gatestream has minted
the streaming URL and prints it on stdout (progress goes to stderr).

With --via napter, the session gets a SORACOM Napter endpoint straight to one
TCP port of the device instead, open only to the --source-range CIDRs you give
(your own public address, such as 203.0.113.7/32: it is never guessed) for at
most 8h. connect prints host:port on stdout, and the TLS setting, the expiry
and, for an ssh port, the ssh command on stderr.`,
		Example: `  kubectl gatestream connect raspi-1
  kubectl gatestream connect plc-7 --app firefox --for 30m --open
  URL=$(kubectl gatestream -n line-a connect raspi-1 --group line-a)
  kubectl gatestream connect raspi-1 --via napter --source-range 203.0.113.7/32
  kubectl gatestream connect plc-7 --via napter --port http --source-range 203.0.113.0/24 --open`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := newApp()
			if err != nil {
				return err
			}
			o.Device = args[0]
			return a.Connect(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Group, "group", "", "DeviceGroup of the device (needed when several groups have a device of that name)")
	f.StringVar(&o.App, "app", "", "Application to open (default: the environment's first application)")
	f.DurationVar(&o.For, "for", DefaultAccessWindow, "How long access lasts (the session's accessWindow, 1m to 120h)")
	f.DurationVar(&o.URLValidity, "url-validity", DefaultURLValidity, "How long the URL can be opened (1s to 168h)")
	f.StringVar(&o.Env, "env", "", "RemoteAccessEnvironment (default: the device group's environmentRef)")
	f.BoolVar(&o.Open, "open", false, "Open the URL in a browser (xdg-open or open)")
	f.DurationVar(&o.Timeout, "timeout", DefaultConnectTimeout, "How long to wait for the URL")
	f.StringVar(&o.User, AppStreamUserFlag, "", "AppStream user id (default: your Kubernetes user name)")
	f.StringVar(&o.Via, "via", "appstream", "How to connect: appstream (a streaming URL) or napter (a SORACOM Napter endpoint straight to the device's port)")
	f.StringArrayVar(&o.SourceRanges, "source-range", nil, "With --via napter: an IPv4 CIDR allowed to connect to the endpoint, such as 203.0.113.7/32 (your own public address; repeatable; required)")
	f.StringVar(&o.Port, "port", "", "Port name of the device (default: its first port; with --via napter, its first port Napter can reach)")
	return cmd
}

func openCommand(newApp func() (*App, error)) *cobra.Command {
	var browser bool
	cmd := &cobra.Command{
		Use:   "open SESSION",
		Short: "Print a Ready session's URL or Napter endpoint again",
		Long: `open prints how to reach a Ready StreamingSession: an AppStream session's URL,
or a Napter session's endpoint (host:port on stdout; TLS, expiry and the ssh
command for an ssh port on stderr). --browser opens the URL, or a Napter web
port's http(s)://host:port/.`,
		Example: "  kubectl gatestream open admin-raspi-1-x7k2p\n  kubectl gatestream open admin-plc-7-q8w2e --browser",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := newApp()
			if err != nil {
				return err
			}
			return a.OpenSession(cmd.Context(), args[0], browser)
		},
	}
	cmd.Flags().BoolVar(&browser, "browser", false, "Open the URL in a browser (xdg-open or open)")
	return cmd
}

func devicesCommand(newApp func() (*App, error)) *cobra.Command {
	var group string
	cmd := &cobra.Command{
		Use:     "devices",
		Short:   "List the devices of the namespace's DeviceGroups",
		Example: "  kubectl gatestream devices\n  kubectl gatestream devices --group line-a -n line-a",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := newApp()
			if err != nil {
				return err
			}
			return a.Devices(cmd.Context(), group)
		},
	}
	cmd.Flags().StringVar(&group, "group", "", "List only this DeviceGroup's devices")
	return cmd
}

func sessionsCommand(newApp func() (*App, error)) *cobra.Command {
	var o SessionsOptions
	cmd := &cobra.Command{
		Use:     "sessions",
		Short:   "List your StreamingSessions",
		Example: "  kubectl gatestream sessions\n  kubectl gatestream sessions --all-users",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := newApp()
			if err != nil {
				return err
			}
			return a.Sessions(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.AllUsers, "all-users", false, "List everybody's sessions")
	cmd.Flags().StringVar(&o.User, AppStreamUserFlag, "", "List this AppStream user's sessions (default: yours)")
	return cmd
}

func endCommand(newApp func() (*App, error)) *cobra.Command {
	return &cobra.Command{
		Use:     "end SESSION...",
		Short:   "End StreamingSessions (deletes them; the user's AppStream sessions end)",
		Example: "  kubectl gatestream end admin-raspi-1-x7k2p",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := newApp()
			if err != nil {
				return err
			}
			return a.End(cmd.Context(), args)
		},
	}
}

// appFromKubeconfig builds the App the way kubectl builds its client.
func appFromKubeconfig(kube *genericclioptions.ConfigFlags, stdout, stderr io.Writer) (*App, error) {
	ns, _, err := kube.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	cfg, err := kube.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	cfg.UserAgent = "kubectl-gatestream"
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, err
	}
	a := &App{Client: c, Namespace: ns, Out: stdout, Err: stderr, Now: time.Now, Open: OpenBrowser}
	a.WhoAmI = func(ctx context.Context) (string, error) {
		name, err := SelfSubjectReviewUser(ctx, c)
		if err == nil || !(apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err)) {
			return name, err
		}
		// An API server without SelfSubjectReview: fall back to the kubeconfig's user.
		if name := kubeconfigUser(kube); name != "" {
			fmt.Fprintf(stderr, "warning: the API server cannot say who you are (%v); using the kubeconfig user %q\n", err, name)
			return name, nil
		}
		return "", err
	}
	return a, nil
}

// kubeconfigUser is the impersonated user (--as), else the kubeconfig user
// (--user, or the context's).
func kubeconfigUser(kube *genericclioptions.ConfigFlags) string {
	if *kube.Impersonate != "" {
		return *kube.Impersonate
	}
	if *kube.AuthInfoName != "" {
		return *kube.AuthInfoName
	}
	raw, err := kube.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return ""
	}
	name := *kube.Context
	if name == "" {
		name = raw.CurrentContext
	}
	if ctx, ok := raw.Contexts[name]; ok {
		if ai, ok := raw.AuthInfos[ctx.AuthInfo]; ok && ai.Impersonate != "" {
			return ai.Impersonate
		}
		return ctx.AuthInfo
	}
	return ""
}
