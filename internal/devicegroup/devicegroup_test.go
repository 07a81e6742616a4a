package devicegroup_test

import (
	"testing"

	"github.com/gatestream/gatestream/internal/devicegroup"
)

func TestMatchesTags(t *testing.T) {
	tags := map[string]string{"site": "osaka", "line": "a"}
	if !devicegroup.MatchesTags(tags, map[string]string{"site": "osaka"}) {
		t.Fatal("subset should match")
	}
	if devicegroup.MatchesTags(tags, map[string]string{"site": "osaka", "line": "b"}) {
		t.Fatal("all tags must match")
	}
	if devicegroup.MatchesTags(tags, nil) {
		t.Fatal("an empty selector selects nothing")
	}
}
