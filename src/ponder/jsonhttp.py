"""JSON over HTTP with an OpenAI-compatible server: one exchange, its failures sorted into those
worth retrying and those not, error bodies read for their message. Standard library only (no
torch), shared by the openai backend, which retries, and ``ponder profile``, which does not.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import time
import urllib.error
import urllib.request

from ponder.errors import UserError


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for: a number of seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


class Transient(Exception):
    """A failure worth retrying: 429, 5xx, a refused connection, a timeout."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Refused(Exception):
    """An answer that retrying will not change (other 4xx)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def server_message(raw: bytes) -> str:
    """The message of an OpenAI-format error body (``{"error": {"message": ...}}``), else the body itself."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        return text[:300] or "(no message)"
    message = error.get("message") if isinstance(error, dict) else error
    return str(message or text[:300])


def send(url: str, body: dict | None, key: str | None, timeout: float) -> dict:
    """One exchange: GET ``url`` (no body) or POST ``body`` as JSON, with ``key`` as a bearer token
    when given; the answer's JSON, or its failure sorted into ``Transient`` and ``Refused``."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as e:
        message = f"{request.full_url}: HTTP {e.code}: {server_message(e.read())}"
        if e.code == 429 or e.code >= 500:
            raise Transient(message, parse_retry_after(e.headers.get("Retry-After"))) from None
        raise Refused(e.code, message) from None
    except urllib.error.URLError as e:
        raise Transient(f"cannot reach {request.full_url}: {e.reason}") from None
    except TimeoutError:
        raise Transient(f"no answer from {request.full_url} within {timeout:g} s") from None
    except (ConnectionError, http.client.HTTPException) as e:
        raise Transient(f"cannot reach {request.full_url}: {e or type(e).__name__}") from None
    try:
        return json.loads(raw)
    except ValueError:
        raise UserError(f"{request.full_url} did not answer in JSON: {raw[:200]!r}") from None
