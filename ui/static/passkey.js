// ProxyOS dashboard: passkeys (WebAuthn) in the browser. The server
// answers ceremony options with binary fields in base64url, and takes the
// authenticator's answer back the same way (PublicKeyCredential.toJSON's
// shape), written out here for browsers without parse…FromJSON.

function fromB64u(s) {
  let b = s.replace(/-/g, '+').replace(/_/g, '/');
  while (b.length % 4) b += '=';
  return Uint8Array.from(atob(b), (c) => c.charCodeAt(0)).buffer;
}

function toB64u(buf) {
  let s = '';
  for (const c of new Uint8Array(buf)) s += String.fromCharCode(c);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// passkeysSupported reports whether this browser can use passkeys here
// (WebAuthn needs HTTPS, or http://localhost).
export function passkeysSupported() {
  return !!(window.isSecureContext && window.PublicKeyCredential && navigator.credentials);
}

// createPasskey asks the authenticator for a new credential with the
// server's creation options and returns its answer for the server.
export async function createPasskey(options) {
  const pk = options.publicKey;
  pk.challenge = fromB64u(pk.challenge);
  pk.user.id = fromB64u(pk.user.id);
  for (const c of pk.excludeCredentials || []) c.id = fromB64u(c.id);
  const cred = await navigator.credentials.create({ publicKey: pk });
  const r = cred.response;
  return {
    id: cred.id, rawId: toB64u(cred.rawId), type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment || undefined,
    response: {
      clientDataJSON: toB64u(r.clientDataJSON),
      attestationObject: toB64u(r.attestationObject),
      transports: r.getTransports ? r.getTransports() : [],
    },
    clientExtensionResults: cred.getClientExtensionResults(),
  };
}

// getPasskey asks the authenticator to sign the server's challenge and
// returns its answer for the server.
export async function getPasskey(options) {
  const pk = options.publicKey;
  pk.challenge = fromB64u(pk.challenge);
  for (const c of pk.allowCredentials || []) c.id = fromB64u(c.id);
  const cred = await navigator.credentials.get({ publicKey: pk });
  const r = cred.response;
  const out = {
    id: cred.id, rawId: toB64u(cred.rawId), type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment || undefined,
    response: {
      clientDataJSON: toB64u(r.clientDataJSON),
      authenticatorData: toB64u(r.authenticatorData),
      signature: toB64u(r.signature),
    },
    clientExtensionResults: cred.getClientExtensionResults(),
  };
  if (r.userHandle) out.response.userHandle = toB64u(r.userHandle);
  return out;
}

// passkeyError says in words why the browser's passkey prompt failed.
export function passkeyError(err) {
  if (err && err.name === 'NotAllowedError') return 'The passkey prompt was cancelled or timed out.';
  if (err && err.name === 'InvalidStateError') return 'This device already holds a passkey for your account.';
  if (err && err.name === 'SecurityError') return 'Passkeys need the dashboard\'s own address (its url), over HTTPS or on localhost.';
  return 'The passkey could not be used' + (err && err.message ? ': ' + err.message : '.');
}
