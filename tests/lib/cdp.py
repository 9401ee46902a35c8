"""A small Chrome DevTools Protocol client for the console's browser test.

Starts Debian's headless Chromium with a fresh profile, drives one page over
the DevTools WebSocket (python3-websocket), and keeps what the page did:
every request it sent (Network.requestWillBeSent), console messages and
uncaught exceptions, and browser log entries (where Chromium reports
Content-Security-Policy violations).  Run with /usr/bin/python3 (Debian's,
which has the websocket module).

    from cdp import Browser
    with Browser(artifacts="out") as b:
        b.navigate("http://127.0.0.1:8080/")
        b.wait_for("document.querySelector('#search')")
        b.screenshot("inventory")
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import websocket


class CDPError(Exception):
    pass


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


class Browser:
    def __init__(self, chromium=None, artifacts=None, width=1366, height=768, timeout=15.0):
        self.chromium = chromium or find_chromium()
        if not self.chromium:
            raise CDPError("chromium is not installed")
        self.artifacts = artifacts
        self.width, self.height = width, height
        self.timeout = timeout
        self.requests = []      # every Network.requestWillBeSent: (url, method)
        self.console = []       # console messages: (level, text)
        self.exceptions = []    # uncaught page exceptions: text
        self.log = []           # browser log entries (CSP violations): (source, level, text)
        self.events = []        # other events not yet consumed
        self._id = 0
        self._ws = None
        self._proc = None
        self._dir = None

    # ---- start and stop ------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        self._dir = tempfile.mkdtemp(prefix="sprov-chromium.")
        args = [
            self.chromium, "--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions",
            "--disable-default-apps", "--disable-features=Translate,MediaRouter,OptimizationHints",
            "--metrics-recording-only", "--mute-audio", "--hide-scrollbars",
            "--password-store=basic", "--use-mock-keychain",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
            "--remote-allow-origins=*", "--user-data-dir=" + self._dir,
            "--window-size=%d,%d" % (self.width, self.height), "about:blank",
        ]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")   # Chromium refuses to run as root otherwise
        self._err = open(os.path.join(self._dir, "chromium.err"), "wb")
        self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._err,
                                      stderr=self._err, start_new_session=True)
        port_file = os.path.join(self._dir, "DevToolsActivePort")
        deadline = time.monotonic() + 20
        port = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise CDPError("chromium exited %d: %s" % (self._proc.returncode, self._stderr_tail()))
            try:
                with open(port_file) as f:
                    port = int(f.readline().strip())
                break
            except (OSError, ValueError):
                time.sleep(0.05)
        if port is None:
            raise CDPError("chromium gave no DevTools port in 20 s: " + self._stderr_tail())
        page = None
        while time.monotonic() < deadline and page is None:
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=5) as r:
                targets = json.load(r)
            page = next((t for t in targets if t.get("type") == "page"), None)
            if page is None:
                time.sleep(0.05)
        if page is None:
            raise CDPError("chromium has no page target")
        self._ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=self.timeout,
                                               suppress_origin=True)
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.send(domain + ".enable")
        self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                  deviceScaleFactor=1, mobile=False)

    def _stderr_tail(self):
        try:
            with open(os.path.join(self._dir, "chromium.err"), "rb") as f:
                return f.read()[-600:].decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self):
        if self._ws is not None:
            try:
                self._ws.close()
            except Exception:
                pass
            self._ws = None
        if self._proc is not None:
            if self._proc.poll() is None:
                try:
                    os.killpg(self._proc.pid, signal.SIGTERM)
                    self._proc.wait(5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(self._proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    self._proc.wait()
            self._proc = None
            self._err.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    # ---- the protocol ---------------------------------------------------

    def _event(self, msg):
        m, p = msg.get("method"), msg.get("params", {})
        if m == "Network.requestWillBeSent":
            self.requests.append((p["request"]["url"], p["request"]["method"]))
        elif m == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            self.console.append((p.get("type"), text))
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.exceptions.append(d.get("exception", {}).get("description") or d.get("text", "?"))
        elif m == "Log.entryAdded":
            e = p.get("entry", {})
            self.log.append((e.get("source"), e.get("level"), e.get("text")))
        else:
            self.events.append(msg)

    def _recv(self):
        try:
            raw = self._ws.recv()
        except websocket.WebSocketTimeoutException:
            raise CDPError("no answer from chromium in %.0f s" % self.timeout)
        return json.loads(raw)

    def send(self, method, **params):
        """Call a DevTools method; its result, or CDPError."""
        self._id += 1
        my = self._id
        self._ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = self._recv()
            if msg.get("id") == my:
                if "error" in msg:
                    raise CDPError("%s: %s" % (method, msg["error"].get("message")))
                return msg.get("result", {})
            if "method" in msg:
                self._event(msg)

    def pump(self, seconds):
        """Read events for a while (nothing to send)."""
        end = time.monotonic() + seconds
        self._ws.settimeout(0.05)
        try:
            while time.monotonic() < end:
                try:
                    msg = json.loads(self._ws.recv())
                except websocket.WebSocketTimeoutException:
                    continue
                if "method" in msg:
                    self._event(msg)
        finally:
            self._ws.settimeout(self.timeout)

    def wait_event(self, method, timeout=None):
        end = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < end:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    del self.events[i]
                    return e.get("params", {})
            self.pump(0.05)
        raise CDPError("no %s in %.0f s" % (method, timeout or self.timeout))

    # ---- the page ---------------------------------------------------------

    def navigate(self, url):
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        r = self.send("Page.navigate", url=url)
        if r.get("errorText"):
            raise CDPError("navigate %s: %s" % (url, r["errorText"]))
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expr):
        """The value of a JavaScript expression (a promise is awaited)."""
        r = self.send("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise CDPError("%s: %s" % (expr, d.get("exception", {}).get("description") or d.get("text")))
        return r.get("result", {}).get("value")

    def wait_for(self, expr, timeout=None, what=None):
        """Until the expression is truthy; its value."""
        end = time.monotonic() + (timeout or self.timeout)
        last = None
        while True:
            try:
                v = self.evaluate(expr)
                # a DOM node comes back as {}: found, so truthy here
                if v is not None and v is not False and v != 0 and v != "":
                    return v
            except CDPError as e:
                last = e
            if time.monotonic() >= end:
                raise CDPError("waited %.0f s for %s%s" % (timeout or self.timeout, what or expr,
                                                           " (%s)" % last if last else ""))
            self.pump(0.1)

    def click(self, selector):
        """A real mouse click in the middle of the element."""
        box = self.wait_for(
            "(() => { const e = document.querySelector(%s); if (!e) return null;"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return r.width && r.height ? [r.x + r.width / 2, r.y + r.height / 2] : null; })()"
            % json.dumps(selector), what="a visible " + selector)
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left",
                      clickCount=1)

    def type(self, selector, text, clear=True):
        """Focus the field and type text into it as keystrokes."""
        self.wait_for("document.querySelector(%s)" % json.dumps(selector), what=selector)
        self.evaluate("(() => { const e = document.querySelector(%s); e.focus();%s })()"
                      % (json.dumps(selector), " e.value = '';" if clear else ""))
        for ch in text:
            self.send("Input.dispatchKeyEvent", type="keyDown", text=ch, key=ch, unmodifiedText=ch)
            self.send("Input.dispatchKeyEvent", type="keyUp", key=ch)

    def text(self, selector):
        return self.evaluate("(() => { const e = document.querySelector(%s);"
                             " return e ? e.textContent : null; })()" % json.dumps(selector))

    def screenshot(self, name):
        """Save the page as ARTIFACTS/console-NAME.png; its path."""
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=False)["data"]
        path = os.path.join(self.artifacts or ".", "console-%s.png" % name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def screenshot_full(self, name):
        """The whole page, not just the window."""
        h = self.evaluate("Math.ceil(document.documentElement.scrollHeight)")
        self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=max(h, self.height),
                  deviceScaleFactor=1, mobile=False)
        try:
            return self.screenshot(name)
        finally:
            self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                      deviceScaleFactor=1, mobile=False)
