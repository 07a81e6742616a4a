package soracom

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// UnixMillis is a SORACOM timestamp (milliseconds since the epoch). It
// decodes leniently from a JSON number, a numeric string or null.
type UnixMillis int64

// UnmarshalJSON accepts 123, 123.0, "123" and null.
func (m *UnixMillis) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		*m = 0
		return nil
	}
	s := strings.Trim(string(b), `"`)
	if s == "" {
		*m = 0
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*m = UnixMillis(n)
		return nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		*m = UnixMillis(int64(f))
		return nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		*m = UnixMillis(t.UnixMilli())
		return nil
	}
	return fmt.Errorf("soracom: cannot decode timestamp %s", string(b))
}

// Time converts to time.Time (zero for 0).
func (m UnixMillis) Time() time.Time {
	if m == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(m))
}

// Tag is one entry of a tag update body.
type Tag struct {
	TagName  string `json:"tagName"`
	TagValue string `json:"tagValue"`
}

// tagList turns a map into a tag update body, sorted by name.
func tagList(tags map[string]string) []Tag {
	out := make([]Tag, 0, len(tags))
	for k, v := range tags {
		out = append(out, Tag{TagName: k, TagValue: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TagName < out[j].TagName })
	return out
}

// KeyValue is one entry of a group configuration update.
type KeyValue struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}
