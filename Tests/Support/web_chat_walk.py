#!/usr/bin/env python3
"""Walks askd's web chat page in Debian's Chromium, driven by Selenium (run by Tests/Support/web-chat).

Usage: web_chat_walk.py URL TOKEN EVENTS_FILE ACCESS_LOG SCREENSHOT_DIR

URL is a dev stack (nginx + askd) whose model is the fake upstream (Tests/Support/fake_openai.py):
EVENTS_FILE is where it records a stream whose connection askd closed, ACCESS_LOG is nginx's
access log. Prints one line per step and, last, a JSON line of figures; exits 1 on the first
failed check, with what failed.
"""
import json
import statistics
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

url, token, events_path, access_log, shots = sys.argv[1:6]
url = url.rstrip("/") + "/"
figures = {}
started = time.time()


class WalkFailed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise WalkFailed(what)


def step(text):
    print(f"walk: {time.time() - started:5.1f} s  {text}", flush=True)


# --- The API, directly (to set things up and to see what askd stored) -------------------------

def api(method, path, body=None, bearer=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url.rstrip("/") + path, data=data, method=method)
    request.add_header("Authorization", "Bearer " + (bearer or token))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def all_conversations():
    found, cursor = [], None
    while True:
        status, page = api("GET", "/conversations?limit=100" + (f"&cursor={cursor}" if cursor else ""))
        check(status == 200, f"GET /conversations: {status} {page}")
        found += page["conversations"]
        cursor = page["next_cursor"]
        if not cursor:
            return found


# --- The browser ------------------------------------------------------------------------------

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800",
                 "--no-first-run", "--disable-extensions", "--disable-background-networking", "--lang=en-US"]:
    options.add_argument(argument)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.set_script_timeout(10)

# Before any page script: record alert/confirm/prompt calls and CSP violations, per document.
driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": """
    window.__walk = { alerts: [], csp: [] };
    for (const name of ['alert', 'confirm', 'prompt']) {
        window[name] = (message) => { window.__walk.alerts.push(name + ': ' + message); return null; };
    }
    document.addEventListener('securitypolicyviolation',
        (e) => window.__walk.csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""})
