package aws

import (
	"context"
	"fmt"
	"math"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
)

// AppStreamAPI is what the controllers need from AppStream 2.0. Methods
// return the SDK's errors (credentials scrubbed); classify them with
// IsNotFound, IsAlreadyExists, IsTerminal, IsRetryable. Deletes do not hide
// not-found: callers treat IsNotFound as success.
type AppStreamAPI interface {
	// DescribeFleet returns the named fleet, or an error with IsNotFound(err)
	// (and errors.Is(err, ErrNotFound)) when it does not exist.
	DescribeFleet(ctx context.Context, name string) (*astypes.Fleet, error)
	// CreateFleet creates a fleet (it starts STOPPED).
	CreateFleet(ctx context.Context, in *appstream.CreateFleetInput) (*astypes.Fleet, error)
	// UpdateFleet updates a fleet; some attributes need it STOPPED (ResourceInUseException otherwise).
	UpdateFleet(ctx context.Context, in *appstream.UpdateFleetInput) (*astypes.Fleet, error)
	StartFleet(ctx context.Context, name string) error
	StopFleet(ctx context.Context, name string) error
	DeleteFleet(ctx context.Context, name string) error

	// DescribeStack returns the named stack, or an error with IsNotFound(err).
	DescribeStack(ctx context.Context, name string) (*astypes.Stack, error)
	CreateStack(ctx context.Context, in *appstream.CreateStackInput) (*astypes.Stack, error)
	UpdateStack(ctx context.Context, in *appstream.UpdateStackInput) (*astypes.Stack, error)
	DeleteStack(ctx context.Context, name string) error

	// AssociateFleet and DisassociateFleet take the stack first, then the fleet.
	AssociateFleet(ctx context.Context, stack, fleet string) error
	DisassociateFleet(ctx context.Context, stack, fleet string) error
	// ListAssociatedFleets returns the names of the fleets associated with a stack (all pages).
	ListAssociatedFleets(ctx context.Context, stack string) ([]string, error)
	// ListAssociatedStacks returns the names of the stacks associated with a fleet (all pages).
	ListAssociatedStacks(ctx context.Context, fleet string) ([]string, error)

	// CreateStreamingURL mints a streaming URL for userID. appID and
	// sessionContext are omitted when empty; validity is rounded up to whole
	// seconds (0: the service default of 60 s; AWS accepts 1 s to 7 days).
	CreateStreamingURL(ctx context.Context, stack, fleet, userID, appID, sessionContext string, validity time.Duration) (url string, expires time.Time, err error)
	// DescribeUserSessions lists the live sessions of streaming-URL (API)
	// users of a stack and fleet, of userID only when it is not empty (all pages).
	DescribeUserSessions(ctx context.Context, stack, fleet, userID string) ([]astypes.Session, error)
	// ExpireSession ends a session immediately (unknown or ended sessions are accepted).
	ExpireSession(ctx context.Context, id string) error

	TagResource(ctx context.Context, arn string, tags map[string]string) error
	UntagResource(ctx context.Context, arn string, keys []string) error
	ListTagsForResource(ctx context.Context, arn string) (map[string]string, error)

	// DescribeImage returns the named image, or an error with IsNotFound(err).
	DescribeImage(ctx context.Context, name string) (*astypes.Image, error)
}

