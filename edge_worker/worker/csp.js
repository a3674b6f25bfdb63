// An inline <style> block Strata adds to an origin's page (the debug panel) under the origin's
// Content-Security-Policy, without breaking or weakening it: the port of edge_server/csp.py,
// whose docstring states the rules (its nonce, else an added 'sha256-…', else left out).

export const CSP_HEADERS = new Set(["content-security-policy", "content-security-policy-report-only"]);
const STYLE_DIRECTIVES = ["style-src-elem", "style-src", "default-src"];

/** The CSP hash source of an inline block: 'sha256-<base64>'. */
export async function styleHash(css) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(css)));
  return "'sha256-" + btoa(String.fromCharCode(...digest)) + "'";
}

function parse(policy) {
  const out = [];
  const seen = new Set();
  for (const part of policy.split(";")) {
    const tokens = part.split(/[\t\n\f\r ]+/).filter(Boolean);
    if (tokens.length && !seen.has(tokens[0].toLowerCase())) {
      seen.add(tokens[0].toLowerCase());
      out.push([tokens[0].toLowerCase(), tokens.slice(1)]);
    }
  }
  return out;
}

const serialise = (ds) => ds.map(([name, sources]) => [name, ...sources].join(" ")).join("; ");
const nonces = (sources) => new Set(sources.filter((s) => s.toLowerCase().startsWith("'nonce-") && s.endsWith("'") && s.length > 8).map((s) => s.slice(7, -1)));
const hasHash = (sources) => sources.some((s) => /^'sha(256|384|512)-/i.test(s));

/** {allowed, nonce, headers} (csp.py's allow_inline_style): whether the <style> block `css` may be
 * added, the nonce it must carry (or null), and the [name, value] pairs with any hash added. */
export async function allowInlineStyle(headers, css) {
  const digest = await styleHash(css);
  const policies = [];
  headers.forEach(([k, v], i) => {
    if (!CSP_HEADERS.has(k.toLowerCase())) return;
    v.split(",").forEach((text, j) => {
      const ds = parse(text);
      const names = ds.map(([n]) => n);
      const d = STYLE_DIRECTIVES.find((n) => names.includes(n));
      policies.push({ i, j, ds, g: d === undefined ? null : names.indexOf(d) });
    });
  });
  const needing = policies.filter(({ ds, g }) => {
    if (g === null) return false;
    const sources = ds[g][1];
    const lower = sources.map((s) => s.toLowerCase());
    return !((lower.includes("'unsafe-inline'") && !nonces(sources).size && !hasHash(sources)) || sources.includes(digest));
  });
  if (!needing.length) return { allowed: true, nonce: null, headers };
  let common = nonces(needing[0].ds[needing[0].g][1]);
  for (const p of needing.slice(1)) common = new Set([...common].filter((n) => nonces(p.ds[p.g][1]).has(n)));
  if (common.size) return { allowed: true, nonce: [...common].sort()[0], headers };
  if (needing.some(({ ds, g }) => ds[g][1].length === 0 || (ds[g][1].length === 1 && ds[g][1][0].toLowerCase() === "'none'"))) {
    return { allowed: false, nonce: null, headers };
  }
  const texts = headers.map(([, v]) => v.split(","));
  for (const { i, j, ds, g } of needing) {
    const [name, sources] = ds[g];
    const next = name === "default-src" ? [...ds, ["style-src-elem", [...sources, digest]]] : [...ds.slice(0, g), [name, [...sources, digest]], ...ds.slice(g + 1)];
    texts[i][j] = (j ? " " : "") + serialise(next);
  }
  return { allowed: true, nonce: null, headers: headers.map(([k, v], i) => [k, CSP_HEADERS.has(k.toLowerCase()) ? texts[i].join(",") : v]) };
}
