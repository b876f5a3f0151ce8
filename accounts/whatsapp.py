"""WhatsApp delivery of sign-in codes, behind `WHATSAPP_BACKEND`.

- `console`: prints the message (the embedded default).
- `file`: appends one JSON line per message to `WHATSAPP_FILE_PATH`, so a
  black-box test can read the code a real user would receive.
- `aisensy`: AiSensy's campaign API (an approved authentication template whose
  one parameter is the code).
"""

import json
import logging
import sys
import threading
from functools import lru_cache

import requests
from django.conf import settings
from django.utils import timezone

from storage_site.core.exceptions import ServiceUnavailable

logger = logging.getLogger(__name__)


class ConsoleBackend:
    def send_otp(self, *, phone: str, code: str) -> None:
        sys.stdout.write(f"[whatsapp] to {phone}: your Stratus code is {code}\n")
        sys.stdout.flush()


class FileBackend:
    _lock = threading.Lock()

    def __init__(self, path: str | None = None):
        self.path = path or settings.WHATSAPP_FILE_PATH

    def send_otp(self, *, phone: str, code: str) -> None:
        line = json.dumps({"phone": phone, "code": code, "kind": "otp", "sent_at": timezone.now().isoformat()})
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


class AiSensyBackend:
    """AiSensy's `campaign/t1/api/v2` endpoint. Failures raise ServiceUnavailable,
    which the sending task retries with backoff."""

    def __init__(self, *, api_url: str | None = None, api_key: str | None = None,
                 campaign: str | None = None, user_name: str | None = None, timeout: float | None = None):
        self.api_url = api_url or settings.AISENSY_API_URL
        self.api_key = api_key or settings.AISENSY_API_KEY
        self.campaign = campaign or settings.AISENSY_CAMPAIGN_NAME
        self.user_name = user_name or settings.AISENSY_USER_NAME
        self.timeout = timeout or settings.AISENSY_TIMEOUT

    def payload(self, *, phone: str, code: str) -> dict:
        return {
            "apiKey": self.api_key,
            "campaignName": self.campaign,
            "destination": phone.lstrip("+"),
            "userName": self.user_name,
            "templateParams": [code],
            "source": "stratus",
            "media": {},
            # Authentication templates carry a copy-code button that takes the code too.
            "buttons": [{"type": "button", "sub_type": "url", "index": 0,
                         "parameters": [{"type": "text", "text": code}]}],
            "carouselCards": [],
            "location": {},
            "attributes": {},
        }

    def send_otp(self, *, phone: str, code: str) -> None:
        try:
            response = requests.post(self.api_url, json=self.payload(phone=phone, code=code), timeout=self.timeout)
        except requests.RequestException as exc:
            raise ServiceUnavailable(f"WhatsApp gateway unreachable: {exc.__class__.__name__}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise ServiceUnavailable(f"WhatsApp gateway answered {response.status_code}.")
        if response.status_code >= 400:
            # A rejected request (bad key, unknown campaign) will not succeed on retry.
            logger.error("AiSensy refused the message (%s): %s", response.status_code, response.text[:500])
            raise WhatsAppRejected(f"AiSensy refused the message: {response.status_code}")


class WhatsAppRejected(Exception):
    pass


BACKENDS = {"console": ConsoleBackend, "file": FileBackend, "aisensy": AiSensyBackend}


@lru_cache(maxsize=None)
def _backend_class(name: str):
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"Unknown WHATSAPP_BACKEND {name!r}; use one of {sorted(BACKENDS)}.") from None


def get_backend():
    return _backend_class(settings.WHATSAPP_BACKEND)()
