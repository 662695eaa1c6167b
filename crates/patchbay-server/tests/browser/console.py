#!/usr/bin/env python3
"""The operator console in a real headless Chromium, over WebDriver (Debian's chromium,
chromium-driver and python3-selenium), against a running `patchbay serve`.

    console.py http://127.0.0.1:PORT pb_key_... OUTPUT_DIR

Drives every view the way a person would, by the accessible names `docs/console.md` lists,
checks what the page shows against the API's own answers, and keeps a screenshot of each
view in OUTPUT_DIR. `tests/console.rs` runs it; it exits non-zero on the first failure.
With PATCHBAY_CONSOLE_NUMBERS=N it first imports N numbers and times opening the Numbers
view (the figure of record is N = 1,000,000).
"""

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

addr, key, out = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(out, exist_ok=True)
BASE = "/v1/agents/default/telephony"


def api(method, path, body=None, with_key=key):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        addr + path, data=data, method=method,
        headers={"x-api-key": with_key, "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def check(condition, what):
    if not condition:
        raise AssertionError(what)


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--window-size=1280,900"]:
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
# The page re-renders a view whole after each action: an element found before may be gone.
wait = WebDriverWait(driver, 15, ignored_exceptions=[StaleElementReferenceException])


def shot(name):
    driver.save_screenshot(os.path.join(out, f"{name}.png"))


def labelled(text):
    """The control whose label (or aria-label) is `text`."""
    def find(d):
        for label in d.find_elements(By.XPATH, f"//label[normalize-space()={json.dumps(text)}]"):
            target = label.get_attribute("for")
            if target:
                found = d.find_elements(By.ID, target)
                if found and found[0].is_displayed():
                    return found[0]
        found = [e for e in d.find_elements(By.XPATH, f"//*[@aria-label={json.dumps(text)}]")
                 if e.is_displayed()]
        return found[0] if found else False
    return wait.until(find, f"a control labelled {text!r}")


def button(text, within=None):
    scope = within or driver
    return wait.until(
        lambda d: next((b for b in scope.find_elements(By.XPATH, f".//button[normalize-space()={json.dumps(text)}]")
                        if b.is_displayed() and b.is_enabled()), False),
        f"a button {text!r}")


def link(text):
    return wait.until(lambda d: d.find_element(By.LINK_TEXT, text), f"a link {text!r}")


def table_rows(caption):
    """The rows of the table captioned `caption`, as lists of cell texts (read in one call)."""
    return wait.until(lambda d: d.execute_script(
        """const table = [...document.querySelectorAll('table')]
               .find(t => t.caption && t.caption.textContent.trim() === arguments[0]);
           return table ? [...table.tBodies[0].rows].map(r => [...r.cells].map(c => c.innerText.trim())) : null;""",
        caption), f"a table captioned {caption!r}")


def row_of(caption, text):
    path = f"//table[caption[normalize-space()={json.dumps(caption)}]]/tbody/tr"
    return wait.until(
        lambda d: next((r for r in d.find_elements(By.XPATH, path) if text in r.text), False),
        f"a row with {text!r} in {caption!r}")


def alert_text():
    return wait.until(
        lambda d: next((a.text for a in d.find_elements(By.CSS_SELECTOR, "[role=alert]")
                        if a.is_displayed() and a.text), False),
        "an alert")


def type_into(element, text):
    element.clear()
    element.send_keys(text)


def region(name):
    return wait.until(
        lambda d: next((r for r in d.find_elements(By.XPATH, f"//*[@aria-label={json.dumps(name)}]")
                        if r.is_displayed() and r.text), False),
        f"the region {name!r}")


def settle():
    """Waits until the page has finished its requests (no fetch pending)."""
    time.sleep(0.3)


try:
    # ---- sign in: a wrong key shows the API's message; the right one offers its projects
    driver.get(addr + "/console")
    key_input = labelled("API key")
    check(driver.execute_script("return document.activeElement.id") == key_input.get_attribute("id"),
          "the key input has the focus")
    shot("01-sign-in")
    type_into(key_input, "pb_key_wrong")
    button("Sign in").click()
    _, refused = api("GET", "/v1/me", with_key="pb_key_wrong")
    check(refused["error"]["message"] in alert_text(), "a wrong key shows the API's message")
    shot("01-sign-in-refused")
    type_into(labelled("API key"), key)
    button("Sign in").click()
    project = Select(labelled("Project"))
    _, me = api("GET", "/v1/me")
    check([o.text for o in project.options] == me["projects"], "the key's projects are offered")
    for name in ["Connectors", "Numbers", "Prefixes", "Lookup", "History"]:
        link(name)
    button("Sign out")
    stored = driver.execute_script(
        "return [sessionStorage.getItem('patchbay.key'), localStorage.length, document.cookie]")
    check(stored == [key, 0, ""], f"the key is in sessionStorage only: {stored}")
    check(key not in driver.current_url, "the key is never in the URL")

    # ---- connectors: create one (its name is text, never HTML), refuse an unknown voice
    link("Connectors").click()
    button("New connector").click()
    hostile = "Support <img src=x onerror=alert(1)>"
    type_into(labelled("Name"), hostile)
    Select(labelled("Environment")).select_by_value("live")
    type_into(labelled("ASR language"), "en-US")
    type_into(labelled("Voice"), "en-US-Neural2-A")
    button("Create").click()
    row_of("Connectors", hostile)
    check(not driver.find_elements(By.CSS_SELECTOR, "table img"), "a typed name is never HTML")
    _, listed = api("GET", BASE + "/connectors")
    support = next(c for c in listed["connectors"] if c["name"] == hostile)
    check([r[0] for r in table_rows("Connectors")] == [c["name"] for c in listed["connectors"]],
          "the table shows the API's connectors")
    button("New connector").click()
    type_into(labelled("Name"), "Sales")
    type_into(labelled("Voice"), "en-US-Nope-Z")
    button("Create").click()
    _, unknown = api("POST", BASE + "/connectors", {
        "name": "x", "clientEnv": "live", "asrLangCode": "en-US", "voiceName": "en-US-Nope-Z"})
    check(unknown["error"]["message"] in alert_text(), "an unknown voice shows the API's message")
    shot("02-connectors-refused")
    type_into(labelled("Voice"), "en-GB-Neural2-B")
    button("Create").click()
    row_of("Connectors", "Sales")
    _, listed = api("GET", BASE + "/connectors")
    sales = next(c for c in listed["connectors"] if c["name"] == "Sales")
    edit = row_of("Connectors", "Sales")
    button("Edit", edit).click()
    type_into(labelled("Name"), "Sales desk")
    button("Save").click()
    row_of("Connectors", "Sales desk")
    _, got = api("GET", f"{BASE}/connectors/{sales['connectorId']}")
    check(got["name"] == "Sales desk", "an edit reaches the API")
    shot("02-connectors")

    # ---- numbers: import with a refused one among them, page, find, reassign, delete
    link("Numbers").click()
    button("Import numbers").click()
    type_into(labelled("Numbers"), "+14155552671\n+1 415 555 2672\nnot a number\n")
    Select(labelled("Connector")).select_by_value(support["connectorId"])
    button("Import").click()
    result = region("Import result")
    check("not a number" in result.text and "invalid_phone_number" in result.text,
          f"the refused number and its reason are shown: {result.text}")
    check("Imported 2 of 3" in result.text, result.text)
    shot("03-numbers-import")
    status, _ = api("POST", BASE + "/phone-numbers", {
        "phoneNumbers": [f"+1212555{i:04d}" for i in range(250)], "connectorId": support["connectorId"]})
    check(status == 200, "the fixture numbers import")
    link("Lookup").click()
    link("Numbers").click()
    _, first = api("GET", BASE + "/phone-numbers?limit=100")
    wait.until(lambda d: [r[1] for r in table_rows("Numbers")] == [n["number"] for n in first["phoneNumbers"]],
               "the first page is the API's first page")
    button("Next page").click()
    _, second = api("GET", BASE + "/phone-numbers?limit=100&cursor=" + urllib.parse.quote(first["nextCursor"]))
    wait.until(lambda d: [r[1] for r in table_rows("Numbers")] == [n["number"] for n in second["phoneNumbers"]],
               "the next page is the API's next page")
    button("Previous page").click()
    wait.until(lambda d: [r[1] for r in table_rows("Numbers")] == [n["number"] for n in first["phoneNumbers"]],
               "back to the first page")
    shot("03-numbers")
    type_into(labelled("Find number"), "tel:+1-415-555-2671")
    button("Find").click()
    wait.until(lambda d: [r[1] for r in table_rows("Numbers")] == ["+14155552671"], "the number is found")
    row = row_of("Numbers", "+14155552671")
    Select(labelled("Connector for +14155552671")).select_by_value(sales["connectorId"])
    button("Reassign", row).click()
    wait.until(lambda d: api("GET", BASE + "/phone-numbers/%2B14155552671")[1].get("connectorId") == sales["connectorId"],
               "the reassignment reaches the API")
    type_into(labelled("Find number"), "+14155552672")
    button("Find").click()
    row = row_of("Numbers", "+14155552672")
    button("Delete", row).click()
    wait.until(lambda d: api("GET", BASE + "/phone-numbers/%2B14155552672")[0] == 404, "the delete reaches the API")
    # 10,001 numbers: refused before sending, or sent in batches when the operator says so
    type_into(labelled("Find number"), "")
    button("Find").click()
    button("Import numbers").click()
    many = "\n".join([f"+1646555{i:04d}" for i in range(10000)] + ["+17185550000"])
    driver.execute_script("arguments[0].value = arguments[1]", labelled("Numbers"), many)
    before = len(api("GET", BASE + "/phone-numbers")[1]["phoneNumbers"])
    button("Import").click()
    check("10001 numbers" in region("Import result").text, "over the limit is refused before sending")
    check(len(api("GET", BASE + "/phone-numbers")[1]["phoneNumbers"]) == before, "nothing was sent")
    shot("03-numbers-over-the-limit")
    button("Import in batches of 10000").click()
    wait.until(lambda d: "in 2 requests" in region("Import result").text, "sent in two batches")
    check(len(api("GET", BASE + "/phone-numbers")[1]["phoneNumbers"]) == before + 10001, "all imported")

    # ---- prefixes
    link("Prefixes").click()
    button("Import prefixes").click()
    type_into(labelled("Prefixes"), "+44 20 7946 00xx\nbogus\n")
    Select(labelled("Connector")).select_by_value(support["connectorId"])
    button("Import").click()
    check("bogus" in region("Import result").text, "the refused prefix is shown")
    wait.until(lambda d: [r[0] for r in table_rows("Prefixes")] == ["+4420794600"], "the prefix is listed")
    shot("04-prefixes")

    # ---- lookup: how a number reads and routes, why not, and at a past instant
    link("Lookup").click()
    type_into(labelled("Phone number"), "+44 20 7946 0011")
    button("Look up").click()
    shown = region("Lookup result").text
    for expected in ["+442079460011", "prefix +4420794600", hostile, support["connectorId"], "routed"]:
        check(expected in shown, f"{expected!r} in the lookup result: {shown}")
    shot("05-lookup")
    type_into(labelled("Phone number"), "call me")
    button("Look up").click()
    wait.until(lambda d: "not a number (letters)" in region("Lookup result").text, "the reason is shown")
    _, imported = api("GET", BASE + "/changes?number=%2B14155552671")
    first_at = imported["changes"][-1]["at"]
    type_into(labelled("Phone number"), "+14155552671")
    type_into(labelled("At time"), first_at)
    button("Look up").click()
    wait.until(lambda d: hostile in region("Lookup result").text, "as of the import: the first connector")
    shot("05-lookup-at")

    # ---- history: newest first, as the API lists it; a number's own history
    link("History").click()
    _, changes = api("GET", BASE + "/changes?limit=100")
    wait.until(lambda d: table_rows("History") and
               table_rows("History")[0][0] == changes["changes"][0]["at"].replace("T", " "),
               "the newest change first")
    shot("06-history")
    type_into(labelled("Filter"), "+14155552671")
    button("Apply").click()
    _, own = api("GET", BASE + "/changes?number=%2B14155552671")
    wait.until(lambda d: [r[2] for r in table_rows("History") if len(r) > 2] ==
               [m["op"] for c in own["changes"] for m in c["mutations"]], "the number's own history")
    shot("06-history-number")

    # ---- deleting a connector says what goes with it
    link("Connectors").click()
    button("Delete", row_of("Connectors", "Sales desk")).click()
    confirm = button("Confirm delete")
    check("1 numbers and 0 prefixes" in driver.find_element(By.ID, "main").text, "the confirmation counts")
    shot("02-connectors-delete")
    confirm.click()
    wait.until(lambda d: api("GET", f"{BASE}/connectors/{sales['connectorId']}")[0] == 404, "deleted")

    # ---- a phone's width: nothing wider than the screen
    driver.set_window_size(360, 800)
    link("Numbers").click()
    table_rows("Numbers")
    settle()
    width = driver.execute_script("return document.documentElement.scrollWidth")
    check(width <= 360, f"the page fits a 360 px screen ({width} px)")
    shot("07-phone-numbers")
    link("Lookup").click()
    labelled("Phone number")
    shot("07-phone-lookup")
    driver.set_window_size(1280, 900)

    # ---- signing out forgets the key
    button("Sign out").click()
    labelled("API key")
    check(driver.execute_script("return sessionStorage.length") == 0, "signing out forgets the key")

    # ---- the keyboard alone: type the key and Enter, then Tab to the views and Enter
    driver.switch_to.active_element.send_keys(key, Keys.ENTER)
    labelled("Project")
    focused = []
    for _ in range(30):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        focused.append(driver.switch_to.active_element.text)
        if focused[-1] == "History":
            break
    check(focused[-1] == "History", f"Tab reaches the views: {focused}")
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    table_rows("History")
    shot("08-keyboard")
    button("Sign out").click()
    labelled("API key")

    # ---- a large project opens at once (its first page only)
    count = int(os.environ.get("PATCHBAY_CONSOLE_NUMBERS", "0"))
    if count:
        for start in range(0, count, 10000):
            status, imported = api("POST", BASE + "/phone-numbers", {
                "phoneNumbers": [f"+1415{2000000 + i:07d}" for i in range(start, min(start + 10000, count))]})
            check(status == 200 and not imported.get("errors"), f"the fixture imports: {imported.get('errors', [])[:3]}")
        _, first = api("GET", BASE + "/phone-numbers?limit=1")
        check(first["phoneNumbers"], "the project holds the numbers")
        type_into(labelled("API key"), key)
        button("Sign in").click()
        link("Connectors")
        started = time.monotonic()
        link("Numbers").click()
        wait.until(lambda d: len(table_rows("Numbers")) == 100, "the first page")
        print(f"console: the Numbers view of {count} numbers opened in "
              f"{(time.monotonic() - started) * 1000:.0f} ms")
except Exception:
    shot("failure")
    print(driver.find_element(By.TAG_NAME, "body").text, file=sys.stderr)
    raise
finally:
    driver.quit()
print("console: every view passed in a real browser; screenshots in", out)