driver.execute_cdp_cmd("Browser.grantPermissions", {
    "origin": url.rstrip("/"), "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})

console = []
# What the walk causes on purpose (the browser logs every answer with an error status): 401s for
# a wrong token, the 404 of GET /v1/models (not in askd yet), the 400 for a model not allowed,
# a 502, a 429 and the network failure.
expected_console = [("/conversations?limit=30 -", "status of 401"), ("/usage -", "status of 401"), ("/v1/models -", "status of 404"),
                    ("/conversation/", "status of 400"), ("/ask -", "status of 502"), ("/ask -", "status of 429"),
                    ("/ask -", "net::ERR_INTERNET_DISCONNECTED"), ("/s/", "status of 404")]


def page_checks():
    """No alert and no CSP violation in the current document; the console so far is collected."""
    walk = driver.execute_script("return window.__walk || {alerts: [], csp: []}")
    check(not walk["alerts"], f"an alert, confirm or prompt ran: {walk['alerts']}")
    check(not walk["csp"], f"CSP violations: {walk['csp']}")
    console.extend(driver.get_log("browser"))


def wait(condition, what, seconds=10):
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.02).until(lambda d: condition())
    except TimeoutException:
        raise WalkFailed(f"timed out waiting until {what}") from None


def el(selector, root=None):
    return (root or driver).find_element(By.CSS_SELECTOR, selector)


def els(selector, root=None):
    return (root or driver).find_elements(By.CSS_SELECTOR, selector)


def visible(selector):
    found = els(selector)
    return bool(found) and found[0].is_displayed()


def text(selector):
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.textContent : null", selector)


def navigate(address):
    page_checks()
    driver.get(address)


def send(prompt_text):
    box = el("#prompt")
    box.clear()
    box.send_keys(prompt_text)
    box.send_keys(Keys.ENTER)


def last_answer():
    return els("#message-list li.message.assistant")[-1]


def answering():
    return visible("#stop")


def current_id():
    return driver.execute_script("return /^#\\/c\\/(.+)$/.exec(location.hash)?.[1] || null")


def list_titles():
    return driver.execute_script("return [...document.querySelectorAll('#conversation-list li')].map(li => li.querySelector('.open').textContent)")


def keyboard_to(item_button, tabs):
    """Focuses a list item's title button, then moves on with Tab: what a keyboard user does."""
    driver.execute_script("arguments[0].focus()", item_button)
    actions = ActionChains(driver)
    for _ in range(tabs):
        actions.send_keys(Keys.TAB)
    actions.send_keys(Keys.ENTER).perform()


def screenshot(name, width, height, dark=False):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                           {"features": [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})
    time.sleep(0.3)
    driver.save_screenshot(f"{shots}/{name}.png")
    return f"{shots}/{name}.png"


try:
    # 1. Sign in: a wrong token gets askd's sentence; the right one shows the (empty) list.
    step("1. sign in")
    driver.get(url)
    wait(lambda: visible("#token"), "the token field shows")
    el("#token").send_keys("askd_not-a-real-token")
    el("#token").send_keys(Keys.ENTER)
    wait(lambda: "invalid access token" in (text("#signin-error") or ""), "a wrong token is refused in askd's words")
    check(visible("#token"), "the token field stays")
    el("#token").send_keys(token)
    el("#signin-form button[type=submit]").click()
    wait(lambda: visible("#app") and text("#list-status") == "No conversations yet.", "the empty list shows")
    check(token not in driver.current_url, "the token is never in the address")

    # Shift+Enter adds a line, Enter sends.
    box = el("#prompt")
    box.send_keys("one")
    ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).send_keys("two").perform()
    check(box.get_attribute("value") == "one\ntwo", f"Shift+Enter adds a line: {box.get_attribute('value')!r}")
    check(not els("#message-list li"), "Shift+Enter sends nothing")

    # 2. Send: the text grows while the answer streams.
    step("2. send, and watch the answer grow")
    send("#drip 12 150")
    wait(lambda: len(last_answer().find_element(By.CSS_SELECTOR, ".body").text) > 0, "the first words show")
    first = last_answer().find_element(By.CSS_SELECTOR, ".body").text
    check(answering(), "the answer is still coming")
    time.sleep(0.5)
    later = last_answer().find_element(By.CSS_SELECTOR, ".body").text
    check(answering() and len(later) > len(first), f"the text grows before the answer is done: {first!r} then {later!r}")
    wait(lambda: not answering(), "the answer completes")
    answer = last_answer().find_element(By.CSS_SELECTOR, ".body").text
    check(answer.strip() == " ".join(f"w{i}" for i in range(12)), f"the whole answer: {answer!r}")
    first_id = current_id()
    check(first_id is not None, "the new conversation's id is in the address")
    wait(lambda: list_titles() == ["#drip 12 150"], "the list shows the new conversation")
    check(text("#title") == "#drip 12 150", "the title shows")
    status, stored = api("GET", f"/conversation/{first_id}")
    check(status == 200 and stored["message_count"] == 2, f"askd stored the turn: {stored}")
    wait(lambda: "Today: 1 request," in (text("#usage") or ""), "usage today shows")

    # 3. Stop mid-answer: the upstream sees its connection closed within 1 s; nothing is stored.
    step("3. stop mid-answer")
    send("#drip 40 100")
    wait(lambda: len(last_answer().find_element(By.CSS_SELECTOR, ".body").text) >= 6, "part of the answer shows")
    pressed = time.time()
    el("#stop").click()
    wait(lambda: (text("#notice-text") or "").startswith("Stopped."), "the page says it stopped")
    closed_at = None

    def closed():
        global closed_at
        try:
            for line in open(events_path):
                event = json.loads(line)
                if event["prompt"] == "#drip 40 100":
                    closed_at = event["at"]
        except FileNotFoundError:
            pass
        return closed_at is not None

    wait(closed, "the fake upstream sees the stream closed", seconds=5)
    figures["stop_to_upstream_closed_ms"] = round((closed_at - pressed) * 1000)
    check(closed_at - pressed < 1.0, f"the upstream saw the close {closed_at - pressed:.3f} s after Stop")
    time.sleep(0.3)
    status, stored = api("GET", f"/conversation/{first_id}")
    check(stored["message_count"] == 2, f"a stopped answer stores nothing: {stored['message_count']} messages")
    check(el("#prompt").get_attribute("value") == "#drip 40 100", "the stopped prompt is back in the box")
    check("Not kept" in last_answer().text, "the stopped answer is marked as not kept")

    # Settings: no /v1/models yet, so a free-text model; a refused one teaches the allowed ones.
    step("   settings: model and system prompt")
    el("#settings-button").click()
    wait(lambda: visible("#model"), "the settings show")
    el("#model").clear()
    el("#model").send_keys("no-such-model")
    el("#system").send_keys("Answer in one line.")
    el("#settings button[type=submit]").click()
    wait(lambda: "allowed: test-model" in (text("#settings-note") or ""), "askd's list of allowed models shows")
    options_now = driver.execute_script("return [...document.querySelectorAll('#model-options option')].map(o => o.value)")
    check(options_now == ["test-model", "test-model-large"], f"the allowed models are offered: {options_now}")
    el("#model").clear()
    el("#model").send_keys("test-model-large")
    el("#settings button[type=submit]").click()
    wait(lambda: text("#settings-note") == "Saved for this conversation.", "the settings are saved")
    status, stored = api("GET", f"/conversation/{first_id}")
    check(stored["system"] == "Answer in one line." and stored["model"] == "test-model-large", f"PATCHed: {stored}")
    el("#settings-close").click()
    el("#prompt").clear()

    # 4. An answer carrying script runs nothing and fetches nothing; Markdown renders; code copies.
    step("4. an answer with XSS payloads")
    el("#new-chat").click()
    payloads = ("# Payloads\\n\\n<img src=/xss-img onerror=\"alert('img')\">\\n\\n<script>alert('script')</script>\\n\\n"
                "[click me](javascript:alert('link'))\\n\\n<a href=\"javascript:alert('a')\">raw link</a>\\n\\n"
                "<iframe src=\"/xss-frame\"></iframe> <svg onload=\"alert('svg')\"></svg>\\n\\n![pic](/xss-md-img)\\n\\n"
                "<b onmouseover=\"alert('b')\">bold?</b> **bold**\\n\\n```js\\nconsole.log('copied')\\n```")
    send("#say " + payloads)
    wait(lambda: not answering() and els("#message-list li.assistant"), "the answer completes")
    body = last_answer().find_element(By.CSS_SELECTOR, ".body")
    check(el("h1", body).text == "Payloads" and el("strong", body).text == "bold", "the Markdown renders")
    for selector in ["script", "img", "iframe", "svg", "[onerror]", "[onload]", "[onmouseover]", "a[href^='javascript']", "[style]"]:
        check(not els(selector, body), f"the answer holds no {selector}")
    check("<script>alert('script')</script>" in body.text, "raw HTML shows as text")
    el("a[href='/xss-md-img']", body)  # the image became a link: nothing is fetched
    for link in els("a", body):
        if link.text == "click me":
            link.click()
    ActionChains(driver).move_to_element(el("code", body)).perform()
    user_text = els("#message-list li.user .body")[-1].text
    check(user_text.startswith("#say # Payloads"), "the user's own message is plain text")
    copy = el(".code button.copy", body)
    copy.click()
    wait(lambda: copy.text == "Copied", "the code block's Copy button copies")
    clip = driver.execute_async_script("navigator.clipboard.readText().then(arguments[0], () => arguments[0](null))")
    check(clip == "console.log('copied')\n", f"the clipboard holds the code: {clip!r}")
    time.sleep(0.3)
    page_checks()
    requested = [line for line in open(access_log) if "xss" in line]
    check(not requested, f"the payloads' URLs were requested: {requested}")

    # 5. Rename, delete (confirmed), by keyboard.
    step("5. rename, delete, delete all")
    wait(lambda: len(list_titles()) == 2, "two conversations listed")
    xss_item = els("#conversation-list li")[0]
    keyboard_to(el(".open", xss_item), 1)
    wait(lambda: els("#conversation-list .rename-input"), "the title becomes a field")
    field = el("#conversation-list .rename-input")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("Renamed by the walk", Keys.ENTER)
    wait(lambda: list_titles()[0] == "Renamed by the walk" and text("#title") == "Renamed by the walk", "the new title shows")
    check(all_conversations()[0]["title"] == "Renamed by the walk", "askd keeps the new title")
    renamed_id = all_conversations()[0]["id"]
    keyboard_to(el(".open", els("#conversation-list li")[0]), 2)
    wait(lambda: driver.execute_script("return document.getElementById('confirm').open"), "a confirmation asks")
    check("Renamed by the walk" in text("#confirm-text"), "the confirmation names the conversation")
    el("#confirm-ok").click()
    wait(lambda: list_titles() == ["#drip 12 150"], "the deleted conversation leaves the list")
    check(api("GET", f"/conversation/{renamed_id}")[0] == 404, "askd deleted it")
    check(text("#title") == "New chat", "its page closed")

    api("POST", "/ask", {"prompt": "one more"})
    el("#delete-all").click()
    wait(lambda: driver.execute_script("return document.getElementById('confirm').open"), "the stronger confirmation asks")
    check(not el("#confirm-ok").is_enabled(), "delete all waits for the words to be typed")
    el("#confirm-typed").send_keys("delete all")
    check(el("#confirm-ok").is_enabled(), "typing them enables it")
    el("#confirm-ok").click()
    wait(lambda: list_titles() == [] and text("#list-status") == "No conversations yet.", "the list empties")
    check(all_conversations() == [], "askd deleted every conversation")

    # 6. 60 conversations, one of 51 turns; reload: the token and the list are still there.
    step("6. reload, and page through 60 conversations")
    for n in range(1, 61):
        status, answer = api("POST", "/ask", {"prompt": f"Conversation {n:02}"})
        check(status == 200, f"POST /ask: {status} {answer}")
        if n == 1:
            long_id = answer["response"]["conversation_id"]
            for turn in range(50):
                api("POST", "/ask", {"prompt": f"turn {turn + 2}", "conversation_id": long_id})
    navigate(url)
    wait(lambda: len(list_titles()) >= 20, "the list shows again after the reload")
    check(not visible("#token"), "the token was kept")
    check(list_titles()[0] == "Conversation 60", f"newest first: {list_titles()[:3]}")
    wait(lambda: text("#title") == "Conversation 60", "the newest conversation opens")
    first_page = len(list_titles())
    for _ in range(200):
        if len(list_titles()) >= 60 and text("#list-status") == "":
            break
        driver.execute_script("const s = document.getElementById('conversation-scroller'); s.scrollTop = s.scrollHeight")
        time.sleep(0.05)
    titles = list_titles()
    check(titles == [f"Conversation {n:02}" for n in range(60, 0, -1)], f"60 conversations, newest first, once each: {len(titles)} {titles[-3:]}")
    figures["list_first_page"] = first_page

    # Older messages load on scrolling up: the newest 100 of 101, then the first.
    step("   older messages on scroll up")
    els("#conversation-list li .open")[-1].click()
    wait(lambda: text("#title") == "Conversation 01" and len(els("#message-list li")) == 100, "the newest 100 messages show")
    driver.execute_script("document.getElementById('messages').scrollTop = 0")
    wait(lambda: len(els("#message-list li")) == 102, "scrolling up loads the older ones")
    check(els("#message-list li .body")[0].text == "Conversation 01", "the first message is first")

    # Time to the newest conversation's messages with a warm cache: navigationStart to the
    # moment they are in the DOM (the page marks it), three loads.
    step("   time to messages, warm cache")
    times = []
    for _ in range(3):
        navigate("about:blank")
        driver.get(url)
        wait(lambda: driver.execute_script("return performance.getEntriesByName('askd:messages').length") > 0, "the messages show")
        times.append(round(driver.execute_script("return performance.getEntriesByName('askd:messages')[0].startTime")))
        check(text("#title") == "Conversation 60", "the newest conversation opened")
    figures["messages_in_dom_ms"] = times
    check(statistics.median(times) <= 300, f"the newest conversation's messages within 300 ms: {times}")
    weight = driver.execute_script("""
        return performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'))
            .filter(e => !e.name.includes('/javascript/') && !/\\/(conversations?|usage)\\b/.test(e.name))
            .map(e => [e.name, e.decodedBodySize]);""")
    figures["page_bytes"] = {name.replace(url, "/"): size for name, size in weight}
    figures["page_bytes_total"] = sum(size for _, size in weight)
    check(len(weight) >= 5 and figures["page_bytes_total"] <= 60 * 1024, f"the page weighs at most 60 KB: {figures['page_bytes']}")

    # Screenshots: a conversation with Markdown, wide and narrow, light and dark.
    step("   screenshots")
    el("#new-chat").click()
    # The fake upstream answers these two prompts with the Markdown given here.
    questions = {
        "How do I see my usage from a script?": "Ask **`/usage`** with your token:\n\n"
        "```sh\ncurl -s http://127.0.0.1:8080/usage \\\n     -H 'Authorization: Bearer askd_...'\n```\n\n"
        "It answers today's and the total counts:\n\n| | requests | tokens |\n|---|---:|---:|\n| today | 12 | 5,500 |\n"
        "| total | 340 | 181,020 |",
        "And if an answer runs long?": "Press **Stop**. The page aborts its request, and askd then:\n\n"
        "1. cuts the model off within about a second, so it stops writing (and billing);\n"
        "2. stores *nothing* of that turn.\n\n> The history stays on the server, so every browser sees the same conversations.",
    }
    with open(events_path[:-len(".events")] + ".answers", "w") as answers:
        json.dump(questions, answers)
    for question in questions:
        send(question)
        wait(lambda: not answering() and "upstream heard" not in last_answer().text and last_answer().text, "the answer completes")
    check(els("#message-list li.assistant .code"), "the code block renders")
    el("#prompt").send_keys("How do I page through conversations?")
    figures["screenshots"] = [screenshot("web-chat-1280x800", 1280, 800), screenshot("web-chat-1280x800-dark", 1280, 800, dark=True),
                              screenshot("web-chat-375x812", 375, 812), screenshot("web-chat-375x812-dark", 375, 812, dark=True)]
    el("#open-sidebar").click()
    time.sleep(0.3)
    figures["screenshots"].append(screenshot("web-chat-375x812-list", 375, 812))
    el("#close-sidebar").click()
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    el("#prompt").clear()

    # 7. Errors in words: 502 with askd's sentence, a network failure with a retry, a 429 counted down.
    step("7. errors: 502, network failure, 429")
    send("#status 500")
    wait(lambda: "(502)" in (text("#notice-text") or ""), "a 502 is shown")
    check("the model could not answer" in text("#notice-text"), f"with askd's sentence: {text('#notice-text')}")
    check(visible("#notice-retry"), "with a retry")
    el("#prompt").clear()
    driver.set_network_conditions(offline=True, latency=0, download_throughput=-1, upload_throughput=-1)
    send("after the network came back")
    wait(lambda: "could not be reached" in (text("#notice-text") or ""), "a network failure is shown")
    driver.delete_network_conditions()
    el("#notice-retry").click()
    wait(lambda: not answering() and "upstream heard: after the network came back" in last_answer().text, "the retry is answered")
    send("#status 429")
    wait(lambda: "send again in 7 s" in (text("#notice-text") or ""), "the 429's Retry-After shows")
    check(not el("#send").is_enabled(), "sending waits")
    time.sleep(1.3)
    check("send again in 6 s" in text("#notice-text") or "send again in 5 s" in text("#notice-text"), f"it counts down: {text('#notice-text')}")

    # 8. A 401 brings the token field back, with askd's sentence.
    step("8. a 401")
    driver.execute_script("localStorage.setItem('askd.token', 'askd_revoked-or-wrong')")
    navigate(url)
    wait(lambda: visible("#token") and "invalid access token" in (text("#signin-error") or ""), "the token field comes back with askd's sentence")
    check(driver.execute_script("return localStorage.getItem('askd.token')") is None, "the bad token is forgotten")
    el("#token").send_keys(token, Keys.ENTER)
    wait(lambda: visible("#app") and len(list_titles()) > 0, "signed in again")
    el("#sign-out").click()
    wait(lambda: visible("#token"), "Sign out shows the token field")
    check(driver.execute_script("return localStorage.getItem('askd.token')") is None, "Sign out forgets the token")

    # 8b. A shared conversation, signed out: the page at /shared/{id} renders it read-only and
    # as safely as the chat page does.
    step("8b. a shared conversation")
    status, asked = api("POST", "/ask", {"prompt": "#say " + payloads})
    check(status == 200, f"/ask for the share: {status} {asked}")
    status, shared = api("POST", f"/conversation/{asked['response']['conversation_id']}/share", {"expires_in": "1h"})
    check(status == 201 and shared["url"].endswith("/shared/" + shared["share_id"]), f"the share: {status} {shared}")
    navigate(url.rstrip("/") + "/shared/" + shared["share_id"])
    wait(lambda: els("#message-list li.assistant .body h1"), "the shared answer renders")
    body = el("#message-list li.assistant .body")
    for selector in ["script", "img", "iframe", "svg", "[onerror]", "[onload]", "[onmouseover]", "a[href^='javascript']", "[style]"]:
        check(not els(selector, body), f"the shared answer holds no {selector}")
    check(els("#message-list li.user .body")[0].text.startswith("#say # Payloads"), "the shared prompt is plain text")
    check(not els("#composer") and not els("#prompt"), "read-only: nothing to send")
    time.sleep(0.3)
    page_checks()
    figures["screenshots"].append(screenshot("web-chat-shared-1280x800", 1280, 800))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    navigate(url.rstrip("/") + "/shared/AAAAAAAAAAAAAAAAAAAAAA")
    wait(lambda: "does not exist" in (text("#status") or ""), "an unknown share says so")
    page_checks()

    # 9. No console errors but the ones the walk caused, and no CSP violations anywhere.
    step("9. console and CSP")
    page_checks()
    unexpected = [entry for entry in console if entry["level"] == "SEVERE" and not any(a in entry["message"] and b in entry["message"] for a, b in expected_console)]
    check(not unexpected, f"console errors: {unexpected}")
    csp = [entry for entry in console if "Content Security Policy" in entry["message"]]
    check(not csp, f"CSP violations in the console: {csp}")
    figures["console_errors_expected"] = sum(1 for entry in console if entry["level"] == "SEVERE")
    figures["seconds"] = round(time.time() - started, 1)
    print(json.dumps(figures), flush=True)
except WalkFailed as failure:
    path = f"{shots}/failure.png"
    try:
        driver.save_screenshot(path)
    except Exception:
        path = "none"
    print(f"walk: FAILED: {failure} (screenshot: {path})", flush=True)
    try:
        print("walk: console: " + json.dumps(console + driver.get_log("browser"))[:4000], flush=True)
    except Exception:
        pass
    sys.exit(1)
finally:
    driver.quit()
