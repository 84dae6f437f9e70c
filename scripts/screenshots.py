"""Screenshots for the README: the timeline page and a partner page with the widget.

Runs the offline demo into a temporary folder, serves that output and a sample
partner page from two local servers on 127.0.0.1 (two origins, so the widget's
CORS fetch is real), and photographs both with Debian's headless Chromium through
Selenium and /usr/bin/chromedriver. `make screenshots` calls this verbatim:

    python scripts/screenshots.py docs/screenshots
"""

from __future__ import annotations

import functools
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Partner site</title>
<style>
body { font: 17px/1.5 Georgia, serif; margin: 0; background: #f4efe6; color: #2b2b2b; }
header { background: #7a2e1f; color: #fff; padding: 18px 32px; font-size: 24px; }
main { display: grid; grid-template-columns: 1fr 360px; gap: 32px; padding: 24px 32px; }
h2 { margin-top: 0; }
</style></head>
<body><header>Fair Harvest Workers' Union — partner site</header>
<main><article><h2>Our campaign</h2>
<p>This column is the partner's own page. The box on the right is the aggregator's
widget, added with one script element; the page's serif font and colours do not
reach into it.</p></article>
<aside><h2>Latest on child labour</h2>
<script src="{base}embed.js" data-tag="child-labour" data-limit="4" async></script>
</aside></main></body></html>
"""


class _Handler(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")  # the widget's fetch
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    handler = functools.partial(_Handler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def browser(width: int, height: int) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def main(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        out, host = Path(tmp) / "output", Path(tmp) / "host"
        host.mkdir()
        subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
            [
                sys.executable, "-m", "aggregator", "--quiet", "demo", "--port", "0",
                "--output", str(out), "--database", f"sqlite:///{tmp}/demo.sqlite",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        with serve(out) as site, serve(host) as partner:
            (host / "index.html").write_text(HOST_PAGE.replace("{base}", site), encoding="utf-8")
            driver = browser(1100, 1400)
            try:
                driver.get(site)
                driver.save_screenshot(str(target / "page.png"))
                driver.set_window_size(1000, 720)
                driver.get(partner)
                WebDriverWait(driver, 10).until(
                    lambda d: d.execute_script(
                        "const h = document.querySelector('.aggregator-embed');"
                        "return h && h.shadowRoot.querySelectorAll('li').length > 0;"
                    )
                )
                driver.save_screenshot(str(target / "widget.png"))
            finally:
                driver.quit()
    print(f"wrote {target / 'page.png'} and {target / 'widget.png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))
