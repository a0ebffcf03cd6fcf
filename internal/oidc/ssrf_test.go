package oidc

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/testkit"
	"github.com/proxyos/caddy-proxyos/internal/upstream"
)

// TestProviderCannotAimAtTheAdminAPI: a provider's discovery document
// names Caddy's admin endpoint as its token endpoint (POST /stop there
// would stop Caddy). With the client the app gives the service, whose
// connections upstream.Guard.CheckService checks, the code exchange
// never reaches it (server-side request forgery through discovery).
func TestProviderCannotAimAtTheAdminAPI(t *testing.T) {
	var stopped atomic.Int32
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/stop" {
			stopped.Add(1)
		}
	}))
	defer admin.Close()
	var idp *httptest.Server
	idp = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"authorization_endpoint":%q,"token_endpoint":%q,"jwks_uri":%q,"id_token_signing_alg_values_supported":["RS256"]}`,
			idp.URL, idp.URL+"/auth", admin.URL+"/stop", idp.URL+"/jwks")
	}))
	defer idp.Close()

	adminAddr := netip.MustParseAddrPort(admin.Listener.Addr().String())
	guard := upstream.NewGuard(upstream.Policy{Admin: []upstream.Endpoint{
		{Addr: adminAddr.Addr(), FirstPort: adminAddr.Port(), LastPort: adminAddr.Port()}}}, nil)
	client := guard.ServiceClient(5 * time.Second) // as the app makes it

	st, _ := testkit.OpenStore(t)
	k, err := keyring.New(testkit.Secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := zap.NewNop
	base, _ := url.Parse("http://dash.test")
	svc := New([]Provider{{Name: "corp", Issuer: idp.URL, ClientID: "c", ClientSecret: "s"}}, base, client, Service{
		Store: st, Keys: k, Sessions: session.NewCache(st, audit.New(st, time.Now, log), time.Now, log),
		Audit: audit.New(st, time.Now, log), Now: time.Now, Logger: log})
	ctx := context.Background()
	_, state, err := svc.Begin(ctx, "corp", "192.0.2.7", Flow{})
	if err != nil {
		t.Fatalf("the provider itself (on loopback, not the admin endpoint) is reachable: %v", err)
	}
	if _, _, err := svc.Finish(ctx, "corp", Callback{State: state, CookieState: state, Code: "anything", ClientIP: "192.0.2.7"}); err == nil {
		t.Error("the login finished with a token endpoint on the admin API")
	}
	if n := stopped.Load(); n > 0 {
		t.Errorf("the code exchange reached the admin endpoint %d times", n)
	}
	// The same check refuses a dial there outright.
	if _, err := guard.ServiceDialer(time.Second).DialContext(ctx, "tcp", admin.Listener.Addr().String()); err == nil {
		t.Error("the service dialer connected to the admin endpoint")
	}
}
