"""Hostile content templates, generated from a seed: the classes of author HTML on which two HTML
sanitisers (nh3/ammonia in edge_server/render.py, parse5 + worker/sanitize.js in the worker) can
disagree. Used by the render vectors (tests/vectors/generate_http.py) and the differential fuzz
(tests/edge_worker/test_differential.py), which sends them to both runtimes inside signed bundles.

Classes: tags outside the allow-list (raw-text, escapable raw-text, foreign content, form and
frame elements, obsolete tags, custom elements); attributes outside it (event handlers, ``style``,
namespaced, upper-case, duplicated, unquoted, without value); URLs in ``href``/``src``/``cite``
(every scheme trick, hosts the URL parsers may read differently: IP forms, IDNA, percent-encoding,
ports, credentials, backslashes, controls); text (character references valid and invalid,
``<!``/``<?``/CDATA, NUL and other controls, U+00A0, CR/LF); structure (misnested formatting
elements, table foster parenting, ``<select>``, ``<frameset>``, ``<body>``/``<html>`` inside a
fragment, unclosed comments and tags at the end)."""

from __future__ import annotations

import random

#: Tags the allow-list keeps (runtime/format.py TEMPLATE_TAGS, a sample) and tags it does not.
KEPT = ["a", "b", "i", "p", "div", "span", "ul", "ol", "li", "table", "tr", "td", "th", "tbody", "thead", "caption", "col", "colgroup", "img",
        "br", "hr", "wbr", "pre", "blockquote", "q", "del", "ins", "h1", "h2", "em", "strong", "small", "code", "details", "summary",
        "ruby", "rt", "rp", "map", "area", "dl", "dt", "dd", "figure", "figcaption", "time", "data", "bdo", "abbr", "center", "strike", "tt",
        "nav", "article", "aside", "footer", "header", "hgroup", "u", "s", "sub", "sup", "mark", "var", "samp", "kbd", "cite", "dfn", "rtc"]
DROPPED = ["script", "style", "iframe", "object", "embed", "form", "input", "textarea", "select", "option", "optgroup", "noscript",
           "noembed", "noframes", "xmp", "plaintext", "title", "template", "svg", "math", "foreignObject", "mi", "mo", "mtext",
           "annotation-xml", "desc", "body", "html", "head", "frameset", "frame", "image", "isindex", "keygen", "listing", "marquee",
           "applet", "base", "link", "meta", "button", "label", "fieldset", "legend", "video", "audio", "source", "track", "picture",
           "canvas", "dialog", "menu", "menuitem", "slot", "x-custom", "font", "nobr", "param", "tfoot", "main", "section", "address",
           "search", "output", "progress", "meter", "datalist", "bgsound", "basefont", "blink"]
ATTRIBUTES = ["class", "title", "lang", "href", "src", "cite", "alt", "width", "height", "align", "span", "colspan", "rowspan", "start",
              "dir", "datetime", "hreflang", "summary", "scope", "headers", "size", "char", "charoff", "onclick", "onerror", "onload",
              "style", "id", "name", "srcset", "action", "formaction", "xlink:href", "xmlns", "xmlns:xlink", "data-x", "CLASS", "HREF",
              "Title", "poster", "background", "ping", "rel", "target", "type", "value", "tabindex", "is", "nonce"]
