package integration

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The dashboard's Nodes page, driven in headless Chromium against real
// Caddy nodes that share one PostgreSQL database, and against a node on
// SQLite.

// bnodeRow is one row of the nodes table as the page shows it.
type bnodeRow struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	This      bool   `json:"this"`
	State     string `json:"state"`
	StateGood bool   `json:"stateGood"` // the state's badge is the green one
	Version   string `json:"version"`
	Change    string `json:"change"`
	Seen      string `json:"seen"`
	SeenAt    string `json:"seenAt"` // the datetime of the last-seen <time>
	SeenTitle string `json:"seenTitle"`
	Started   string `json:"started"`
}

// bnodeRowsJS reads the rows of the nodes table.
const bnodeRowsJS = `[...document.querySelectorAll("#nodes-table tbody tr")].map((tr) => {
	const q = (s) => tr.querySelector(s);
	const seen = q("time.node-seen");
	return {
		id: tr.dataset.nodeId,
		name: q(".node-name").textContent,
		this: !!q(".node-this"),
		state: q(".node-state").textContent,
		stateGood: q(".node-state").classList.contains("badge-good"),
		version: q(".node-version").textContent,
		change: q('td[data-label="Last change applied"]').innerText.trim(),
		seen: seen ? seen.textContent : "",
		seenAt: seen ? seen.getAttribute("datetime") : "",
		seenTitle: seen ? seen.title : "",
		started: q('td[data-label="Started"]').innerText.trim(),
	};
})`

// bnodeRows returns the rows of the nodes table by node name.
func bnodeRows(t testing.TB, b *browserTab) map[string]bnodeRow {
	t.Helper()
	rows := browserEval[[]bnodeRow](t, b, bnodeRowsJS)
	out := make(map[string]bnodeRow, len(rows))
	for _, r := range rows {
		out[r.Name] = r
	}
	return out
}

// bnodeView is the answer of GET /api/cluster.
type bnodeView struct {
	Database   string `json:"database"`
	LastChange int64  `json:"last_change"`
	Nodes      []struct {
		ID       string    `json:"id"`
		Name     string    `json:"name"`
		LastSeen time.Time `json:"last_seen"`
		State    string    `json:"state"`
		This     bool      `json:"this"`
	} `json:"nodes"`
}

// bnodeCluster asks GET /api/cluster with a session cookie.
func bnodeCluster(t testing.TB, base, cookie string) bnodeView {
	t.Helper()
	resp, raw := do(t, plainHTTP, http.MethodGet, base+"/api/cluster", nil, withSession(cookie, "Accept", "application/json"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/cluster: %d %s", resp.StatusCode, raw)
	}
	var v bnodeView
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("GET /api/cluster: %v: %s", err, raw)
	}
	return v
}

// bnodeStates is a condition on the page: the nodes table lists exactly
// these nodes (by name) in these states; a state "" takes any.
func bnodeStates(want map[string]string) string {
	raw, _ := json.Marshal(want)
	return fmt.Sprintf(`(() => {
		const want = %s;
		const rows = [...document.querySelectorAll("#nodes-table tbody tr")];
		return rows.length === Object.keys(want).length && rows.every((tr) => {
			const name = tr.querySelector(".node-name").textContent;
			return name in want && (want[name] === "" || tr.querySelector(".node-state").textContent === want[name]);
		});
	})()`, raw)
}

// bnodeCrashed writes the row a node leaves in the nodes table when it
// stops reporting itself without a word (a crash, a lost network): its
// last report two minutes ago, before any change in the log.
func bnodeCrashed(t testing.TB, dsn, name string) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	if _, err := db.Exec(`INSERT INTO nodes (id, name, version, started_at, last_seen, last_seq) VALUES ($1, $2, $3, $4, $5, 0)`,
		"crashed-"+name, name, "v0.0.1", now.Add(-time.Hour).UnixMilli(), now.Add(-2*time.Minute).UnixMilli()); err != nil {
		t.Fatalf("adding the crashed node %s: %v", name, err)
	}
}

// bnodeAgo reads "N s ago".
var bnodeAgo = regexp.MustCompile(`^(\d+) s ago$`)

