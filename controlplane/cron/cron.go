// Package cron parses CronJob schedules and computes when they next fire.
//
// It accepts what kube-apiserver v1.32 accepts (the standard five-field syntax of
// robfig/cron's ParseStandard, with month and weekday names, ranges, lists, steps, "?",
// the @yearly/@monthly/@weekly/@daily/@hourly descriptors and "@every <duration>"),
// and its errors read as that parser's do, since kube-apiserver shows them to users:
//
//	spec.schedule: Invalid value: "* * *": expected exactly 5 fields, found 3: [* * *]
package cron

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	// A control-plane node is a scratch image: time zones come with the binary.
	_ "time/tzdata"
)

// Schedule is a parsed schedule.
type Schedule struct {
	// Bit i of each field is set when value i matches. starBit marks a day field
	// written as * or ?, which changes how day-of-month and day-of-week combine.
	minute, hour, dom, month, dow uint64
	// every is set for "@every <duration>" schedules, which ignore the fields.
	every time.Duration
	// location is the time zone a TZ= or CRON_TZ= prefix named; nil means the
	// caller's.
	location *time.Location
}

const starBit = 1 << 63

type bounds struct {
	min, max uint
	names    map[string]uint
}

var (
	minutes = bounds{0, 59, nil}
	hours   = bounds{0, 23, nil}
	doms    = bounds{1, 31, nil}
	months  = bounds{1, 12, map[string]uint{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	}}
	dows = bounds{0, 6, map[string]uint{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
	}}
)

// Parse reads a five-field schedule or a descriptor.
func Parse(spec string) (*Schedule, error) {
	if spec == "" {
		return nil, fmt.Errorf("empty spec string")
	}
	var loc *time.Location
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		i := strings.Index(spec, " ")
		if i == -1 {
			return nil, fmt.Errorf("invalid timezone specification: %s", spec)
		}
		eq := strings.Index(spec, "=")
		var err error
		if loc, err = time.LoadLocation(spec[eq+1 : i]); err != nil {
			return nil, fmt.Errorf("provided bad location %s: %v", spec[eq+1:i], err)
		}
		spec = strings.TrimSpace(spec[i:])
	}
	if strings.HasPrefix(spec, "@") {
		s, err := parseDescriptor(spec)
		if err != nil {
			return nil, err
		}
		s.location = loc
		return s, nil
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return nil, fmt.Errorf("expected exactly 5 fields, found %d: %s", len(fields), fields)
	}
	s := &Schedule{location: loc}
	var err error
	for _, f := range []struct {
		bits *uint64
		text string
		b    bounds
	}{
		{&s.minute, fields[0], minutes}, {&s.hour, fields[1], hours}, {&s.dom, fields[2], doms},
		{&s.month, fields[3], months}, {&s.dow, fields[4], dows},
	} {
		if *f.bits, err = parseField(f.text, f.b); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func parseDescriptor(spec string) (*Schedule, error) {
	all := func(b bounds) uint64 { return bits(b.min, b.max, 1) | starBit }
	switch spec {
	case "@yearly", "@annually":
		return &Schedule{minute: 1, hour: 1, dom: 1 << 1, month: 1 << 1, dow: all(dows)}, nil
	case "@monthly":
		return &Schedule{minute: 1, hour: 1, dom: 1 << 1, month: all(months), dow: all(dows)}, nil
	case "@weekly":
		return &Schedule{minute: 1, hour: 1, dom: all(doms), month: all(months), dow: 1}, nil
	case "@daily", "@midnight":
		return &Schedule{minute: 1, hour: 1, dom: all(doms), month: all(months), dow: all(dows)}, nil
	case "@hourly":
		return &Schedule{minute: 1, hour: all(hours), dom: all(doms), month: all(months), dow: all(dows)}, nil
	}
	const every = "@every "
	if strings.HasPrefix(spec, every) {
		d, err := time.ParseDuration(spec[len(every):])
		if err != nil {
			return nil, fmt.Errorf("failed to parse duration %s: %s", spec, err)
		}
		// Sub-second periods round up to a second, and others down to whole seconds.
		if d < time.Second {
			d = time.Second
		}
		return &Schedule{every: d - time.Duration(d.Nanoseconds())%time.Second}, nil
	}
	return nil, fmt.Errorf("unrecognized descriptor: %s", spec)
}

// parseField reads a comma-separated list of ranges.
func parseField(field string, b bounds) (uint64, error) {
	var out uint64
	for _, expr := range strings.FieldsFunc(field, func(r rune) bool { return r == ',' }) {
		r, err := parseRange(expr, b)
		if err != nil {
			return 0, err
		}
		out |= r
	}
	return out, nil
}

// parseRange reads one of: *, ?, N, N-M, each optionally followed by /step.
func parseRange(expr string, b bounds) (uint64, error) {
	rangeAndStep := strings.Split(expr, "/")
	lowAndHigh := strings.Split(rangeAndStep[0], "-")
	var start, end, step uint
	var extra uint64
	var err error
	if lowAndHigh[0] == "*" || lowAndHigh[0] == "?" {
		start, end, extra = b.min, b.max, starBit
	} else {
		if start, err = parseIntOrName(lowAndHigh[0], b.names); err != nil {
			return 0, err
		}
		switch len(lowAndHigh) {
		case 1:
			end = start
		case 2:
			if end, err = parseIntOrName(lowAndHigh[1], b.names); err != nil {
				return 0, err
			}
		default:
			return 0, fmt.Errorf("too many hyphens: %s", expr)
		}
	}
	switch len(rangeAndStep) {
	case 1:
		step = 1
	case 2:
		if step, err = parseUint(rangeAndStep[1]); err != nil {
			return 0, err
		}
		// "N/step" means from N to the end.
		if len(lowAndHigh) == 1 {
			end = b.max
		}
		if step > 1 {
			extra = 0
		}
	default:
		return 0, fmt.Errorf("too many slashes: %s", expr)
	}
	switch {
	case start < b.min:
		return 0, fmt.Errorf("beginning of range (%d) below minimum (%d): %s", start, b.min, expr)
	case end > b.max:
		return 0, fmt.Errorf("end of range (%d) above maximum (%d): %s", end, b.max, expr)
	case start > end:
		return 0, fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", start, end, expr)
	case step == 0:
		return 0, fmt.Errorf("step of range should be a positive number: %s", expr)
	}
	return bits(start, end, step) | extra, nil
}

func parseIntOrName(expr string, names map[string]uint) (uint, error) {
	if n, ok := names[strings.ToLower(expr)]; ok {
		return n, nil
	}
	return parseUint(expr)
}

func parseUint(expr string) (uint, error) {
	n, err := strconv.Atoi(expr)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %s", expr, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative number (%d) not allowed: %s", n, expr)
	}
	return uint(n), nil
}

