package certs

import (
	"errors"
	"testing"
	"time"
)

func TestAttemptsKeepTheCAErrorUntilASuccess(t *testing.T) {
	var a Attempts
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	caErr := errors.New(`HTTP 400 urn:ietf:params:acme:error:dns - NXDOMAIN looking up TXT for _acme-challenge.a.example.test`)
	a.Record("A.example.test", "acme", t0, caErr)
	a.Record("a.example.test", "acme", t0.Add(time.Minute), caErr)
	got, ok := a.Get("a.EXAMPLE.test")
	if !ok || got.Error != caErr.Error() || got.Failures != 2 || !got.At.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after two failures: %+v, %v", got, ok)
	}
	a.Record("a.example.test", "acme", t0.Add(2*time.Minute), nil)
	if got, _ := a.Get("a.example.test"); got.Error != "" || got.Failures != 0 {
		t.Fatalf("a success must clear the error: %+v", got)
	}
	a.Record("b.example.test", "internal", t0, nil)
	if all := a.All(); len(all) != 2 || all[0].Name != "a.example.test" || all[1].Issuer != "internal" {
		t.Fatalf("All = %+v", all)
	}
}

// TestAttemptsBounded: names come from hosts of routes, but whatever
// asks for certificates, memory stays bounded and the newest attempts stay.
func TestAttemptsBounded(t *testing.T) {
	var a Attempts
	t0 := time.Now()
	for i := range maxAttempts + 10 {
		a.Record(string(rune('a'+i%26))+time.Duration(i).String(), "acme", t0.Add(time.Duration(i)), nil)
	}
	if n := len(a.All()); n != maxAttempts {
		t.Fatalf("%d attempts kept, want %d", n, maxAttempts)
	}
	if _, ok := a.Get(string(rune('a'+(maxAttempts+9)%26)) + time.Duration(maxAttempts+9).String()); !ok {
		t.Fatal("the newest attempt was forgotten")
	}
}
