// Content blocks -> HTML, as edge_server/render.py renders them: every substituted value escaped
// as html.escape(quote=True) does, links by the WHATWG URL rules (worker/safe_href.js: absolute http, https or
// mailto, or relative to the page's own host), a `template` filled by the rules of Python's
// str.format (CPython's parser) restricted to `{name}` and `{name[key]}`, then sanitised as nh3
// does (worker/sanitize.js).
// tests/vectors/render.json holds the cases both implementations must reproduce.

import { ascii, repr, str } from "../runtime/python.js";
import { safeHref } from "./safe_href.js";
import { sanitize } from "./sanitize.js";

/** Python's str() and repr() of a content value as json.loads decoded it (python.js). */
const strOf = (v) => str(v, "json");
const reprOf = (v) => repr(v, "json");

const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;" };

/** Python's html.escape(s, quote=True). */
export function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ESC[c]);
}

class FormatError extends Error {}

/** CPython's MarkupIterator: [literal, field, spec, conversion] tuples (field null: literal only). */
function* parseFormat(s) {
  let i = 0;
  while (i < s.length) {
    let j = i;
    let c = "";
    while (j < s.length) {
      c = s[j++];
      if (c === "{" || c === "}") break;
      c = "";
    }
    const atEnd = j >= s.length;
    let literal = s.slice(i, j);
    let markup = c !== "";
    if (c === "}" && (atEnd || s[j] !== "}")) throw new FormatError("Single '}' encountered in format string");
    if (atEnd && c === "{") throw new FormatError("Single '{' encountered in format string");
    if (markup) {
      if (s[j] === c) {
        j++; // doubled brace: a literal one
        markup = false;
      } else {
        literal = literal.slice(0, -1);
      }
    }
    i = j;
    if (!markup) {
      yield [literal, null, "", null];
      continue;
    }
    let count = 1;
    const start = i;
    let done = false;
    let inName = true; // in the field name, "[...]" may hold braces
    while (i < s.length) {
      const d = s[i++];
      if (inName && d === "[") {
        while (i < s.length && s[i] !== "]") i++;
      } else if (inName && (d === ":" || d === "!")) {
        inName = false;
      } else if (d === "{") count++;
      else if (d === "}" && --count <= 0) {
        done = true;
        break;
      }
    }
    if (!done) throw new FormatError("unmatched '{' in format");
    yield [literal, ...parseField(s.slice(start, i - 1))];
  }
}

function parseField(f) {
  let k = 0;
  let c = "";
  while (k < f.length) {
    c = f[k++];
    if (c === "{") throw new FormatError("unexpected '{' in field name");
    if (c === "[") {
      while (k < f.length && f[k] !== "]") k++;
      c = "";
      continue;
    }
    if (c === "}" || c === ":" || c === "!") break;
    c = "";
  }
  if (c !== "!" && c !== ":") return [f, "", null];
  const name = f.slice(0, k - 1);
  let spec = f.slice(k);
  let conversion = null;
  if (c === "!") {
    if (!spec.length) throw new FormatError("end of string while looking for conversion specifier");
    conversion = spec[0];
    if (spec.length > 1) {
      if (spec[1] !== ":") throw new FormatError("expected ':' after conversion specifier");
      spec = spec.slice(2);
    } else {
      spec = "";
    }
  }
  return [name, spec, conversion];
}

const IDENTIFIER = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}_]*$/u;

/** render.py's _EscapingFormatter.get_field: only `name` and `name[key]...` on the block's own fields. */
function getField(field, fields) {
  const br = field.indexOf("[");
  const name = br < 0 ? field : field.slice(0, br);
  let rest = br < 0 ? "" : field.slice(br + 1);
  if (field.includes(".") || !IDENTIFIER.test(name) || !Object.hasOwn(fields, name)) throw new FormatError(field);
  let value = fields[name];
  while (rest) {
    const close = rest.indexOf("]");
    const key = close < 0 ? rest : rest.slice(0, close);
    rest = close < 0 ? "" : rest.slice(close + 1);
    if (value === null || typeof value !== "object" || Array.isArray(value) || !Object.hasOwn(value, key)) throw new FormatError(field);
    value = value[key];
    if (rest.startsWith("[")) rest = rest.slice(1);
  }
  return value;
}

function vformat(tpl, fields, depth, auto) {
  if (depth < 0) throw new FormatError("Max string recursion exceeded");
  let out = "";
  for (let [literal, field, spec, conversion] of parseFormat(tpl)) {
    out += literal;
    if (field === null) continue;
    if (field === "") {
      if (auto.index === false) throw new FormatError("cannot switch from manual field specification to automatic field numbering");
      field = String(auto.index++);
    } else if (/^[0-9]+$/.test(field)) {
      if (auto.index) throw new FormatError("cannot switch from automatic field numbering to manual field specification");
      auto.index = false;
    }
    let value = getField(field, fields);
    if (conversion === "s") value = strOf(value);
    else if (conversion === "r") value = reprOf(value);
    else if (conversion === "a") value = ascii(value, "json");
    else if (conversion !== null) throw new FormatError(`Unknown conversion specifier ${conversion}`);
    vformat(spec, fields, depth - 1, auto); // the spec's own fields must resolve; its text is ignored
    out += escapeHtml(value !== null && typeof value === "object" ? "" : strOf(value));
  }
  return out;
}

/** HTML for a content block: its `template` with escaped placeholders, or the standard layout of
 * headline, body, image, cta and items. An empty block renders as nothing. */
export function render(content) {
  if (content === null || typeof content !== "object" || Array.isArray(content) || !Object.keys(content).length) return "";
  const tpl = content.template;
  if (typeof tpl === "string") {
    const fields = Object.fromEntries(Object.entries(content).filter(([k]) => k !== "template"));
    let filled;
    try {
      filled = vformat(tpl, fields, 2, { index: 0 });
    } catch (e) {
      if (e instanceof FormatError) return ""; // the compiler checks placeholders; a hand-made bundle may not
      throw e;
    }
    return sanitize(filled);
  }
  const e = escapeHtml;
  const parts = [];
  if (truthy(content.image)) parts.push(`<img class="strata-image" src="${e(safeHref(strOf(content.image)))}" alt="">`);
  if (truthy(content.headline)) parts.push(`<h2 class="strata-headline">${e(strOf(content.headline))}</h2>`);
  if (truthy(content.body)) parts.push(`<p class="strata-body">${e(strOf(content.body))}</p>`);
  const items = content.items;
  if (Array.isArray(items) && items.length) parts.push(`<ul class="strata-items">${items.slice(0, 50).map((i) => `<li>${e(strOf(i))}</li>`).join("")}</ul>`);
  const cta = content.cta;
  if (cta !== null && typeof cta === "object" && !Array.isArray(cta) && truthy(cta.text)) {
    parts.push(`<a class="strata-cta" href="${e(safeHref(strOf(Object.hasOwn(cta, "href") ? cta.href : "#")))}">${e(strOf(cta.text))}</a>`);
  }
  return parts.join("");
}

/** Python truthiness of a decoded value. */
function truthy(v) {
  if (Array.isArray(v)) return v.length > 0;
  if (v !== null && typeof v === "object") return Object.keys(v).length > 0;
  return Boolean(v);
}