// TestBrowserNodes walks an admin through the Nodes page in Chromium with
// two Caddy nodes on one PostgreSQL database, and the row a crashed node
// left there: both nodes listed as up, the one answering marked as this
// node, the crashed one as gone and behind, the database named; the page
// following the cluster by itself, without a reload (a stopped node's
// last report ageing while the others' advance, a node started later
// appearing); the page at phone width; and a viewer, who has no Nodes
// entry in the menu and gets the API's refusal on the page. Every page runs under the dashboard's CSP: a
// violation or an uncaught exception fails the test.
func TestBrowserNodes(t *testing.T) {
	browserExecPath(t) // fail before starting Caddy
	dsn := postgresDatabase(t)
	const (
		secret      = "nodes-browser-test-secret-4c1e9a"
		email       = "nodes-admin@example.com"
		viewerEmail = "nodes-viewer@example.com"
		viewerPass  = "viewer password 1"
	)
	node := func(name string, opts ...dashOption) *dashEnv {
		t.Helper()
		opts = append(opts, dashProxyos("database postgres "+dsn, "secret "+secret, "node_name "+name))
		return startDashboard(t, opts...)
	}
	a := node("node-a", dashAdmin(email, browserPassword))
	nodeB := node("node-b", dashNoAdmin())
	bnodeCrashed(t, dsn, "node-old")
	base := a.Base

	b := newBrowserTab(t)
	b.runSteps(t, []browserStep{
		{"log in on node A and open Nodes from the menu", func(t *testing.T) {
			b.navigate(t, base+"/login")
			b.login(t, email, browserPassword)
			b.waitPage(t, "overview")
			href := browserEval[string](t, b, `(() => {
				const a = [...document.querySelectorAll("#nav a")].find((a) => a.textContent === "Nodes");
				return a ? a.getAttribute("href") : "";
			})()`)
			if href != "/nodes" {
				t.Fatalf("the admin's menu has no Nodes entry for /nodes (href %q)\npage: %s", href, b.state())
			}
			b.click(t, `#nav a[href="/nodes"]`)
			b.waitPage(t, "nodes")
			if cur := browserEval[string](t, b, `document.querySelector('#nav a[aria-current="page"]').textContent`); cur != "Nodes" {
				t.Errorf("the menu marks %q as the current page, want Nodes", cur)
			}
		}},
		{"both nodes up, node A marked as this node, the crashed one gone", func(t *testing.T) {
			b.waitJS(t, "node-a and node-b listed as up, node-old as gone",
				bnodeStates(map[string]string{"node-a": "up", "node-b": "up", "node-old": "gone"}))
			rows := bnodeRows(t, b)
			ra, rb, old := rows["node-a"], rows["node-b"], rows["node-old"]
			if !ra.This || rb.This || old.This {
				t.Errorf("this node: node-a %v, node-b %v, node-old %v; want node-a only", ra.This, rb.This, old.This)
			}
			for _, r := range []bnodeRow{ra, rb} {
				if !r.StateGood {
					t.Errorf("%s: the up state is not the green badge", r.Name)
				}
				if r.Version == "" {
					t.Errorf("%s: no version", r.Name)
				}
				if !regexp.MustCompile(`^\d+ · (in step|1 change behind|\d+ changes behind)$`).MatchString(r.Change) {
					t.Errorf("%s: last change applied %q, want the change and in step or N changes behind", r.Name, r.Change)
				}
				if !bnodeAgo.MatchString(r.Seen) || r.SeenAt == "" || r.SeenTitle == "" || r.SeenTitle == r.Seen {
					t.Errorf("%s: last seen %q (datetime %q, title %q), want N s ago with the exact time in the title", r.Name, r.Seen, r.SeenAt, r.SeenTitle)
				}
				if r.Started == "" {
					t.Errorf("%s: no start time", r.Name)
				}
			}
			// Gone looks unlike up, in colour and in words.
			if old.StateGood || !browserEval[bool](t, b, `document.querySelector('#nodes-table tr[data-node-id="crashed-node-old"] .node-state').classList.contains("badge-bad")`) {
				t.Errorf("node-old: the gone state is not the red badge")
			}
			if old.Seen != "2 min ago" || old.Version != "v0.0.1" {
				t.Errorf("node-old: last seen %q, version %q; want 2 min ago, v0.0.1", old.Seen, old.Version)
			}
			if !regexp.MustCompile(`^0 · (1 change|\d+ changes) behind$`).MatchString(old.Change) {
				t.Errorf("node-old: last change applied %q, want 0 · N changes behind", old.Change)
			}
			// The page shows what the API answers.
			v := bnodeCluster(t, base, a.adminCk)
			var ids []string
			for _, n := range v.Nodes {
				ids = append(ids, n.ID)
				if n.This != (n.ID == ra.ID) {
					t.Errorf("node %s (%s): this = %v in the API, the page marks %s", n.Name, n.ID, n.This, ra.ID)
				}
			}
			if shown := []string{ra.ID, rb.ID, old.ID}; !slices.Equal(slices.Sorted(slices.Values(ids)), slices.Sorted(slices.Values(shown))) {
				t.Errorf("the page shows nodes %v, the API %v", shown, ids)
			}
			if got := b.assertVisible(t, "#nodes-summary"); !strings.Contains(got, "PostgreSQL") || !strings.Contains(got, "3 nodes (2 up, 1 gone)") {
				t.Errorf("#nodes-summary = %q, want it to name PostgreSQL and 3 nodes (2 up, 1 gone)", got)
			}
			if !browserEval[bool](t, b, `document.querySelector("#nodes-error").hidden`) {
				t.Errorf("#nodes-error shows %q", b.text(t, "#nodes-error"))
			}
			// From here on, a reload would lose this.
			browserEval[bool](t, b, `window.bnodeNoReload = true`)
		}},
		{"a stopped node's last report ages while the page refreshes by itself", func(t *testing.T) {
			nodeB.inst.Stop()
			// B's last report is final now; A keeps reporting. A report
			// of A after this moment on the page was loaded after it.
			stopped := time.Now()
			var lastB time.Time
			for _, n := range bnodeCluster(t, base, a.adminCk).Nodes {
				if n.Name == "node-b" {
					lastB = n.LastSeen
				}
			}
			if lastB.IsZero() {
				t.Fatal("GET /api/cluster does not list node-b")
			}
			at := strconv.Quote(lastB.Format(time.RFC3339Nano))
			b.waitJS(t, "node-b's last report at least 5 s old, node-a's from after the stop and in step, without a reload", fmt.Sprintf(`(() => {
				if (window.bnodeNoReload !== true) return false;
				const row = (name) => [...document.querySelectorAll("#nodes-table tbody tr")].find((tr) => tr.querySelector(".node-name").textContent === name);
				const a = row("node-a"), b = row("node-b");
				if (!a || !b) return false;
				const seenA = a.querySelector("time.node-seen"), seenB = b.querySelector("time.node-seen");
				const ago = seenB && /^(\d+) s ago$/.exec(seenB.textContent);
				return seenA && ago && Number(ago[1]) >= 5 &&
					Date.parse(seenB.getAttribute("datetime")) === Date.parse(%[1]s) &&
					Date.parse(seenA.getAttribute("datetime")) > %[2]d &&
					a.querySelector(".node-lag").textContent.includes("in step");
			})()`, at, stopped.UnixMilli()))
		}},
		{"a node started later appears without a reload", func(t *testing.T) {
			node("node-c", dashNoAdmin())
			// node-b is up until it has been silent for a minute.
			b.waitJS(t, "node-c listed as up", bnodeStates(map[string]string{"node-a": "up", "node-b": "", "node-c": "up", "node-old": "gone"}))
			if !browserEval[bool](t, b, `window.bnodeNoReload === true`) {
				t.Fatal("the page reloaded instead of refreshing the table")
			}
			if got := b.text(t, "#nodes-summary"); !strings.Contains(got, "4 nodes") {
				t.Errorf("#nodes-summary = %q, want 4 nodes", got)
			}
			if rows := bnodeRows(t, b); !rows["node-a"].This || rows["node-c"].This {
				t.Errorf("after node-c joined, this node: node-a %v, node-c %v; want node-a only", rows["node-a"].This, rows["node-c"].This)
			}
		}},
		{"phone width", func(t *testing.T) {
			b.do(t, "emulating a phone", chromedp.EmulateViewport(375, 800))
			b.navigate(t, base+"/nodes")
			b.waitPage(t, "nodes")
			b.waitJS(t, "the four nodes", `document.querySelectorAll("#nodes-table tbody tr").length === 4`)
			browserFits(t, b)
			b.shot(t, "nodes-375")
		}},
		{"a route's request log says it is this node's", func(t *testing.T) {
			body := strings.NewReader(`{"name":"logged","enabled":true,"hosts":["logged.nodes.test"],"kind":"static","tls":"off","static":{"body":"hi"},"request_log":true}`)
			resp, raw := do(t, plainHTTP, http.MethodPost, "http://"+a.inst.Admin+"/proxyos/routes", body, http.Header{"Content-Type": {"application/json"}})
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("POST /proxyos/routes: %d %s", resp.StatusCode, raw)
			}
			id, _ := decode(t, raw)["id"].(string)
			b.navigate(t, base+"/routes/edit?id="+id)
			b.waitPage(t, "route-edit")
			b.waitJS(t, "the request log shown", `!document.querySelector("#route-requests-list").hidden`)
			if got := b.assertVisible(t, "#route-requests-list p"); !strings.Contains(got, "served on this node (node-a),") ||
				!strings.Contains(got, "Each node keeps its own log") {
				t.Errorf("the request log reads %q, want it to name node-a and say each node keeps its own", got)
			}
		}},
		{"a viewer has no Nodes entry and gets the API's refusal", func(t *testing.T) {
			a.inst.CreateUser(viewerEmail, viewerPass, "viewer")
			_, cookie := newClient(t, base).Login(viewerEmail, viewerPass)
			resp, raw := do(t, plainHTTP, http.MethodGet, base+"/api/cluster", nil, withSession(cookie, "Accept", "application/json"))
			apiErr, _ := decode(t, raw)["error"].(string)
			if resp.StatusCode != http.StatusForbidden || apiErr == "" {
				t.Fatalf("GET /api/cluster as a viewer: %d %s, want 403 with an error", resp.StatusCode, raw)
			}
			b.logout(t)
			b.login(t, viewerEmail, viewerPass)
			b.waitPage(t, "overview")
			nav := browserEval[[]string](t, b, `[...document.querySelectorAll("#nav a")].map((a) => a.getAttribute("href"))`)
			if !slices.Contains(nav, "/routes") {
				t.Fatalf("the viewer's menu %v has no Routes entry: the menu did not render", nav)
			}
			if slices.Contains(nav, "/nodes") {
				t.Errorf("the viewer's menu %v offers Nodes", nav)
			}
			b.navigate(t, base+"/nodes")
			b.waitPage(t, "nodes")
			got := b.assertVisible(t, "#nodes-error")
			if !strings.Contains(strings.ToLower(got), strings.ToLower(apiErr)) {
				t.Errorf("#nodes-error = %q, want the API's %q", got, apiErr)
			}
			if n := browserEval[int](t, b, `document.querySelectorAll("#nodes-table tbody tr").length`); n != 0 ||
				!browserEval[bool](t, b, `document.querySelector("#nodes-list").hidden`) {
				t.Errorf("the viewer's page shows a nodes table (%d rows)", n)
			}
			if !browserEval[bool](t, b, `document.querySelector("#nodes-refresh").hidden`) {
				t.Error("the viewer's page offers a refresh that can only be refused again")
			}
		}},
	})
	b.assertClean(t)
}

