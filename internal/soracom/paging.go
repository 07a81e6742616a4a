package soracom

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxPages stops a listing that never ends (a server bug) instead of looping forever.
const maxPages = 10000

// PageOptions are the paging parameters of a list call.
type PageOptions struct {
	// Limit is the page size asked for (0: the server's default). It only
	// lowers the server's page size; every page is fetched regardless.
	Limit int
	// LastEvaluatedKey starts the listing after this key.
	LastEvaluatedKey string
}

// ListOptions are the filter and paging parameters of the VPG and group lists.
type ListOptions struct {
	// TagName and TagValue filter by tag (tag_value is required with tag_name).
	TagName  string
	TagValue string
	// TagValueMatchMode is "exact" (the server's default) or "prefix".
	TagValueMatchMode string
	PageOptions
}

func (o ListOptions) query() url.Values {
	q := o.PageOptions.query()
	if o.TagName != "" {
		q.Set("tag_name", o.TagName)
		q.Set("tag_value", o.TagValue)
		if o.TagValueMatchMode != "" {
			q.Set("tag_value_match_mode", o.TagValueMatchMode)
		}
	}
	return q
}

func (o PageOptions) query() url.Values {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	return q
}

// listPages fetches every page of a paginated list, calling fn with each
// page until fn returns false or there is no next page. The next page's key
// comes from x-soracom-next-key or, when only that is sent, from the
// last_evaluated_key of the Link rel=next URL.
func listPages[T any](ctx context.Context, c *Client, op, path string, q url.Values, start string, fn func(page []T) bool) error {
	key := start
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		if pages >= maxPages {
			return fmt.Errorf("soracom %s: more than %d pages", op, maxPages)
		}
		pq := url.Values{}
		for k, v := range q {
			pq[k] = v
		}
		if key != "" {
			pq.Set("last_evaluated_key", key)
		}
		var page []T
		header, err := c.do(ctx, &request{op: op, method: http.MethodGet, path: path, query: pq, out: &page, idempotent: true})
		if err != nil {
			return err
		}
		if !fn(page) {
			return nil
		}
		next := NextKey(header)
		if next == "" {
			return nil
		}
		if seen[next] || next == key {
			return fmt.Errorf("soracom %s: pagination repeats key %q", op, next)
		}
		seen[next] = true
		key = next
	}
}

// listAll collects every page.
func listAll[T any](ctx context.Context, c *Client, op, path string, q url.Values, start string) ([]T, error) {
	var all []T
	err := listPages(ctx, c, op, path, q, start, func(page []T) bool {
		all = append(all, page...)
		return true
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// NextKey returns the key of the next page from a list response's headers:
// x-soracom-next-key, else last_evaluated_key from the Link rel=next URL;
// "" on the last page.
func NextKey(h http.Header) string {
	if h == nil {
		return ""
	}
	if k := strings.TrimSpace(h.Get("X-Soracom-Next-Key")); k != "" {
		return k
	}
	for _, v := range h.Values("Link") {
		if k := nextFromLink(v); k != "" {
			return k
		}
	}
	return ""
}

// nextFromLink parses an RFC 8288 Link header value such as
// `</v1/sims?last_evaluated_key=abc>; rel=next`.
func nextFromLink(v string) string {
	for _, link := range strings.Split(v, ",") {
		link = strings.TrimSpace(link)
		lt, gt := strings.Index(link, "<"), strings.Index(link, ">")
		if lt != 0 || gt < 0 {
			continue
		}
		target := link[1:gt]
		isNext := false
		for _, param := range strings.Split(link[gt+1:], ";") {
			name, val, ok := strings.Cut(strings.TrimSpace(param), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
				continue
			}
			for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
				if strings.EqualFold(rel, "next") {
					isNext = true
				}
			}
		}
		if !isNext {
			continue
		}
		u, err := url.Parse(target)
		if err != nil {
			continue
		}
		if k := u.Query().Get("last_evaluated_key"); k != "" {
			return k
		}
	}
	return ""
}
