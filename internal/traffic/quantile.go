package traffic

// Quantile estimates the q-quantile (0 < q < 1) of the durations counted
// in buckets (per bucket, not cumulative; the last is +Inf) with upper
// bounds: it finds the bucket holding the q-th request and interpolates
// linearly within it, from 0 for the first bucket, as Prometheus'
// histogram_quantile does. A quantile in the +Inf bucket is the highest
// bound. It returns 0 when nothing was counted.
func Quantile(q float64, bounds []float64, buckets []uint64) float64 {
	var total uint64
	for _, n := range buckets {
		total += n
	}
	if total == 0 || len(bounds) == 0 {
		return 0
	}
	rank := q * float64(total)
	var below uint64
	for i, n := range buckets {
		if n == 0 || float64(below+n) < rank {
			below += n
			continue
		}
		if i >= len(bounds) {
			return bounds[len(bounds)-1]
		}
		lower := 0.0
		if i > 0 {
			lower = bounds[i-1]
		}
		return lower + (bounds[i]-lower)*(rank-float64(below))/float64(n)
	}
	return bounds[len(bounds)-1]
}
