"""Debian's chromium, headless, driven over the Chrome DevTools Protocol (websockets, already pinned):
open a page, wait until its scripts have rendered a text, close pop-ups, take a screenshot.

    with Chromium() as page:
        page.goto(url, wait_for="champion")
        page.screenshot(path)
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import requests

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0"]
WIDTH, HEIGHT = 1920, 1080

# Pop-ups that hide what the screenshot is for: MLflow's promotion modal and assistant panel.
DISMISS_JS = """
(() => {
  let clicked = 0;
  for (const el of document.querySelectorAll('.ant-modal-close, [role="dialog"] button[aria-label="Close"], '
                                             + 'button[aria-label="Close"], button[aria-label="close"]')) {
    if (el.offsetParent !== null) { el.click(); clicked++; }
  }
  return clicked;
})()
"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless chromium with a fresh profile, one tab; killed (its whole process group) on exit."""

    def __init__(self, width: int = WIDTH, height: int = HEIGHT):
        self.width, self.height = width, height
        self._ids = itertools.count(1)

    def __enter__(self) -> Chromium:
        from websockets.sync.client import connect

        binary = chromium()
        if binary is None:
            raise FileNotFoundError("chromium is not installed (make system-test installs it with apt-get)")
        self._profile = tempfile.mkdtemp(prefix="vf-chromium-")
        self._process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self._profile}", f"--window-size={self.width},{self.height}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            port = self._devtools_port()
            targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
            page = next(t for t in targets if t["type"] == "page")
            self._ws = connect(page["webSocketDebuggerUrl"], max_size=64 * 2**20, open_timeout=20)
            self.send("Page.enable")
            self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                      deviceScaleFactor=1, mobile=False)
        except Exception:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        ws = getattr(self, "_ws", None)
        if ws is not None:
            ws.close()
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._process.wait(timeout=10)
        shutil.rmtree(self._profile, ignore_errors=True)

    def _devtools_port(self, timeout: float = 30) -> int:
        marker = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrowserError(f"chromium exited with {self._process.returncode}")
            if marker.exists() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            time.sleep(0.2)
        raise BrowserError("chromium did not open its DevTools port")

    def send(self, method: str, **params) -> dict:
        message_id = next(self._ids)
        self._ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv(timeout=60))
            if message.get("id") == message_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def text(self) -> str:
        """The visible text, whitespace (non-breaking spaces included) collapsed to single spaces."""
        return " ".join((self.evaluate("document.body ? document.body.innerText : ''") or "").split())

    def goto(self, url: str, wait_for: str | list[str] = (), timeout: float = 60) -> str:
        """Open `url` and wait until every `wait_for` text is on the page; returns the page text."""
        self.send("Page.navigate", url=url)
        wanted = [" ".join(w.split()) for w in ([wait_for] if isinstance(wait_for, str) else wait_for)]
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            time.sleep(1)
            if self.evaluate("document.readyState") != "complete":
                continue
            text = self.text()
            if all(w in text for w in wanted):
                time.sleep(1.5)  # let the last requests render
                return self.text()
        raise BrowserError(f"{url}: {[w for w in wanted if w not in text]} not on the page after {timeout}s; "
                           f"it shows:\n{text[:2000]}")

    def send_headers(self, headers: dict[str, str]) -> None:
        """Send these headers with every request of the page from now on ({} stops): how a test
        logs in to a basic-auth server, whose browser prompt a headless page cannot answer."""
        self.send("Network.enable")
        self.send("Network.setExtraHTTPHeaders", headers=headers)

    def submit_form(self, fields: dict[str, str], form: str = "form") -> None:
        """Fill the inputs named by id in `fields` and submit the first `form` match, as a person would."""
        filled, before = json.dumps(fields), self.evaluate("location.href")
        self.evaluate(f"""(() => {{
            const fields = {filled};
            for (const [id, value] of Object.entries(fields)) document.getElementById(id).value = value;
            document.querySelector({json.dumps(form)}).submit();
        }})()""")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the answer to the form has loaded
            time.sleep(0.5)
            if self.evaluate("location.href") != before and self.evaluate("document.readyState") == "complete":
                return
        raise BrowserError(f"submitting {form} on {before} led nowhere within 30s")

    def dismiss_popups(self) -> None:
        for _ in range(3):
            if not self.evaluate(DISMISS_JS):
                return
            time.sleep(0.7)

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path
