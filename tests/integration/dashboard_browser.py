#!/usr/bin/python3
"""Loads the coordinator's dashboard in headless Chromium (Debian's chromium and chromium-driver,
driven by python3-selenium) and checks what a person would see. Run by observability_test.cc.

  dashboard_browser.py pool URL --job ID --state STATE [--node NAME --slots USED/TOTAL] [--screenshot PNG]
      the pool page lists the job with its state (and, while it runs, its progress bar) and the node
      with its slots in use
  dashboard_browser.py job URL --state STATE [--screenshot PNG]
      a job's page shows its state, its loss curve and its output
  dashboard_browser.py auth URL --owner-token FILE --other-token FILE --job ID
      without a token the sign-in page; signed in as another user the job is nowhere; signed in as
      its owner it is listed

Exit 0 when every check holds; otherwise 1 with what was seen (and the page's text).
"""
import argparse
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 30


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    options.accept_insecure_certs = True  # the tests' self-signed certificate
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def fail(driver, message):
    text = driver.find_element(By.TAG_NAME, "body").text if driver else ""
    print(f"dashboard_browser: {message}\n--- page text ---\n{text}", file=sys.stderr)
    sys.exit(1)


def wait_for(driver, what, condition):
    try:
        # The page re-renders every few seconds: an element read across a refresh is stale, and
        # the condition is tried again.
        return WebDriverWait(driver, TIMEOUT, poll_frequency=0.2,
                             ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: condition(d))
    except TimeoutException:
        fail(driver, f"after {TIMEOUT} s: {what}")


def loaded(driver):
    """Waits for the page's first render from the API (body[data-loaded])."""
    wait_for(driver, "the page never rendered its data", lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "1")


def job_row(driver, job):
    rows = driver.find_elements(By.CSS_SELECTOR, f'#jobs tr[data-job="{job}"]')
    return rows[0] if rows else None


def check_pool(args):
    driver = browser()
    try:
        driver.get(args.url)
        loaded(driver)
        def row_seen(d):
            r = job_row(d, args.job)
            if r is None or r.get_attribute("data-state") != args.state:
                return None
            return (r.find_element(By.CSS_SELECTOR, "td.state").text, r.find_element(By.CSS_SELECTOR, "td.progress").text,
                    len(r.find_elements(By.CSS_SELECTOR, "td.progress .bar")))
        state, progress, bars = wait_for(driver, f"job {args.job} in state {args.state}", row_seen)
        print(f"job {args.job}: {state}, progress '{progress}'")
        if args.state == "RUNNING" and (not bars or "/" not in progress):
            fail(driver, f"a running job shows a progress bar and steps done/total; got '{progress}'")
        if args.node:
            def node_seen(d):
                rows = d.find_elements(By.CSS_SELECTOR, f'#nodes tr[data-node="{args.node}"]')
                return rows and rows[0].find_element(By.CSS_SELECTOR, "td.slots").text == args.slots
            wait_for(driver, f"node {args.node} with slots {args.slots}", node_seen)
            print(f"node {args.node}: slots {args.slots}")
        if args.screenshot:
            driver.save_screenshot(args.screenshot)
    finally:
        driver.quit()


def check_job(args):
    driver = browser()
    try:
        driver.get(args.url)
        loaded(driver)
        wait_for(driver, f"job state {args.state}",
                 lambda d: d.find_element(By.ID, "job-state").text.startswith(args.state))
        wait_for(driver, "a loss curve", lambda d: d.find_elements(By.CSS_SELECTOR, "#chart polyline.loss-line"))
        wait_for(driver, "the job's output", lambda d: "step" in d.find_element(By.ID, "log").text)
        print(f"job page: {driver.find_element(By.ID, 'job-state').text}; "
              f"{len(driver.find_element(By.ID, 'log').text)} characters of output")
        if args.screenshot:
            driver.save_screenshot(args.screenshot)
    finally:
        driver.quit()


def sign_in(driver, base, token_file):
    with open(token_file) as f:
        token = f.read().strip()
    driver.get(base)
    field = wait_for(driver, "the sign-in form", lambda d: d.find_elements(By.ID, "token"))[0]
    field.send_keys(token)
    driver.find_element(By.ID, "signin-button").click()
    loaded(driver)


def sign_out(driver):
    driver.find_element(By.CSS_SELECTOR, "#signout button").click()
    wait_for(driver, "the sign-in page after signing out", lambda d: d.find_elements(By.ID, "signin"))


def check_auth(args):
    driver = browser()
    base = args.url.rstrip("/") + "/"
    try:
        driver.get(base)
        wait_for(driver, "the sign-in page without a token", lambda d: d.find_elements(By.ID, "signin"))
        if driver.find_elements(By.ID, "jobs"):
            fail(driver, "the job list is shown without a token")
        print("no token: the sign-in page")

        sign_in(driver, base, args.other_token)
        time.sleep(0.5)
        if job_row(driver, args.job) is not None or args.job in driver.find_element(By.TAG_NAME, "body").text:
            fail(driver, f"another user sees job {args.job}")
        driver.get(base + "jobs/" + args.job)
        wait_for(driver, "'no job' on the other user's job page", lambda d: d.find_elements(By.ID, "job-missing"))
        print(f"another user: {args.job} is not listed and its page says there is no such job")
        driver.get(base)
        loaded(driver)
        sign_out(driver)

        sign_in(driver, base, args.owner_token)
        wait_for(driver, f"the owner sees job {args.job}", lambda d: job_row(d, args.job))
        print(f"its owner: {args.job} is listed")
    finally:
        driver.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    pool = sub.add_parser("pool")
    pool.add_argument("url")
    pool.add_argument("--job", required=True)
    pool.add_argument("--state", required=True)
    pool.add_argument("--node")
    pool.add_argument("--slots")
    pool.add_argument("--screenshot")
    job = sub.add_parser("job")
    job.add_argument("url")
    job.add_argument("--state", required=True)
    job.add_argument("--screenshot")
    auth = sub.add_parser("auth")
    auth.add_argument("url")
    auth.add_argument("--owner-token", required=True)
    auth.add_argument("--other-token", required=True)
    auth.add_argument("--job", required=True)
    args = parser.parse_args()
    {"pool": check_pool, "job": check_job, "auth": check_auth}[args.command](args)


if __name__ == "__main__":
    main()
