"""Write a static copy of a site that Strata personalises in the visitor's browser
(docs/client-side.md): every HTML page of SITE with the script tag in its <head> (the bundle's URL
and the public key written in), the built script (tools/build_browser.js: strata.js,
strata.mjs and their strata-*.mjs parts) and the signed bundle beside them. Any static host serves the result, e.g.

    python edge_worker/tools/static_site.py rulesets/trailblazer/site --bundle build/trailblazer.strata \\
        --pub keys/site.pub --out build/static
    python -m http.server -d build/static 8000

Pages that already load a Strata script (/v1/client.js or strata.js) are copied unchanged."""

from __future__ import annotations

import argparse
import html
import shutil
import subprocess
import sys
from pathlib import Path

EDGE_WORKER = Path(__file__).resolve().parents[1]
BUNDLE_NAME = "strata-bundle.strata"


def key_line(pem: str) -> str:
    """The base64 body of a PEM public key (the .pub of `strata keygen`): what data-key carries."""
    lines = [x.strip() for x in pem.strip().splitlines()]
    if len(lines) < 3 or lines[0] != "-----BEGIN PUBLIC KEY-----" or lines[-1] != "-----END PUBLIC KEY-----":
        raise ValueError("not a PEM public key: pass the .pub file written by 'strata keygen'")
    return "".join(lines[1:-1])


def script_tag(bundle_url: str, key: str, attrs: str = "", src: str = "/strata.js") -> str:
    """The tag a page needs; ``attrs``: more data- attributes (' data-debug', ' data-timeout="500"')."""
    return f'<script src="{html.escape(src)}" data-bundle="{html.escape(bundle_url)}" data-key="{html.escape(key)}"{attrs}></script>'


def inject(page: str, tag: str) -> str:
    """``page`` with ``tag`` at the end of its <head> (or at its start when it has none); unchanged
    when it already loads a Strata script."""
    if "/v1/client.js" in page or "strata.js" in page:
        return page
    at = page.lower().find("</head>")
    return page[:at] + tag + "\n" + page[at:] if at >= 0 else tag + "\n" + page


def build_script(out: Path) -> None:
    r = subprocess.run(["node", "tools/build_browser.js", str(out.resolve())], cwd=EDGE_WORKER, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"building the browser script failed (cd edge_worker && npm ci first?):\n{r.stdout}{r.stderr}")


def write_site(site: Path, out: Path, bundle: Path, pub: str, attrs: str = "") -> Path:
    """Copy ``site`` to ``out`` with the script in every page, the script and the bundle."""
    shutil.copytree(site, out, dirs_exist_ok=True)
    shutil.copyfile(bundle, out / BUNDLE_NAME)
    build_script(out)
    tag = script_tag("/" + BUNDLE_NAME, key_line(pub), attrs)
    for page in out.rglob("*.html"):
        page.write_text(inject(page.read_text(encoding="utf-8"), tag), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("site", type=Path, help="the site's directory (HTML pages marked with data-strata-slot)")
    ap.add_argument("--bundle", type=Path, required=True, help="the signed bundle (strata compile --codec gzip)")
    ap.add_argument("--pub", type=Path, required=True, help="the public key (.pub of strata keygen)")
    ap.add_argument("--out", type=Path, required=True, help="the directory to write")
    ap.add_argument("--debug", action="store_true", help="the explain overlay on every page")
    ap.add_argument("--timeout", type=int, metavar="MS", help="the anti-flicker timeout (data-timeout; the script's default: 300 ms)")
    a = ap.parse_args(argv)
    if a.timeout is not None and not 0 <= a.timeout <= 60_000:
        ap.error(f"--timeout {a.timeout}: give the milliseconds a slot stays hidden, from 0 to 60000")
    attrs = (" data-debug" if a.debug else "") + (f' data-timeout="{a.timeout}"' if a.timeout is not None else "")
    write_site(a.site, a.out, a.bundle, a.pub.read_text(), attrs)
    sys.stdout.write(f"wrote {a.out}: serve it with python -m http.server -d {a.out}\n")


if __name__ == "__main__":
    main()
