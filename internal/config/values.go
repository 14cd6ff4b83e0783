package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// value is one typed setting bound to a field of a configuration struct.
type value interface {
	// set parses s (already trimmed) into the field. A non-empty note is a
	// warning about an accepted value (a clamp); an error's text says what
	// the key accepts, phrased to follow "is not".
	set(s string) (note string, err error)
	// String renders the field in the key's file syntax and unit.
	String() string
}

// Java's int range; most RocketMQ keys are Java ints.
const (
	maxJavaInt = math.MaxInt32
	// maxDelay bounds timerMaxDelaySec and each messageDelayLevel: one year,
	// leap day included, far from any overflow of epoch milliseconds.
	maxDelay = 366 * 24 * time.Hour
)

// numberRange is an accepted range plus an optional clamp range inside it:
// values in [min, max] are accepted; when hi > 0, accepted values outside
// [lo, hi] are moved into it with a note, as RocketMQ's getters do.
type numberRange struct {
	min, max int64
	lo, hi   int64
	unit     string // "milliseconds", "percent"...; "" for a plain integer
	step     int64  // when > 1, round up to a multiple of step with a note
}

// parse reads a Java-style decimal integer (optional sign, ASCII digits) and
// applies the range, clamp and step.
func (r numberRange) parse(s string) (int64, string, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < r.min || n > r.max {
		return 0, "", errors.New(r.want())
	}
	switch {
	case r.hi > 0 && n < r.lo:
		return r.lo, fmt.Sprintf("%d raised to %d (RocketMQ keeps it within %d..%d)", n, r.lo, r.lo, r.hi), nil
	case r.hi > 0 && n > r.hi:
		return r.hi, fmt.Sprintf("%d lowered to %d (RocketMQ keeps it within %d..%d)", n, r.hi, r.lo, r.hi), nil
	case r.step > 1 && n%r.step != 0:
		up := (n/r.step + 1) * r.step
		if up > r.max {
			return 0, "", errors.New(r.want())
		}
		return up, fmt.Sprintf("%d rounded up to %d, a multiple of %d", n, up, r.step), nil
	}
	return n, "", nil
}

func (r numberRange) want() string {
	if r.unit == "" {
		return fmt.Sprintf("an integer from %d to %d", r.min, r.max)
	}
	return fmt.Sprintf("a whole number of %s from %d to %d", r.unit, r.min, r.max)
}

// integer is the Go types RocketMQ's int and long keys map to.
type integer interface{ ~int | ~int64 }

// intValue binds an int or int64 field.
type intValue[T integer] struct {
	p *T
	numberRange
}

func (v intValue[T]) set(s string) (string, error) {
	n, note, err := v.parse(s)
	if err != nil {
		return "", err
	}
	*v.p = T(n)
	return note, nil
}

func (v intValue[T]) String() string { return strconv.FormatInt(int64(*v.p), 10) }

// durationValue binds a time.Duration field written as a whole number of
// unit (RocketMQ's milliseconds, seconds or hours).
type durationValue struct {
	p    *time.Duration
	unit time.Duration
	numberRange
}

func (v durationValue) set(s string) (string, error) {
	n, note, err := v.parse(s)
	if err != nil {
		return "", err
	}
	*v.p = time.Duration(n) * v.unit
	return note, nil
}

func (v durationValue) String() string { return strconv.FormatInt(int64(*v.p/v.unit), 10) }

// durationRange builds the numberRange of a duration key, capping max so
// that max*unit fits in a time.Duration.
func durationRange(unit time.Duration, unitName string, min, max int64) numberRange {
	if limit := int64(math.MaxInt64 / unit); max > limit {
		max = limit
	}
	return numberRange{min: min, max: max, unit: unitName}
}

// boolValue binds a bool field: "true" or "false" in any letter case.
type boolValue struct{ p *bool }