// TestBrowserNodesSQLite checks the Nodes page of a node on SQLite, which
// no other node can share, and how the page loads (which does not depend
// on the database): the page names the database and lists this node
// alone; the refresh button loads at once; a hidden tab asks nothing
// and loads when shown again; the node's outage shows in the page's error
// box, which a later automatic load clears, all without a reload.
func TestBrowserNodesSQLite(t *testing.T) {
	browserExecPath(t) // fail before starting Caddy
	const email = "nodes-sqlite-admin@example.com"
	e := startDashboard(t, dashAdmin(email, browserPassword), dashProxyos("node_name lonely"))

	b := newBrowserTab(t)
	b.runSteps(t, []browserStep{
		{"the page names SQLite and one node", func(t *testing.T) {
			b.navigate(t, e.Base+"/login")
			b.login(t, email, browserPassword)
			b.waitPage(t, "overview")
			b.navigate(t, e.Base+"/nodes")
			b.waitPage(t, "nodes")
			if got := b.assertVisible(t, "#nodes-summary"); !strings.Contains(got, "SQLite") || !strings.Contains(got, "this node alone") {
				t.Errorf("#nodes-summary = %q, want it to name SQLite, used by this node alone", got)
			}
			// A node on SQLite first reports itself a while after it
			// starts: until then the list is empty, and says why.
			if rows := bnodeRows(t, b); len(rows) == 0 {
				if got := b.assertVisible(t, "#nodes-empty"); !strings.Contains(got, "SQLite") {
					t.Errorf("#nodes-empty = %q, want it to say when a node on SQLite reports itself", got)
				}
			} else if r, ok := rows["lonely"]; len(rows) != 1 || !ok || !r.This || r.State != "up" {
				t.Errorf("the nodes table shows %+v, want this node alone, up", rows)
			}
			// From here on, a reload would lose these: the calls of GET
			// /api/cluster, counted.
			browserEval[bool](t, b, `(() => {
				window.bnodeNoReload = true;
				window.bnodeCalls = 0;
				const f = window.fetch;
				window.fetch = function (input) {
					if (String(input).startsWith("/api/cluster")) window.bnodeCalls++;
					return f.apply(this, arguments);
				};
				return true;
			})()`)
		}},
		{"the refresh button loads at once", func(t *testing.T) {
			// Right after an automatic load has finished, the next one is
			// refreshEvery (5 s) away: a load within 2 s of the click is
			// the button's.
			b.waitJS(t, "an automatic load to finish",
				`window.bnodeCalls >= 1 && document.querySelector("#nodes-list").getAttribute("aria-busy") === "false"`)
			before := browserEval[int](t, b, `window.bnodeCalls`)
			b.click(t, "#nodes-refresh")
			deadline := time.Now().Add(2 * time.Second)
			for browserEval[int](t, b, `window.bnodeCalls`) == before {
				if time.Now().After(deadline) {
					t.Fatal("the refresh button did not ask GET /api/cluster within 2 s")
				}
				select {
				case <-time.After(50 * time.Millisecond):
				case <-b.ctx.Done():
					t.Fatal(b.ctx.Err())
				}
			}
			if focused := browserEval[string](t, b, `document.activeElement.id`); focused != "nodes-refresh" {
				t.Errorf("after a refresh the focus is on %q, want it kept on the refresh button", focused)
			}
		}},
		{"a hidden tab asks nothing and loads at once when shown again", func(t *testing.T) {
			// What the browser does when the tab goes to the background.
			setHidden := func(hidden bool) {
				browserEval[bool](t, b, fmt.Sprintf(`(() => {
					if (%v) Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
					else delete document.visibilityState;
					document.dispatchEvent(new Event("visibilitychange"));
					return true;
				})()`, hidden))
			}
			b.waitJS(t, "no load under way", `document.querySelector("#nodes-list").getAttribute("aria-busy") === "false"`)
			setHidden(true)
			before := browserEval[int](t, b, `window.bnodeCalls`)
			// Longer than refreshEvery (5 s): a timer left running would
			// have loaded by then.
			quiet := time.Now().Add(6500 * time.Millisecond)
			for time.Now().Before(quiet) {
				if n := browserEval[int](t, b, `window.bnodeCalls`); n != before {
					t.Fatalf("the hidden page asked GET /api/cluster (%d times)", n-before)
				}
				select {
				case <-time.After(100 * time.Millisecond):
				case <-b.ctx.Done():
					t.Fatal(b.ctx.Err())
				}
			}
			setHidden(false)
			b.waitJS(t, "a load as soon as the page is shown", fmt.Sprintf(`window.bnodeCalls > %d`, before))
		}},
		{"the node's outage shows in the error box and ends by itself", func(t *testing.T) {
			e.inst.Stop()
			b.waitJS(t, "the error box", `!document.querySelector("#nodes-error").hidden`)
			if got := b.text(t, "#nodes-error"); !strings.Contains(got, "Could not reach the server") {
				t.Errorf("#nodes-error = %q, want Could not reach the server …", got)
			}
			// The last answer stays, with the time it came.
			b.assertVisible(t, "#nodes-summary")
			updated := b.assertVisible(t, "#nodes-updated")
			e.inst.Start()
			b.waitJS(t, "the error box to go after a load, without a reload", fmt.Sprintf(
				`document.querySelector("#nodes-error").hidden && document.querySelector("#nodes-updated").textContent !== %q && window.bnodeNoReload === true`,
				updated))
		}},
	})
	b.assertClean(t)
}
