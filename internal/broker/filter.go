package broker

import (
	"slices"
	"strings"

	"github.com/petrel-mq/petrel/internal/message"
)

// tagFilter matches consume-queue tag codes against a TAG subscription
// (RocketMQ's ExpressionMessageFilter for TAG expressions). Codes are
// recomputed from the tag strings with Java's hash: the Go client computes
// them over UTF-8 bytes, which differs for non-ASCII tags.
type tagFilter struct {
	all   bool
	codes []int64 // sorted
}

// MatchTagsCode implements store.MessageFilter. Messages without tags have
// code 0 and match only "*".
func (f *tagFilter) MatchTagsCode(code int64) bool {
	if f == nil || f.all {
		return true
	}
	_, ok := slices.BinarySearch(f.codes, int64(int32(code)))
	return ok
}

// matchAll is the filter of "*", shared: filters are not changed once made.
var matchAll = &tagFilter{all: true}

// parseTagExpression builds a filter from a TAG expression: "", "*" or
// "TagA || TagB" (RocketMQ's FilterAPI.buildSubscriptionData).
func parseTagExpression(expr string) *tagFilter {
	expr = strings.TrimSpace(expr)
	if expr == "" || expr == "*" {
		return matchAll // every pull of a "*" subscription parses it
	}
	var tags []string
	for _, t := range strings.Split(expr, "||") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	return tagFilterOf(tags)
}

func tagFilterOf(tags []string) *tagFilter {
	f := &tagFilter{}
	for _, t := range tags {
		f.codes = append(f.codes, message.TagsHashCodeString(t))
	}
	slices.Sort(f.codes)
	f.codes = slices.Compact(f.codes)
	if len(f.codes) == 0 {
		f.all = true
	}
	return f
}
