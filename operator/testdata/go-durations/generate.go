// Writes cases.tsv: Go's own time.ParseDuration and Duration.String answers, the oracle of
// operator/src/config/duration.rs's tests. Deterministic (fixed seed); regenerate with
//
//	cd operator/testdata/go-durations && go run generate.go > cases.tsv
package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Texts at the edges: special cases, overflow boundaries, fraction precision.
var edges = []string{
	"", "0", "+0", "-0", "00", "0s", "-0s", ".", ".s", "s", "-", "+", "1", "1.", ".5", "5.s",
	".5s", "1.5h", "2h45m", "90s", "1m30s", "500ms", "1us", "1µs", "1μs", "1ns", "1d", "1H",
	"1sec", "1h-", "1h 2m", " 1s", "1s ", "1..5s", "1.2.3s", "-1.5h", "+5s", "5m3",
	"9223372036854775807ns", "9223372036854775808ns", "-9223372036854775808ns",
	"-9223372036854775809ns", "9223372036854775807", "2562047h47m16.854775807s",
	"2562047h47m16.854775808s", "2562047h", "2562048h", "-2562047h47m16.854775808s",
	"0.000000001s", "0.0000000001s", "0.9999999999s", "1.0000000000000000000000001s",
	"0.3333333333333333333333h", "100000000000000000000ns", "18446744073709551616ns",
	"1.9999999999999999999999999999h", "3.14159265358979323846264338327950288h",
	"1h1h1h", "1s1", "1s.5s", "1.s.5s", "12345678901234567890.5s", "0.5000000000000000001h",
}

var units = []string{"ns", "us", "µs", "μs", "ms", "s", "m", "h", "", "d", "S", "x", "mss", "µ"}

func digits(r *rand.Rand, max int) string {
	n := r.IntN(max + 1)
	var b strings.Builder
	for range n {
		b.WriteByte(byte('0' + r.IntN(10)))
	}
	return b.String()
}

// A text from Go's grammar [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+, sometimes broken.
func random(r *rand.Rand) string {
	var b strings.Builder
	switch r.IntN(8) {
	case 0:
		b.WriteByte('-')
	case 1:
		b.WriteByte('+')
	}
	for range 1 + r.IntN(4) {
		long := 4
		if r.IntN(6) == 0 {
			long = 22
		}
		b.WriteString(digits(r, long))
		if r.IntN(3) == 0 {
			b.WriteByte('.')
			b.WriteString(digits(r, long))
		}
		b.WriteString(units[r.IntN(len(units))])
	}
	if r.IntN(20) == 0 {
		b.WriteString(string(" \t.-x9"[r.IntN(6)]))
	}
	return b.String()
}

func escaped(s string) string {
	j, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(j[1 : len(j)-1])
}

func main() {
	r := rand.New(rand.NewPCG(14, 2))
	inputs := append([]string{}, edges...)
	for range 3000 {
		inputs = append(inputs, random(r))
	}
	for _, in := range inputs {
		d, err := time.ParseDuration(in)
		answer := fmt.Sprint(int64(d))
		if err != nil {
			switch msg := err.Error(); {
			case strings.HasPrefix(msg, "time: missing unit"):
				answer = "missing-unit"
			case strings.HasPrefix(msg, "time: unknown unit"):
				answer = "unknown-unit"
			case strings.HasPrefix(msg, "time: invalid duration"):
				answer = "invalid"
			default:
				panic(msg)
			}
		}
		fmt.Printf("parse\t%s\t%s\n", escaped(in), answer)
	}
	formats := []int64{0, 1, 999, 1000, 1001, 1500, 999999, 1000000, 1000001, 999999999,
		1000000000, 1000000001, 59999999999, 60000000000, 3599999999999, 3600000000000,
		1<<63 - 1}
	for range 600 {
		// Every magnitude, from nanoseconds to centuries.
		formats = append(formats, r.Int64N(int64(1)<<r.IntN(63)+1))
	}
	for _, n := range formats {
		fmt.Printf("format\t%d\t%s\n", n, time.Duration(n).String())
	}
}
