package soracom

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// pagedSims serves n SIMs "sim00".. in pages of at most size (and at most
// the request's limit), announcing the next page the way mode says:
// "key" (x-soracom-next-key only), "link" (Link rel=next only) or "both".
func pagedSims(n, size int, mode string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		limit := size
		if l, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && l > 0 && l < limit {
			limit = l
		}
		start := 0
		if k := r.URL.Query().Get("last_evaluated_key"); k != "" {
			i, err := strconv.Atoi(strings.TrimPrefix(k, "sim"))
			if err != nil {
				writeErr(w, http.StatusBadRequest, "BAD", "bad key")
				return
			}
			start = i + 1
		}
		var page []map[string]any
		for i := start; i < n && len(page) < limit; i++ {
			page = append(page, map[string]any{"simId": fmt.Sprintf("sim%02d", i), "status": "active"})
		}
		if end := start + len(page); end < n {
			last := fmt.Sprintf("sim%02d", end-1)
			if mode == "key" || mode == "both" {
				w.Header().Set("X-Soracom-Next-Key", last)
			}
			if mode == "link" || mode == "both" {
				w.Header().Set("Link", fmt.Sprintf(`<%s?last_evaluated_key=%s&limit=%d>; rel=next`, r.URL.Path, url.QueryEscape(last), limit))
			}
		}
		if page == nil {
			page = []map[string]any{}
		}
		writeJSON(w, http.StatusOK, page)
	}
}

func TestPagination(t *testing.T) {
	for _, mode := range []string{"key", "link", "both"} {
		t.Run(mode, func(t *testing.T) {
			f := newFakeAPI(t)
			f.handle("GET /v1/sims", pagedSims(7, 100, mode))
			f.handle("GET /v1/groups/g1/subscribers", pagedSims(5, 2, mode))
			c, _ := newTestClient(t, f, nil)
			ctx := testCtx(t)

			sims, err := c.ListSims(ctx, PageOptions{Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			if len(sims) != 7 || sims[0].SimID != "sim00" || sims[6].SimID != "sim06" {
				t.Fatalf("sims = %+v", sims)
			}
			if n := f.calls("GET /v1/sims"); n != 3 {
				t.Fatalf("list calls = %d, want 3", n)
			}
			for _, l := range f.logged() {
				if strings.HasPrefix(l, "GET /v1/sims?") && !strings.Contains(l, "limit=3") {
					t.Errorf("request without limit: %s", l)
				}
			}

			// Server page size smaller than nothing asked: follows all pages.
			subs, err := c.ListSubscribersInGroup(ctx, "g1", PageOptions{})
			if err != nil || len(subs) != 5 || f.calls("GET /v1/groups/g1/subscribers") != 3 {
				t.Fatalf("subs=%d err=%v calls=%d", len(subs), err, f.calls("GET /v1/groups/g1/subscribers"))
			}

			// Page callback, stopping after the second page.
			var pages [][]string
			err = c.ListSimsPages(ctx, PageOptions{Limit: 2}, func(p []SIM) bool {
				var ids []string
				for _, s := range p {
					ids = append(ids, s.SimID)
				}
				pages = append(pages, ids)
				return len(pages) < 2
			})
			if err != nil || fmt.Sprint(pages) != "[[sim00 sim01] [sim02 sim03]]" {
				t.Fatalf("pages = %v, err = %v", pages, err)
			}
			if n := f.calls("GET /v1/sims"); n != 5 {
				t.Fatalf("list calls = %d, want 5", n)
			}

			// Starting from a key.
			rest, err := c.ListSims(ctx, PageOptions{LastEvaluatedKey: "sim04"})
			if err != nil || len(rest) != 2 || rest[0].SimID != "sim05" {
				t.Fatalf("rest = %+v, err = %v", rest, err)
			}
		})
	}
}

func TestPaginationWithTagFilter(t *testing.T) {
	f := newFakeAPI(t)
	f.handle("GET /v1/virtual_private_gateways", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("tag_name") != "gatestream.io/uid" || q.Get("tag_value") != "u-1" || q.Get("tag_value_match_mode") != "exact" {
			writeErr(w, http.StatusBadRequest, "BAD", "query "+r.URL.RawQuery)
			return
		}
		if q.Get("last_evaluated_key") == "" {
			w.Header().Set("X-Soracom-Next-Key", "vpg-1")
			writeJSON(w, http.StatusOK, []map[string]any{{"vpgId": "vpg-1", "type": 15, "status": "running"}})
			return
		}
		writeJSON(w, http.StatusOK, []map[string]any{{"vpgId": "vpg-2", "type": 15, "status": "creating"}})
	})
	c, _ := newTestClient(t, f, nil)
	vpgs, err := c.ListVirtualPrivateGateways(testCtx(t), ListOptions{TagName: "gatestream.io/uid", TagValue: "u-1", TagValueMatchMode: "exact"})
	if err != nil || len(vpgs) != 2 || vpgs[1].VPGID != "vpg-2" || vpgs[1].Status != VPGStatusCreating {
		t.Fatalf("vpgs = %+v, err = %v", vpgs, err)
	}
}

func TestPaginationLoopDetected(t *testing.T) {
	f := newFakeAPI(t)
	f.handle("GET /v1/groups", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Soracom-Next-Key", "same")
		writeJSON(w, http.StatusOK, []map[string]any{{"groupId": "g"}})
	})
	c, _ := newTestClient(t, f, nil)
	if _, err := c.ListGroups(testCtx(t), ListOptions{}); err == nil || !strings.Contains(err.Error(), "repeats") {
		t.Fatalf("err = %v", err)
	}
}

func TestNextKey(t *testing.T) {
	for _, tc := range []struct {
		h    http.Header
		want string
	}{
		{http.Header{}, ""},
		{http.Header{"X-Soracom-Next-Key": {"abc"}}, "abc"},
		{http.Header{"Link": {`</v1/sims?last_evaluated_key=k%2F1>; rel=next`}}, "k/1"},
		{http.Header{"Link": {`</v1/sims?limit=2&last_evaluated_key=k2>; rel="next"`}}, "k2"},
		{http.Header{"Link": {`</v1/sims?last_evaluated_key=p>; rel=prev, </v1/sims?last_evaluated_key=n>; rel=next`}}, "n"},
		{http.Header{"Link": {`<https://api.soracom.io/v1/sims?last_evaluated_key=full>;rel=next`}}, "full"},
		{http.Header{"Link": {`</v1/sims?last_evaluated_key=p>; rel=prev`}}, ""},
		{http.Header{"X-Soracom-Next-Key": {"hdr"}, "Link": {`</v1/sims?last_evaluated_key=lnk>; rel=next`}}, "hdr"},
	} {
		if got := NextKey(tc.h); got != tc.want {
			t.Errorf("NextKey(%v) = %q, want %q", tc.h, got, tc.want)
		}
	}
}
