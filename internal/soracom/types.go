package soracom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
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
	// Only a float within int64 ("1e19", NaN and Inf would convert to an
	// arbitrary value); the others are errors.
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= math.MinInt64 && f < math.MaxInt64 {
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

// IntNumber is an integer field that the definition types as a JSON
// "number" (e.g. VirtualPrivateGateway.gateVxlanId): it decodes 10, 10.0 and
// 1e1, and rejects fractions (10.5), values outside int32, strings and
// other JSON types with an error that names the value. null decodes as 0.
type IntNumber int32

// UnmarshalJSON implements json.Unmarshaler.
func (n *IntNumber) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*n = 0
		return nil
	}
	s := string(b)
	if i, err := strconv.ParseInt(s, 10, 32); err == nil {
		*n = IntNumber(i)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !json.Valid(b) {
		return fmt.Errorf("soracom: %s is not a JSON number", s)
	}
	if f != math.Trunc(f) {
		return fmt.Errorf("soracom: %s is not a whole number", s)
	}
	if f < math.MinInt32 || f > math.MaxInt32 {
		return fmt.Errorf("soracom: %s is out of the int32 range", s)
	}
	*n = IntNumber(int32(f))
	return nil
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