func (v boolValue) set(s string) (string, error) {
	switch {
	case strings.EqualFold(s, "true"):
		*v.p = true
	case strings.EqualFold(s, "false"):
		*v.p = false
	default:
		return "", errors.New("a boolean (true or false)")
	}
	return "", nil
}

func (v boolValue) String() string { return strconv.FormatBool(*v.p) }

// stringValue binds a string field; check, when set, returns the "is not"
// phrase for a value it refuses.
type stringValue struct {
	p     *string
	check func(string) string
}

func (v stringValue) set(s string) (string, error) {
	if v.check != nil {
		if want := v.check(s); want != "" {
			return "", errors.New(want)
		}
	}
	*v.p = s
	return "", nil
}

func (v stringValue) String() string { return *v.p }

// enumValue binds a field of a string enumeration; the match is exact, as
// with Java's Enum.valueOf.
type enumValue[T ~string] struct {
	p       *T
	allowed []T
}

func (v enumValue[T]) set(s string) (string, error) {
	for _, a := range v.allowed {
		if string(a) == s {
			*v.p = a
			return "", nil
		}
	}
	names := make([]string, len(v.allowed))
	for i, a := range v.allowed {
		names[i] = string(a)
	}
	return "", errors.New("one of " + strings.Join(names, ", "))
}

func (v enumValue[T]) String() string { return string(*v.p) }

// hoursValue binds deleteWhen: hours of the day separated by ';'.
type hoursValue struct{ p *[]int }

func (v hoursValue) set(s string) (string, error) {
	hours, err := parseHours(s)
	if err != nil {
		return "", err
	}
	*v.p = hours
	return "", nil
}

func (v hoursValue) String() string { return formatHours(*v.p) }

func parseHours(s string) ([]int, error) {
	var hours []int
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue // "04;" is accepted, as by Java's split
		}
		h, err := strconv.ParseInt(part, 10, 64)
		if err != nil || h < 0 || h > 23 {
			return nil, errors.New(`a list of hours 0..23 separated by ';' (e.g. "04" or "04;16")`)
		}
		hours = append(hours, int(h))
	}
	if len(hours) == 0 {
		return nil, errors.New(`a list of hours 0..23 separated by ';' (e.g. "04" or "04;16")`)
	}
	return hours, nil
}

func formatHours(hours []int) string {
	parts := make([]string, len(hours))
	for i, h := range hours {
		parts[i] = fmt.Sprintf("%02d", h)
	}
	return strings.Join(parts, ";")
}

// addrListValue binds namesrvAddr: host:port entries separated by ';'.
type addrListValue struct{ p *[]string }

func (v addrListValue) set(s string) (string, error) {
	addrs, detail := splitNamesrvAddr(s)
	if detail != "" {
		return "", errors.New("a ';'-separated list of name server host:port addresses: " + detail)
	}
	*v.p = addrs
	return "", nil
}

func (v addrListValue) String() string { return strings.Join(*v.p, ";") }

// ParseNamesrvAddr splits a RocketMQ name server list ("h1:9876;h2:9876")
// into its addresses. Blanks around entries and empty entries are dropped;
// an empty list is valid. Every entry must be host:port with a port in
// 1..65535.
func ParseNamesrvAddr(s string) ([]string, error) {
	addrs, detail := splitNamesrvAddr(s)
	if detail != "" {
		return nil, fmt.Errorf("namesrvAddr: %s: %w", detail, ErrInvalidValue)
	}
	return addrs, nil
}

func splitNamesrvAddr(s string) ([]string, string) {
	var addrs []string
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if detail := checkHostPort(part); detail != "" {
			return nil, fmt.Sprintf("%q %s", part, detail)
		}
		addrs = append(addrs, part)
	}
	return addrs, ""
}

// checkHostPort accepts "host:port" with a valid host and a port 1..65535;
// otherwise it says what is wrong.
func checkHostPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "is not host:port"
	}
	if !validHost(host) {
		return "has a bad host"
	}
	if p, err := strconv.ParseInt(port, 10, 64); err != nil || p < 1 || p > 65535 {
		return "has a port outside 1..65535"
	}
	return ""
}

