package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// samples holds every measurement by name ("<name> <unit>" for Go
// benchmark metrics), in the order taken.
type samples map[string][]float64

// readSamples reads run.sh's "name<TAB>value<TAB>unit" lines.
func readSamples(s samples, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "\t")
		if len(parts) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(parts[1], 64)
		if err != nil {
			return fmt.Errorf("%s: %q: %v", path, sc.Text(), err)
		}
		s[parts[0]] = append(s[parts[0]], v)
	}
	return sc.Err()
}

// benchLine matches one result line of go test -bench.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// readGoBench reads go test -bench output: each metric of a line becomes
// a sample named "go/<benchmark without Benchmark and -procs> <unit>".
func readGoBench(s samples, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name := "go/" + strings.TrimPrefix(m[1], "Benchmark")
		fields := strings.Fields(m[2])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			s[name+" "+fields[i+1]] = append(s[name+" "+fields[i+1]], v)
		}
	}
	return sc.Err()
}

// stat is the median of some samples with their range.
type stat struct {
	med, min, max float64
	n             int
}

func (s samples) stat(name string) (stat, bool) {
	return statOf(s[name])
}

func statOf(vs []float64) (stat, bool) {
	if len(vs) == 0 {
		return stat{}, false
	}
	sorted := append([]float64(nil), vs...)
	sort.Float64s(sorted)
	n := len(sorted)
	med := sorted[n/2]
	if n%2 == 0 {
		med = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return stat{med: med, min: sorted[0], max: sorted[n-1], n: n}, true
}

// percentile returns the p-th percentile of vs by the nearest-rank
// method: the smallest sample that at least p % of the samples do not
// exceed (of 200 samples, p99 is the third largest; of fewer than 100,
// the largest).
func percentile(vs []float64, p float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	sorted := append([]float64(nil), vs...)
	sort.Float64s(sorted)
	rank := int(math.Ceil(p * float64(len(sorted)) / 100))
	return sorted[max(rank, 1)-1]
}

// pairedRatios divides the i-th sample of a by the i-th of b: runs of
// different scenarios are interleaved, so run i of each saw the same
// moment of a noisy machine.
func (s samples) pairedRatios(a, b string) (stat, bool) {
	as, bs := s[a], s[b]
	n := min(len(as), len(bs))
	var rs []float64
	for i := range n {
		if bs[i] != 0 {
			rs = append(rs, as[i]/bs[i])
		}
	}
	return statOf(rs)
}

// format renders a stat with a unit formatter: "median (min–max)".
func (st stat) format(f func(float64) string) string {
	if st.n == 1 {
		return f(st.med) + " (1 sample)"
	}
	return fmt.Sprintf("%s (%s–%s)", f(st.med), f(st.min), f(st.max))
}

// Unit formatters.

func fmtNs(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

func fmtMs(v float64) string { return fmtNs(v * 1e6) }

func fmtCount(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func fmtRate(v float64) string { return fmt.Sprintf("%.0f req/s", v) }

func fmtBytes(v float64) string {
	switch {
	case math.Abs(v) >= 1e6:
		return fmt.Sprintf("%.1f MB", v/1e6)
	case math.Abs(v) >= 1e3:
		return fmt.Sprintf("%.1f KB", v/1e3)
	}
	return fmt.Sprintf("%.0f B", v)
}

func fmtRatio(v float64) string { return fmt.Sprintf("%.2f", v) }
