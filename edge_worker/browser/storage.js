// The session on the device: the worker's Session (worker/session.js: visits, page views, recent
// categories, caps, sticky variants, visit nonce, model entries) kept in the page origin's
// localStorage, only with consent. Unencrypted: it never leaves the device, and the visitor may
// read it (it is theirs). A visitor who clears storage is a new visitor; without consent the entry
// is removed and nothing is written.

import { Session, b64url, b64urlDecode } from '../worker/session.js';

export const STORAGE_KEY = 'strata_session';

function store() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage disabled (a sandboxed frame, a privacy setting): every page view is a new visitor
  }
}

/** The stored session, or a fresh one when there is none or it is not one this version writes. */
export function loadSession(key = STORAGE_KEY) {
  const s = store();
  const text = s ? s.getItem(key) : null;
  const raw = text ? b64urlDecode(text) : null;
  return (raw && Session.unpack(raw)) || Session.fresh();
}

export function saveSession(session, key = STORAGE_KEY) {
  const s = store();
  if (!s) return;
  try {
    s.setItem(key, b64url(session.pack()));
  } catch {
    // quota exceeded: the next page view starts a new visitor
  }
}

/** Remove the stored session (consent refused or withdrawn). */
export function forgetSession(key = STORAGE_KEY) {
  const s = store();
  if (s) s.removeItem(key);
}