// validHost accepts an IP address or a DNS-style host name (letters, digits,
// '-', '_' and '.', at most 253 bytes).
func validHost(h string) bool {
	if h == "" {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	if len(h) > 253 || strings.HasPrefix(h, ".") || strings.Contains(h, "..") {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// checkOptionalHost is a stringValue check for brokerIP1 and bindAddress:
// empty (chosen automatically) or a host without a port.
func checkOptionalHost(s string) string {
	if s == "" || validHost(s) {
		return ""
	}
	return "an IP address or host name without a port"
}

// delayLevelsValue binds messageDelayLevel.
type delayLevelsValue struct{ p *[]time.Duration }

func (v delayLevelsValue) set(s string) (string, error) {
	levels, detail := parseDelayLevels(s)
	if detail != "" {
		return "", errors.New(`a list of delays like "1s 5s 1m 2h" (whole numbers from 1 with unit s, m, h or d, each at most 366d): ` + detail)
	}
	*v.p = levels
	return "", nil
}

func (v delayLevelsValue) String() string { return FormatDelayLevels(*v.p) }

var delayUnits = map[byte]time.Duration{
	's': time.Second,
	'm': time.Minute,
	'h': time.Hour,
	'd': 24 * time.Hour,
}

// ParseDelayLevels parses RocketMQ's messageDelayLevel: delays separated by
// blanks, each a whole number followed by s, m, h or d ("1s 5s 10s 30s 1m
// ... 2h"). Level n (1-based) is element n-1. The list must not be empty and
// every delay must be positive and at most 366 days.
func ParseDelayLevels(s string) ([]time.Duration, error) {
	levels, detail := parseDelayLevels(s)
	if detail != "" {
		return nil, fmt.Errorf("messageDelayLevel: %s: %w", detail, ErrInvalidValue)
	}
	return levels, nil
}

func parseDelayLevels(s string) ([]time.Duration, string) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil, "no levels"
	}
	levels := make([]time.Duration, 0, len(fields))
	for i, f := range fields {
		unit, ok := delayUnits[f[len(f)-1]]
		if !ok {
			return nil, fmt.Sprintf("level %d %q does not end in s, m, h or d", i+1, f)
		}
		n, err := strconv.ParseInt(f[:len(f)-1], 10, 64)
		if err != nil {
			return nil, fmt.Sprintf("level %d %q does not start with a whole number", i+1, f)
		}
		if n < 1 || n > int64(maxDelay/unit) {
			return nil, fmt.Sprintf("level %d %q is not between 1s and 366d", i+1, f)
		}
		levels = append(levels, time.Duration(n)*unit)
	}
	return levels, ""
}

// FormatDelayLevels renders delay levels in messageDelayLevel syntax, each
// in the largest unit that divides it exactly (sub-second remainders are
// truncated to whole seconds).
func FormatDelayLevels(levels []time.Duration) string {
	parts := make([]string, len(levels))
	for i, d := range levels {
		switch {
		case d >= 24*time.Hour && d%(24*time.Hour) == 0:
			parts[i] = strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
		case d >= time.Hour && d%time.Hour == 0:
			parts[i] = strconv.FormatInt(int64(d/time.Hour), 10) + "h"
		case d >= time.Minute && d%time.Minute == 0:
			parts[i] = strconv.FormatInt(int64(d/time.Minute), 10) + "m"
		default:
			parts[i] = strconv.FormatInt(int64(d/time.Second), 10) + "s"
		}
	}
	return strings.Join(parts, " ")
}

// ignoredValue accepts any value of a key petrel has no use for (a Java
// thread-pool size, a lock choice) so RocketMQ files load without noise.
type ignoredValue struct{}

func (ignoredValue) set(string) (string, error) { return "", nil }
func (ignoredValue) String() string             { return "" }
