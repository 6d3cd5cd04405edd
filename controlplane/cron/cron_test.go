package cron

import (
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"", "empty spec string"},
		{"* * *", "expected exactly 5 fields, found 3: [* * *]"},
		{"* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"},
		{"60 * * * *", "end of range (60) above maximum (59): 60"},
		{"* 24 * * *", "end of range (24) above maximum (23): 24"},
		{"* * 0 * *", "beginning of range (0) below minimum (1): 0"},
		{"* * * 13 *", "end of range (13) above maximum (12): 13"},
		{"* * * * 7", "end of range (7) above maximum (6): 7"},
		{"5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"},
		{"1-2-3 * * * *", "too many hyphens: 1-2-3"},
		{"*/2/3 * * * *", "too many slashes: */2/3"},
		{"*/0 * * * *", "step of range should be a positive number: */0"},
		{"x * * * *", `failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax`},
		{"-1 * * * *", `failed to parse int from : strconv.Atoi: parsing "": invalid syntax`},
		{"@fortnightly", "unrecognized descriptor: @fortnightly"},
		{"@every 1 hour", `failed to parse duration @every 1 hour: time: unknown unit " hour" in duration "1 hour"`},
		{"TZ=Mars/Olympus * * * * *", "provided bad location Mars/Olympus: unknown time zone Mars/Olympus"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.spec)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q) error %v, want %q", tt.spec, err, tt.want)
		}
	}
}

func TestNext(t *testing.T) {
	// A Wednesday.
	from := time.Date(2025, time.January, 15, 10, 7, 30, 0, time.UTC)
	tests := []struct {
		spec string
		want time.Time
	}{
		{"* * * * *", time.Date(2025, 1, 15, 10, 8, 0, 0, time.UTC)},
		{"*/5 * * * *", time.Date(2025, 1, 15, 10, 10, 0, 0, time.UTC)},
		{"0 * * * *", time.Date(2025, 1, 15, 11, 0, 0, 0, time.UTC)},
		{"30 9 * * *", time.Date(2025, 1, 16, 9, 30, 0, 0, time.UTC)},
		{"0 9 * * mon-fri", time.Date(2025, 1, 16, 9, 0, 0, 0, time.UTC)},
		{"0 0 * * SUN", time.Date(2025, 1, 19, 0, 0, 0, 0, time.UTC)},
		{"0 0 1 * *", time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"0 0 29 2 *", time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)},
		// Both day fields restricted: either matches (the 20th, or the next Friday).
		{"0 0 20 * 5", time.Date(2025, 1, 17, 0, 0, 0, 0, time.UTC)},
		{"15,45 8-9 ? JAN,feb ?", time.Date(2025, 1, 16, 8, 15, 0, 0, time.UTC)},
		{"@hourly", time.Date(2025, 1, 15, 11, 0, 0, 0, time.UTC)},
		{"@daily", time.Date(2025, 1, 16, 0, 0, 0, 0, time.UTC)},
		{"@weekly", time.Date(2025, 1, 19, 0, 0, 0, 0, time.UTC)},
		{"@monthly", time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"@yearly", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"@every 90s", time.Date(2025, 1, 15, 10, 9, 0, 0, time.UTC)},
		{"0 0 30 2 *", time.Time{}},
		{"TZ=Asia/Tokyo 0 9 * * *", time.Date(2025, 1, 16, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		s, err := Parse(tt.spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.spec, err)
			continue
		}
		if got := s.Next(from); !got.Equal(tt.want) {
			t.Errorf("%q: next after %v is %v, want %v", tt.spec, from, got, tt.want)
		}
	}
}

func TestNextAcrossDaylightSaving(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("30 2 * * *")
	if err != nil {
		t.Fatal(err)
	}
	// 02:30 does not exist on 2025-03-30 in Paris: the next run is the day after.
	from := time.Date(2025, 3, 29, 12, 0, 0, 0, paris)
	if got, want := s.Next(from), time.Date(2025, 3, 31, 2, 30, 0, 0, paris); !got.Equal(want) {
		t.Errorf("next after %v is %v, want %v", from, got, want)
	}
}
