package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// View is what the gauges read when scraped: the state of the latest
// config, as the app computes it.
type View struct {
	// Routes counts the live (enabled) routes by kind and TLS mode.
	Routes []RouteCount
	// Certificates are the TLS certificates in use, by name.
	Certificates []Certificate
	// Cluster is set in cluster mode.
	Cluster *Cluster
}

// RouteCount is how many live routes have a kind and TLS mode.
type RouteCount struct {
	Kind, TLS string
	N         int
}

// Certificate is a certificate's name and end of validity.
type Certificate struct {
	Name     string
	NotAfter time.Time
}

// Cluster is this node's place in the change log.
type Cluster struct {
	Head    int64 // the last change in the log, as last read
	Applied int64 // the last change this node applied
	Down    bool  // the database was unreachable at the last attempt
}

var (
	routesDesc = prometheus.NewDesc(ns+"_routes", "Live (enabled) managed routes by kind and TLS mode.",
		[]string{"kind", "tls"}, nil)
	certDesc = prometheus.NewDesc(ns+"_certificate_expiry_timestamp_seconds", "When each certificate in use expires (Unix time).",
		[]string{"name"}, nil)
	lagDesc = prometheus.NewDesc(ns+"_cluster_lag_changes", "Changes of the change log this node has not applied yet.",
		nil, nil)
	dbUpDesc = prometheus.NewDesc(ns+"_cluster_database_up", "1 when this node reached the database at its last attempt.",
		nil, nil)
)

// viewCollector turns the View of the latest config into gauges.
type viewCollector struct {
	view atomic.Pointer[func() View]
}

// SetView sets what the gauges read: view is called at each scrape.
func (s *Set) SetView(view func() View) { s.views.view.Store(&view) }

// Describe implements prometheus.Collector.
func (c *viewCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- routesDesc
	ch <- certDesc
	ch <- lagDesc
	ch <- dbUpDesc
}

// Collect implements prometheus.Collector.
func (c *viewCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.view.Load()
	if f == nil {
		return
	}
	v := (*f)()
	for _, r := range v.Routes {
		ch <- prometheus.MustNewConstMetric(routesDesc, prometheus.GaugeValue, float64(r.N), r.Kind, r.TLS)
	}
	seen := make(map[string]bool, len(v.Certificates))
	for _, cert := range v.Certificates {
		if !seen[cert.Name] { // one series per name: the first listed
			seen[cert.Name] = true
			ch <- prometheus.MustNewConstMetric(certDesc, prometheus.GaugeValue, float64(cert.NotAfter.Unix()), cert.Name)
		}
	}
	if v.Cluster != nil {
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(max(v.Cluster.Head-v.Cluster.Applied, 0)))
		up := 1.0
		if v.Cluster.Down {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(dbUpDesc, prometheus.GaugeValue, up)
	}
}