// appStreamAPIClient is the subset of *appstream.Client the adapter uses.
type appStreamAPIClient interface {
	appstream.DescribeImagesAPIClient
	DescribeFleets(context.Context, *appstream.DescribeFleetsInput, ...func(*appstream.Options)) (*appstream.DescribeFleetsOutput, error)
	CreateFleet(context.Context, *appstream.CreateFleetInput, ...func(*appstream.Options)) (*appstream.CreateFleetOutput, error)
	UpdateFleet(context.Context, *appstream.UpdateFleetInput, ...func(*appstream.Options)) (*appstream.UpdateFleetOutput, error)
	StartFleet(context.Context, *appstream.StartFleetInput, ...func(*appstream.Options)) (*appstream.StartFleetOutput, error)
	StopFleet(context.Context, *appstream.StopFleetInput, ...func(*appstream.Options)) (*appstream.StopFleetOutput, error)
	DeleteFleet(context.Context, *appstream.DeleteFleetInput, ...func(*appstream.Options)) (*appstream.DeleteFleetOutput, error)
	DescribeStacks(context.Context, *appstream.DescribeStacksInput, ...func(*appstream.Options)) (*appstream.DescribeStacksOutput, error)
	CreateStack(context.Context, *appstream.CreateStackInput, ...func(*appstream.Options)) (*appstream.CreateStackOutput, error)
	UpdateStack(context.Context, *appstream.UpdateStackInput, ...func(*appstream.Options)) (*appstream.UpdateStackOutput, error)
	DeleteStack(context.Context, *appstream.DeleteStackInput, ...func(*appstream.Options)) (*appstream.DeleteStackOutput, error)
	AssociateFleet(context.Context, *appstream.AssociateFleetInput, ...func(*appstream.Options)) (*appstream.AssociateFleetOutput, error)
	DisassociateFleet(context.Context, *appstream.DisassociateFleetInput, ...func(*appstream.Options)) (*appstream.DisassociateFleetOutput, error)
	ListAssociatedFleets(context.Context, *appstream.ListAssociatedFleetsInput, ...func(*appstream.Options)) (*appstream.ListAssociatedFleetsOutput, error)
	ListAssociatedStacks(context.Context, *appstream.ListAssociatedStacksInput, ...func(*appstream.Options)) (*appstream.ListAssociatedStacksOutput, error)
	CreateStreamingURL(context.Context, *appstream.CreateStreamingURLInput, ...func(*appstream.Options)) (*appstream.CreateStreamingURLOutput, error)
	DescribeSessions(context.Context, *appstream.DescribeSessionsInput, ...func(*appstream.Options)) (*appstream.DescribeSessionsOutput, error)
	ExpireSession(context.Context, *appstream.ExpireSessionInput, ...func(*appstream.Options)) (*appstream.ExpireSessionOutput, error)
	TagResource(context.Context, *appstream.TagResourceInput, ...func(*appstream.Options)) (*appstream.TagResourceOutput, error)
	UntagResource(context.Context, *appstream.UntagResourceInput, ...func(*appstream.Options)) (*appstream.UntagResourceOutput, error)
	ListTagsForResource(context.Context, *appstream.ListTagsForResourceInput, ...func(*appstream.Options)) (*appstream.ListTagsForResourceOutput, error)
}

type appStreamClient struct {
	c appStreamAPIClient
	// sessionsPageSize is DescribeSessions' Limit (max 50); tests lower it to exercise paging.
	sessionsPageSize int32
}

var _ AppStreamAPI = (*appStreamClient)(nil)

// maxPages bounds NextToken loops against a server that never stops paging.
const maxPages = 1000

// pages follows NextToken by hand: the Go SDK has no paginators for
// DescribeFleets, DescribeStacks, ListAssociated*, DescribeSessions (reference §1.3).
func pages(ctx context.Context, call func(token *string) (next *string, err error)) error {
	var token *string
	for range maxPages {
		if err := ctx.Err(); err != nil {
			return err
		}
		next, err := call(token)
		if err != nil {
			return err
		}
		if next == nil || *next == "" || (token != nil && *next == *token) {
			return nil
		}
		token = next
	}
	return fmt.Errorf("aws: more than %d pages", maxPages)
}

func (a *appStreamClient) DescribeFleet(ctx context.Context, name string) (*astypes.Fleet, error) {
	return findNamed(ctx, "fleet", name, func(token *string) ([]astypes.Fleet, *string, error) {
		out, err := a.c.DescribeFleets(ctx, &appstream.DescribeFleetsInput{Names: []string{name}, NextToken: token})
		if err != nil {
			return nil, nil, err
		}
		return out.Fleets, out.NextToken, nil
	}, func(f *astypes.Fleet) *string { return f.Name })
}

