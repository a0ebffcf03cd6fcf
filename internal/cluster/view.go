package cluster

import (
	"context"
	"os"
	"runtime/debug"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// GoneAfter is how long a node may stay silent before the cluster view
// calls it gone (it reports itself every few seconds).
const GoneAfter = time.Minute

// NodeView is one node as GET /proxyos/cluster shows it.
type NodeView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	LastSeen  time.Time `json:"last_seen"`
	// LastChange is the last change of the change log the node applied;
	// Lag how many changes it was behind the log when it last reported.
	LastChange int64 `json:"last_change"`
	Lag        int64 `json:"lag"`
	// State is "up", or "gone" for a node silent for GoneAfter.
	State string `json:"state"`
	// This marks the node that answered.
	This bool `json:"this,omitempty"`
}

// View is the cluster as one node sees it.
type View struct {
	Database   string     `json:"database"` // sqlite or postgres
	LastChange int64      `json:"last_change"`
	Nodes      []NodeView `json:"nodes"`
}

// Status returns the view of the cluster of the database st, from the
// node this.
func Status(ctx context.Context, st *store.Store, this string, now time.Time) (View, error) {
	last, err := st.LastChange(ctx)
	if err != nil {
		return View{}, err
	}
	nodes, err := st.ListNodes(ctx)
	if err != nil {
		return View{}, err
	}
	v := View{Database: st.Driver(), LastChange: last, Nodes: []NodeView{}}
	for _, n := range nodes {
		nv := NodeView{ID: n.ID, Name: n.Name, Version: n.Version, StartedAt: n.StartedAt, LastSeen: n.LastSeen,
			LastChange: n.LastSeq, Lag: max(last-n.LastSeq, 0), State: "up", This: n.ID == this}
		if now.Sub(n.LastSeen) >= GoneAfter {
			nv.State = "gone"
		}
		v.Nodes = append(v.Nodes, nv)
	}
	return v, nil
}

// NodeName is the default name of this node: the host's name.
func NodeName() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "proxyos"
}

// Version is the version of proxyos in this binary, as Go recorded it
// (a module version, or "(devel)" for a build from a working copy).
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/proxyos/caddy-proxyos" {
			if d.Replace != nil && d.Replace.Version != "" {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return bi.Main.Version // a binary built from this module itself
}