#: URLs as an author or an attacker may write them.
URLS = [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "java\tscript:x", "java&#x09;script:x", "jav&#97;script:x", " javascript:x", "\x01javascript:x",
    "javascript&colon;x", "data:text/html,<b>x</b>", "vbscript:x", "blob:https://x.example/1", "file:///etc/passwd", "ftp://x.example/",
    "tel:+15550100", "mailto:x@example.com", "MAILTO:X@EXAMPLE.COM", "mailto:", "http:", "https:", "http:/x", "http:x", "https:\\\\x.example",
    "//evil.example/", "/\\evil.example", "\\/evil.example", "/\t/evil.example", "\\\\evil.example", "///evil.example", "/ok", "ok", "./ok",
    "../up", "?q=1", "#frag", "", " ", "  /sp  ", "https://EX.example/a/../b", "HTTPS://Shop.Example:443/", "http://ex.example:80/",
    "http://ex.example:99999/", "http://ex.example:0/", "http://ex.example:/", "http://user:pass@ex.example/", "http://@ex.example/",
    "http://ex.example@evil.example/", "http://[::1]/", "http://[fe80::1%25eth0]/", "http://[bad/", "http://[::ffff:127.0.0.1]/",
    "http://1.2.3.4.5/", "http://0x7f.1/", "http://0177.0.0.1/", "http://4294967295/", "http://4294967296/", "http://127.1/",
    "http://1.2.3.09/", "http://münchen.example/", "http://xn--mnchen-3ya.example/", "http://xn--/", "http://ex%41mple.example/",
    "http://ex%2Fample.example/", "http://ex ample.example/", "http://ex\u00adample.example/", "http://ＥＸ.example/", "http://ex.example./",
    "http://..example/", "http://-x-.example/", "http://a_b.example/", "http://ex.example/%zz", "http://ex.example/\u00e9?\u00e9#\u00e9",
    "https://ex.example/<p>", "https://ex.example/\"q\"", "https://ex.example/'", "https://ex.example/`", "https://ex.example/{x}",
    "http://ex.example/\x00", "http://ex.example/\x7f", "https://ex.example/\u00a0", "http://%E2%80%AE.example/", "http://ex.example:8080x/",
    "a:b", "x-y+z.w:q", "1http://x", "+http://x", "http+ssh://x", "javascript://%0aalert(1)", "http://ex.example\\@evil.example/",
    "http://\u0130.example/", "https://ß.example/", "http://[::1]:80/", "http://[1:2:3:4:5:6:7:8:9]/", "http://[::1.2.3.4]/",
    "http://%30.%30.%30.%30/", "http://example.com%00.evil/", "https://\u2028.example/", "http://ex.example/#\u2028",
]
TEXT = ["x", " ", "\n", "\r\n", "\r", "\t", "&", "&amp", "&amp;", "&notin", "&notin;", "&not;in", "&#0;", "&#x0;", "&#x110000;", "&#128;",
        "&#x80;", "&#xD800;", "&#65;", "&#x41", "&#", "&#x;", "&nbsp;", "&NBSP;", "\u00a0", "<", ">", "<!", "<!-->", "<!--x-->", "<!-- x",
        "<!DOCTYPE html>", "<?php x ?>", "<![CDATA[x]]>", "</ x>", "</>", "<a<b>", "<3", "\x00", "\x0b", "\x0c", "\x1b", "\u2028", "\ufeff",
        "\u0000x", "'", '"', "`", "=", "ünï ✓", "\U0001f600", "{{", "}}"]
SEPARATORS = [" ", " ", "  ", "\n", "/"]
PLACEHOLDERS = ["{a}", "{b}", "{c[k]}"]
VALUES = ["<x>", "a&b", "it's", 'say "hi"', 42, -1.25, True, None, "", "ünï ✓", "javascript:x", "/ok", "https://ex.example/<p>",
          "\u00a0", "&amp;", "//evil.example", "<script>alert(1)</script>", "\r\n", "\x00"]


def _quote(rng: random.Random, value: str) -> str:
    q = rng.choice(['"', "'", "", '"'])
    if q == "":
        value = value.replace(" ", "").replace(">", "") or "v"
    return f"{q}{value}{q}"


def _attribute(rng: random.Random) -> str:
    name = rng.choice(ATTRIBUTES)
    if rng.random() < 0.1:
        return f" {name}"
    if name.lower() in ("href", "src", "cite", "srcset", "action", "formaction", "xlink:href", "poster", "background", "ping"):
        value = rng.choice(URLS + PLACEHOLDERS + ["{a}" + rng.choice(URLS)])
    else:
        value = rng.choice(["k", "x y", "{a}", "{b}", "a&b", "&quot;", "\u00a0", "<>", "'", "ltr", "2", "-1", "x\ny", "&amp;&lt;"])
    return rng.choice(SEPARATORS) + f"{name}={_quote(rng, value)}"


def _tag(rng: random.Random) -> str:
    name = rng.choice(KEPT + DROPPED)
    if rng.random() < 0.15:
        name = name.upper() if rng.random() < 0.5 else name.capitalize()
    close = rng.random()
    if close < 0.3:
        return f"</{name}>"
    attrs = "".join(_attribute(rng) for _ in range(rng.choice([0, 0, 1, 1, 2, 3])))
    return f"<{name}{attrs}{'/' if close > 0.92 else ''}>"


