"""OTP attempts under real parallelism: twenty wrong codes for one phone sent at once to
gunicorn (two processes, many threads). Each attempt is counted in the database before
its code is compared, so at most OTP_MAX_ATTEMPTS of them are ever evaluated."""

import threading

import requests
from django.conf import settings

from storage_site.testing.server import gunicorn_factory  # noqa: F401  (fixture)

from .helpers import PHONE


def test_twenty_parallel_wrong_codes_evaluate_at_most_five(gunicorn_factory):  # noqa: F811
    server = gunicorn_factory(workers=2, threads=10, env={"THROTTLE_OTP_VERIFY": "1000/min"})
    assert requests.post(f"{server.url}/api/login", json={"phone": PHONE}, timeout=60).status_code == 200
    code = server.whatsapp(PHONE)[-1]["code"]
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    start = threading.Barrier(20)
    answers = []

    def attempt():
        with requests.Session() as http:
            http.get(f"{server.url}/healthz", timeout=60)  # connected before the barrier
            start.wait(timeout=60)
            resp = http.post(f"{server.url}/api/verify-otp", json={"phone": PHONE, "otp": wrong}, timeout=120)
            answers.append((resp.status_code, resp.json()["error"]["code"]))

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)

    assert len(answers) == 20
    evaluated = [a for a in answers if a == (400, "INVALID_OTP")]
    refused = [a for a in answers if a == (429, "TOO_MANY_ATTEMPTS")]
    assert len(evaluated) + len(refused) == 20, answers
    assert len(evaluated) == settings.OTP_MAX_ATTEMPTS, answers
    # The challenge is spent: even the right code is refused now.
    resp = requests.post(f"{server.url}/api/verify-otp", json={"phone": PHONE, "otp": code}, timeout=60)
    assert (resp.status_code, resp.json()["error"]["code"]) == (429, "TOO_MANY_ATTEMPTS")
