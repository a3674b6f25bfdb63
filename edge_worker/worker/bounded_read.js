// Reading a stream under a byte limit: the request body (body.js) and a bundle download
// (bundles.js). The stream is cancelled as soon as more than `cap` bytes have arrived, so never
// more than `cap` plus one chunk is held, whatever the sender announced or the platform decoded.

/** The bytes of `stream`; past `cap` bytes the stream is cancelled and `tooLarge()` is thrown. */
export async function readBounded(stream, cap, tooLarge) {
  const reader = stream.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > cap) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return bytes;
}