// findNamed pages through a Describe call for one name and returns the item
// with that name; a missing item (an error or an empty result) is ErrNotFound.
func findNamed[T any](ctx context.Context, kind, name string, list func(token *string) ([]T, *string, error), nameOf func(*T) *string) (*T, error) {
	var found *T
	err := pages(ctx, func(token *string) (*string, error) {
		items, next, err := list(token)
		if err != nil {
			return nil, err
		}
		for i := range items {
			if awssdk.ToString(nameOf(&items[i])) == name {
				found = &items[i]
				return nil, nil
			}
		}
		return next, nil
	})
	if err != nil {
		return nil, asNotFound(err)
	}
	if found == nil {
		return nil, fmt.Errorf("appstream %s %q: %w", kind, name, ErrNotFound)
	}
	return found, nil
}

func (a *appStreamClient) CreateFleet(ctx context.Context, in *appstream.CreateFleetInput) (*astypes.Fleet, error) {
	out, err := a.c.CreateFleet(ctx, in)
	if err != nil {
		return nil, err
	}
	return out.Fleet, nil
}

func (a *appStreamClient) UpdateFleet(ctx context.Context, in *appstream.UpdateFleetInput) (*astypes.Fleet, error) {
	out, err := a.c.UpdateFleet(ctx, in)
	if err != nil {
		return nil, asNotFound(err)
	}
	return out.Fleet, nil
}

func (a *appStreamClient) StartFleet(ctx context.Context, name string) error {
	_, err := a.c.StartFleet(ctx, &appstream.StartFleetInput{Name: &name})
	return asNotFound(err)
}

func (a *appStreamClient) StopFleet(ctx context.Context, name string) error {
	_, err := a.c.StopFleet(ctx, &appstream.StopFleetInput{Name: &name})
	return asNotFound(err)
}

func (a *appStreamClient) DeleteFleet(ctx context.Context, name string) error {
	_, err := a.c.DeleteFleet(ctx, &appstream.DeleteFleetInput{Name: &name})
	return asNotFound(err)
}

func (a *appStreamClient) DescribeStack(ctx context.Context, name string) (*astypes.Stack, error) {
	return findNamed(ctx, "stack", name, func(token *string) ([]astypes.Stack, *string, error) {
		out, err := a.c.DescribeStacks(ctx, &appstream.DescribeStacksInput{Names: []string{name}, NextToken: token})
		if err != nil {
			return nil, nil, err
		}
		return out.Stacks, out.NextToken, nil
	}, func(s *astypes.Stack) *string { return s.Name })
}

func (a *appStreamClient) CreateStack(ctx context.Context, in *appstream.CreateStackInput) (*astypes.Stack, error) {
	out, err := a.c.CreateStack(ctx, in)
	if err != nil {
		return nil, err
	}
	return out.Stack, nil
}

func (a *appStreamClient) UpdateStack(ctx context.Context, in *appstream.UpdateStackInput) (*astypes.Stack, error) {
	out, err := a.c.UpdateStack(ctx, in)
	if err != nil {
		return nil, asNotFound(err)
	}
	return out.Stack, nil
}

func (a *appStreamClient) DeleteStack(ctx context.Context, name string) error {
	_, err := a.c.DeleteStack(ctx, &appstream.DeleteStackInput{Name: &name})
	return asNotFound(err)
}

func (a *appStreamClient) AssociateFleet(ctx context.Context, stack, fleet string) error {
	_, err := a.c.AssociateFleet(ctx, &appstream.AssociateFleetInput{StackName: &stack, FleetName: &fleet})
	return err
}

func (a *appStreamClient) DisassociateFleet(ctx context.Context, stack, fleet string) error {
	_, err := a.c.DisassociateFleet(ctx, &appstream.DisassociateFleetInput{StackName: &stack, FleetName: &fleet})
	return asNotFound(err)
}

func (a *appStreamClient) ListAssociatedFleets(ctx context.Context, stack string) ([]string, error) {
	var names []string
	err := pages(ctx, func(token *string) (*string, error) {
		out, err := a.c.ListAssociatedFleets(ctx, &appstream.ListAssociatedFleetsInput{StackName: &stack, NextToken: token})
		if err != nil {
			return nil, err
		}
		names = append(names, out.Names...)
		return out.NextToken, nil
	})
	if err != nil {
		return nil, asNotFound(err)
	}
	return names, nil
}

