// Bound what a msgpack document will cost before it is decoded: the port of runtime/bounds.py.
// One walk over the bytes, building nothing: a document whose nesting, claimed lengths, object
// count or string sizes pass the limits is refused before the decoder allocates for it.

export class BoundsExceeded extends Error {}

// Per first byte: [kind, size] as in runtime/bounds.py. Kinds: 0 scalar of fixed total size;
// 1 str/bin (length in `size` bytes); 2 ext; 3 array; 4 map; 5 fixstr; 6 fixarray; 7 fixmap; 8 invalid.
const TABLE = (() => {
  const t = new Array(256).fill([8, 0]);
  for (let b = 0x00; b < 0x80; b++) t[b] = [0, 1];
  for (let b = 0xe0; b < 0x100; b++) t[b] = [0, 1];
  for (let b = 0x80; b < 0x90; b++) t[b] = [7, 0];
  for (let b = 0x90; b < 0xa0; b++) t[b] = [6, 0];
  for (let b = 0xa0; b < 0xc0; b++) t[b] = [5, 0];
  t[0xc0] = t[0xc2] = t[0xc3] = [0, 1];
  [t[0xc4], t[0xc5], t[0xc6]] = [[1, 1], [1, 2], [1, 4]];
  [t[0xc7], t[0xc8], t[0xc9]] = [[2, 1], [2, 2], [2, 4]];
  [t[0xca], t[0xcb]] = [[0, 5], [0, 9]];
  [t[0xcc], t[0xcd], t[0xce], t[0xcf]] = [[0, 2], [0, 3], [0, 5], [0, 9]];
  [t[0xd0], t[0xd1], t[0xd2], t[0xd3]] = [[0, 2], [0, 3], [0, 5], [0, 9]];
  [t[0xd4], t[0xd5], t[0xd6], t[0xd7], t[0xd8]] = [[2, -1], [2, -2], [2, -4], [2, -8], [2, -16]];
  [t[0xd9], t[0xda], t[0xdb]] = [[1, 1], [1, 2], [1, 4]];
  [t[0xdc], t[0xdd]] = [[3, 2], [3, 4]];
  [t[0xde], t[0xdf]] = [[4, 2], [4, 4]];
  return t;
})();

function readUint(data, at, size) {
  let v = 0;
  for (let k = 0; k < size; k++) v = v * 256 + (at + k < data.length ? data[at + k] : 0);
  return v;
}

/** Walk one msgpack document; return its object count, or throw BoundsExceeded. */
export function checkBounds(data, { maxObjects, maxDepth, maxStr, allowExt = false }) {
  const n = data.length;
  let i = 0;
  let objects = 1;
  const remaining = [1];
  while (remaining.length) {
    if (remaining[remaining.length - 1] === 0) {
      remaining.pop();
      continue;
    }
    remaining[remaining.length - 1] -= 1;
    if (i >= n) throw new BoundsExceeded('document is truncated');
    const b = data[i];
    const [kind, size] = TABLE[b];
    let count;
    if (kind === 0) {
      i += size;
      continue;
    }
    if (kind === 5) {
      i += 1 + (b & 0x1f);
      continue;
    }
    if (kind === 6 || kind === 7) {
      count = b & 0x0f;
      i += 1;
    } else if (kind === 8) {
      throw new BoundsExceeded(`byte 0x${b.toString(16).padStart(2, '0')} at offset ${i} starts no msgpack object`);
    } else if (size < 0) {
      if (!allowExt) throw new BoundsExceeded('extension types are not used in Strata bundles');
      i += 2 - size;
      continue;
    } else {
      count = readUint(data, i + 1, size);
      i += 1 + size;
      if (kind === 1 || kind === 2) {
        if (kind === 2) {
          if (!allowExt) throw new BoundsExceeded('extension types are not used in Strata bundles');
          i += 1;
        }
        if (count > maxStr) throw new BoundsExceeded(`a string of ${count} bytes is over the ${maxStr}-byte limit`);
        i += count;
        continue;
      }
    }
    const isMapKind = kind === 4 || kind === 7;
    const items = isMapKind ? count * 2 : count;
    if (items > n - i) throw new BoundsExceeded(`${isMapKind ? 'a map' : 'an array'} claims ${count} items with ${n - i} bytes left`);
    objects += items;
    if (objects > maxObjects) throw new BoundsExceeded(`more than ${maxObjects} objects`);
    if (items) {
      if (remaining.length > maxDepth) throw new BoundsExceeded(`nested deeper than ${maxDepth}`);
      remaining.push(items);
    }
  }
  if (i > n) throw new BoundsExceeded('document is truncated');
  if (i !== n) throw new BoundsExceeded(`${n - i} bytes of trailing data`);
  return objects;
}