def hostile_template(rng: random.Random) -> str:
    """One template of 1-24 pieces: tags (kept and dropped), attributes, URLs, text, placeholders."""
    pieces = []
    for _ in range(rng.randint(1, 24)):
        r = rng.random()
        if r < 0.5:
            pieces.append(_tag(rng))
        elif r < 0.8:
            pieces.append(rng.choice(TEXT))
        else:
            pieces.append(rng.choice(PLACEHOLDERS))
    if rng.random() < 0.1:  # unfinished at the end: a tag, an attribute, a comment
        pieces.append(rng.choice(["<a href=\"/x", "<b", "<!--", "</", "<a href='", "<img src=x onerror"]))
    return "".join(pieces)


def hostile_block(rng: random.Random) -> dict[str, object]:
    """A content block with a hostile template and hostile values for its placeholders."""
    return {"template": hostile_template(rng), "a": rng.choice(VALUES + URLS), "b": rng.choice(VALUES), "c": {"k": rng.choice(VALUES)}}


#: SVG 2 and MathML element names (ammonia's is_svg_tag and is_mathml_tag): written as HTML
#: elements, each is removed with its content, except the six names HTML shares.
FOREIGN_NAMES = """a animate animateMotion animateTransform circle clipPath defs desc discard ellipse feBlend feColorMatrix
feComponentTransfer feComposite feConvolveMatrix feDiffuseLighting feDisplacementMap feDistantLight feDropShadow feFlood feFuncA feFuncB
feFuncG feFuncR feGaussianBlur feImage feMerge feMergeNode feMorphology feOffset fePointLight feSpecularLighting feSpotLight feTile
feTurbulence filter foreignObject g image line linearGradient marker mask metadata mpath path pattern polygon polyline radialGradient
rect script set stop style svg switch symbol text textPath title tspan use view abs and annotation annotation-xml apply approx arccos
arccosh arccot arccoth arccsc arccsch arcsec arcsech arcsin arcsinh arctan arctanh arg bind bvar card cartesianproduct cbytes ceiling
cerror ci cn codomain complexes compose condition conjugate cos cosh cot coth cs csc csch csymbol curl declare degree determinant diff
divergence divide domain domainofapplication emptyset eq equivalent eulergamma exists exp exponentiale factorial factorof false floor
fn forall gcd geq grad gt ident imaginary imaginaryi implies in infinity int integers intersect interval inverse lambda laplacian lcm
leq limit list ln log logbase lowlimit lt maction maligngroup malignmark math matrix matrixrow max mean median menclose merror mfenced
mfrac mglyph mi min minus mlabeledtr mlongdiv mmultiscripts mn mo mode moment momentabout mover mpadded mphantom mprescripts mroot mrow
ms mscarries mscarry msgroup msline mspace msqrt msrow mstack mstyle msub msubsup msup mtable mtd mtext mtr munder munderover
naturalnumbers neq none not notanumber notin notprsubset notsubset or otherwise outerproduct partialdiff pi piece piecewise plus power
primes product prsubset quotient rationals real reals reln rem root scalarproduct sdev sec sech selector semantics sep set setdiff
share sin sinh span subset sum tan tanh tendsto times transpose true union uplimit variance vector vectorproduct xor font
selectedcontent search isindex select""".split()
#: Where the parsers need care: NUL runs in SVG and MathML content, a leading byte order mark,
#: the markup they build different trees from (select, isindex, a DOCTYPE: rendered as nothing).
EDGE_TEMPLATES = [
    "<svg>{a}{a}</svg>", "<math>{a}<mi>{a}{a}</mi></math>{a}", "<svg><![CDATA[{a}{a}]]></svg>", "<p title=\"{a}{a}\">{a}</p>",
    "\ufeff{a}", "\ufeff\ufeff{a}", "{a}\ufeff", "<select>{a}<h1>x</h1></select>y", "<SELECT\n/>{a}", "<selectx>{a}</selectx>",
    "<isindex><b>{a}</b>", "<li>a<isindex><li>{a}", "x<isindex", "<!--<select>-->{a}", "<b title=\"<select>\">{a}</b>",
    "<select", "<p>{a}<select><option>{a}<hr><input></select>", "<svg><select>{a}</select></svg>", "<table><select><td>{a}",
    "<table>{a}<!DOCTYPE>\n", "<table><tr>{a}<!doctype html>\n<td>x", "<!DOCTYPE html><p>{a}",
]

