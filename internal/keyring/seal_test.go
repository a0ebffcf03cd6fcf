package keyring

import (
	"errors"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	k := mustKeyring(t, randomSecret(t))
	sealed, err := k.Seal([]byte("totp secret"), "totp:u1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "totp secret") {
		t.Fatalf("sealed value shows the plaintext: %s", sealed)
	}
	if id, _ := SealedKeyID(sealed); id != k.CurrentID() {
		t.Fatalf("sealed with key %q, want the current key %q", id, k.CurrentID())
	}
	got, err := k.Open(sealed, "totp:u1")
	if err != nil || string(got) != "totp secret" {
		t.Fatalf("open = %q, %v", got, err)
	}
	again, _ := k.Seal([]byte("totp secret"), "totp:u1")
	if again == sealed {
		t.Fatal("two seals of the same value are equal; nonces must differ")
	}
}

// Attack: copying a user's sealed TOTP secret into another row (or an API
// key digest into another key) must not make it usable there.
func TestSealBoundToContext(t *testing.T) {
	k := mustKeyring(t, randomSecret(t))
	sealed, _ := k.Seal([]byte("secret"), "totp:alice")
	if _, err := k.Open(sealed, "totp:mallory"); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("open in another context = %v, want ErrUnsealable", err)
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	if tampered == sealed {
		tampered = sealed[:len(sealed)-2] + "BB"
	}
	if _, err := k.Open(tampered, "totp:alice"); err == nil {
		t.Fatal("a tampered sealed value opened")
	}
	for _, bad := range []string{"", "v1.", "v2." + sealed[3:], "v1.zz", "v1." + k.CurrentID() + ".%%%"} {
		if _, err := k.Open(bad, "totp:alice"); err == nil {
			t.Fatalf("open(%q) succeeded", bad)
		}
	}
}

func TestSealRotation(t *testing.T) {
	oldSecret, newSecret := randomSecret(t), randomSecret(t)
	old := mustKeyring(t, oldSecret)
	sealed, _ := old.Seal([]byte("secret"), "c")

	rotated := mustKeyring(t, newSecret, oldSecret)
	if got, err := rotated.Open(sealed, "c"); err != nil || string(got) != "secret" {
		t.Fatalf("open with the old secret under previous_secrets = %q, %v", got, err)
	}
	fresh, err := rotated.ResealIfOld(sealed, "c")
	if err != nil || fresh == "" {
		t.Fatalf("resealIfOld = %q, %v", fresh, err)
	}
	if again, _ := rotated.ResealIfOld(fresh, "c"); again != "" {
		t.Fatal("resealIfOld re-sealed a value already under the current key")
	}
	onlyNew := mustKeyring(t, newSecret)
	if got, err := onlyNew.Open(fresh, "c"); err != nil || string(got) != "secret" {
		t.Fatalf("after re-sealing, the new secret alone opens it: %q, %v", got, err)
	}
	var uk *UnknownKeyError
	if _, err := onlyNew.Open(sealed, "c"); !errors.As(err, &uk) || uk.KeyID != old.CurrentID() {
		t.Fatalf("open of a value sealed with a dropped secret = %v, want UnknownKeyError naming %s", err, old.CurrentID())
	}
	if strings.Contains(uk.Error(), oldSecret) {
		t.Fatal("the error shows the secret")
	}
}
