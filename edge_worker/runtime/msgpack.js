// msgpack decoding through @msgpack/msgpack, keeping what CEL needs and JSON loses: a float
// stays a Float (1.0 is a double, 1 an int), 64-bit integers are BigInt, map keys must be
// strings (Python's strict_map_key), and extension types are refused.

import { Decoder } from '@msgpack/msgpack';
import { Float } from './signals.js';

class StrataDecoder extends Decoder {
  readF32() {
    return new Float(super.readF32());
  }

  readF64() {
    return new Float(super.readF64());
  }
}

function stringKey(key) {
  if (typeof key !== 'string') throw new TypeError('map key is not a string');
  return key;
}

const decoder = new StrataDecoder({
  useBigInt64: true,
  mapKeyConverter: stringKey,
  extensionCodec: {
    tryToEncode: () => null,
    decode: () => {
      throw new TypeError('msgpack extension types are not part of a Strata bundle');
    },
  },
});

/** Decode one msgpack value (throws on invalid, truncated or trailing data). */
export function unpack(bytes) {
  return decoder.decode(bytes);
}

// The envelope is unauthenticated: decoded with limits that fit exactly its fields (no arrays,
// maps of a few entries, short strings), as runtime/verify.py _unpack_envelope.
const envelopeDecoder = new StrataDecoder({
  useBigInt64: true,
  mapKeyConverter: stringKey,
  maxStrLength: 256,
  maxArrayLength: 0,
  maxMapLength: 10,
  extensionCodec: {
    tryToEncode: () => null,
    decode: () => {
      throw new TypeError('msgpack extension types are not part of a Strata bundle');
    },
  },
});

export function unpackEnvelope(bytes) {
  return envelopeDecoder.decode(bytes);
}