func bits(min, max, step uint) uint64 {
	var out uint64
	for i := min; i <= max; i += step {
		out |= 1 << i
	}
	return out
}

// searchYears bounds the search for a schedule that can never fire (February 30th).
const searchYears = 5

// Next returns the first time after t the schedule fires, in t's location unless the
// schedule named its own; the zero time if it never does (February 30th). Wall-clock
// times a daylight-saving change skips do not fire.
func (s *Schedule) Next(t time.Time) time.Time {
	if s.every > 0 {
		return t.Truncate(time.Second).Add(s.every)
	}
	orig := t
	if s.location != nil {
		t = t.In(s.location)
	}
	loc := t.Location()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	last := day.AddDate(searchYears, 0, 0)
	for ; !day.After(last); day = day.AddDate(0, 0, 1) {
		if 1<<uint(day.Month())&s.month == 0 || !s.dayMatches(day) {
			continue
		}
		for h := 0; h < 24; h++ {
			if 1<<uint(h)&s.hour == 0 {
				continue
			}
			for m := 0; m < 60; m++ {
				if 1<<uint(m)&s.minute == 0 {
					continue
				}
				at := time.Date(day.Year(), day.Month(), day.Day(), h, m, 0, 0, loc)
				if at.After(t) && at.Hour() == h && at.Minute() == m {
					return at.In(orig.Location())
				}
			}
		}
	}
	return time.Time{}
}

// dayMatches: when both day fields are restricted, either may match (cron's rule);
// when one is *, only the other counts.
func (s *Schedule) dayMatches(t time.Time) bool {
	domMatch := 1<<uint(t.Day())&s.dom > 0
	dowMatch := 1<<uint(t.Weekday())&s.dow > 0
	if s.dom&starBit > 0 || s.dow&starBit > 0 {
		return domMatch && dowMatch
	}
	return domMatch || dowMatch
}
