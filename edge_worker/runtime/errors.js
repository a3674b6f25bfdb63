// Why a bundle was refused: one class per verification step, `.code` equal to the Python
// runtime's (runtime/errors.py). Every message says what to do.

export class BundleError extends Error {
  get code() {
    return 'bundle_error';
  }
}
export class BundleTooLarge extends BundleError {
  get code() { return 'too_large'; }
}
export class MalformedBundle extends BundleError {
  get code() { return 'malformed'; }
}
export class UnsupportedFormat extends BundleError {
  get code() { return 'unsupported_format'; }
}
export class UnknownKey extends BundleError {
  get code() { return 'unknown_key'; }
}
export class BadSignature extends BundleError {
  get code() { return 'bad_signature'; }
}
export class NotYetValid extends BundleError {
  get code() { return 'not_yet_valid'; }
}
export class Expired extends BundleError {
  get code() { return 'expired'; }
}
export class RollbackRefused extends BundleError {
  get code() { return 'rollback'; }
}
/** A bundle of another rule set than the one served (configured, or the name held). */
export class WrongName extends BundleError {
  get code() { return 'wrong_name'; }
}
/** Verified and validated, but preparing it failed (a case validation does not catch). */
export class PrepareFailed extends BundleError {
  get code() { return 'prepare_failed'; }
}
export class InvalidIR extends MalformedBundle {
  get code() { return 'invalid_ir'; }
}
// Names written out: a bundler that minifies renames classes (`yt (rollback)` on /readyz), and
// the names are part of what /readyz shows, as the Python runtime's type names are.
for (const [C, name] of [[BundleError, 'BundleError'], [BundleTooLarge, 'BundleTooLarge'], [MalformedBundle, 'MalformedBundle'],
  [UnsupportedFormat, 'UnsupportedFormat'], [UnknownKey, 'UnknownKey'], [BadSignature, 'BadSignature'], [NotYetValid, 'NotYetValid'],
  [Expired, 'Expired'], [RollbackRefused, 'RollbackRefused'], [WrongName, 'WrongName'], [PrepareFailed, 'PrepareFailed'], [InvalidIR, 'InvalidIR']]) {
  Object.defineProperty(C.prototype, 'name', { value: name });
}

/** How a refused bundle is reported (/readyz's last_error, the log), as runtime/errors.py's
 * refusal: the error's name, its code for a BundleError, and its message. */
export function refusal(e) {
  return `${e?.name || 'Error'}${e instanceof BundleError ? ` (${e.code})` : ''}: ${e?.message}`;
}