func (a *appStreamClient) ListAssociatedStacks(ctx context.Context, fleet string) ([]string, error) {
	var names []string
	err := pages(ctx, func(token *string) (*string, error) {
		out, err := a.c.ListAssociatedStacks(ctx, &appstream.ListAssociatedStacksInput{FleetName: &fleet, NextToken: token})
		if err != nil {
			return nil, err
		}
		names = append(names, out.Names...)
		return out.NextToken, nil
	})
	if err != nil {
		return nil, asNotFound(err)
	}
	return names, nil
}

// validitySeconds rounds d up to whole seconds (nil for d <= 0: the service default).
func validitySeconds(d time.Duration) *int64 {
	if d <= 0 {
		return nil
	}
	s := int64(math.Ceil(d.Seconds()))
	return &s
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (a *appStreamClient) CreateStreamingURL(ctx context.Context, stack, fleet, userID, appID, sessionContext string, validity time.Duration) (string, time.Time, error) {
	out, err := a.c.CreateStreamingURL(ctx, &appstream.CreateStreamingURLInput{
		StackName:      &stack,
		FleetName:      &fleet,
		UserId:         &userID,
		ApplicationId:  optString(appID),
		SessionContext: optString(sessionContext),
		Validity:       validitySeconds(validity),
	}, func(o *appstream.Options) {
		// Not idempotent: a retry after a lost response mints a second URL.
		o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 1)
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return awssdk.ToString(out.StreamingURL), awssdk.ToTime(out.Expires), nil
}

func (a *appStreamClient) DescribeUserSessions(ctx context.Context, stack, fleet, userID string) ([]astypes.Session, error) {
	limit := a.sessionsPageSize
	if limit <= 0 || limit > 50 {
		limit = 50
	}
	var sessions []astypes.Session
	err := pages(ctx, func(token *string) (*string, error) {
		out, err := a.c.DescribeSessions(ctx, &appstream.DescribeSessionsInput{
			StackName: &stack,
			FleetName: &fleet,
			UserId:    optString(userID),
			// Streaming-URL users authenticate as API; with a UserId the
			// authentication type is required.
			AuthenticationType: astypes.AuthenticationTypeApi,
			Limit:              &limit,
			NextToken:          token,
		})
		if err != nil {
			return nil, err
		}
		sessions = append(sessions, out.Sessions...)
		return out.NextToken, nil
	})
	if err != nil {
		return nil, asNotFound(err)
	}
	return sessions, nil
}

func (a *appStreamClient) ExpireSession(ctx context.Context, id string) error {
	_, err := a.c.ExpireSession(ctx, &appstream.ExpireSessionInput{SessionId: &id})
	return asNotFound(err)
}

func (a *appStreamClient) TagResource(ctx context.Context, arn string, tags map[string]string) error {
	if len(tags) == 0 {
		return nil // the API requires 1..50 tags
	}
	_, err := a.c.TagResource(ctx, &appstream.TagResourceInput{ResourceArn: &arn, Tags: tags})
	return asNotFound(err)
}

func (a *appStreamClient) UntagResource(ctx context.Context, arn string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := a.c.UntagResource(ctx, &appstream.UntagResourceInput{ResourceArn: &arn, TagKeys: keys})
	return asNotFound(err)
}

func (a *appStreamClient) ListTagsForResource(ctx context.Context, arn string) (map[string]string, error) {
	out, err := a.c.ListTagsForResource(ctx, &appstream.ListTagsForResourceInput{ResourceArn: &arn})
	if err != nil {
		return nil, asNotFound(err)
	}
	if out.Tags == nil {
		return map[string]string{}, nil
	}
	return out.Tags, nil
}

func (a *appStreamClient) DescribeImage(ctx context.Context, name string) (*astypes.Image, error) {
	p := appstream.NewDescribeImagesPaginator(a.c, &appstream.DescribeImagesInput{Names: []string{name}})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, asNotFound(err)
		}
		for i := range out.Images {
			if awssdk.ToString(out.Images[i].Name) == name {
				return &out.Images[i], nil
			}
		}
	}
	return nil, fmt.Errorf("appstream image %q: %w", name, ErrNotFound)
}
