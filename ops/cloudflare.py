"""The little of Cloudflare's API that `ops keys retire` needs: when was a token last used.

Tokens are listed (account-owned: `GET /accounts/{account_id}/tokens`, user-owned:
`GET /user/tokens`, 50 a page) and found by name, because the program names them
deterministically (`<app>-<token key>-<generation>`) and no Pulumi state is needed that way.
Credentials: `CLOUDFLARE_API_TOKEN` (the provider's variable; the token needs "Account API
Tokens Read" or "API Tokens Read"); `CLOUDFLARE_BASE_URL` overrides the endpoint as in
Cloudflare's own SDKs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
PER_PAGE = 50
MAX_PAGES = 200


class CloudflareError(RuntimeError):
    """Cloudflare could not be asked, or answered with an error."""


@dataclass(frozen=True)
class ApiToken:
    id: str
    name: str
    status: str
    last_used_on: dt.datetime | None


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class TokensApi:
    def __init__(self, api_token: str, base_url: str = DEFAULT_BASE_URL, timeout: float = 10):
        self.api_token = api_token
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TokensApi | None:
        """None when no credentials are configured (the check is then skipped, and said so)."""
        env = os.environ if env is None else env
        token = env.get("CLOUDFLARE_API_TOKEN")
        if not token:
            return None
        return cls(token, env.get("CLOUDFLARE_BASE_URL") or DEFAULT_BASE_URL)

    def _get(self, path: str, query: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {self.api_token}", "Accept": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as err:
            raise CloudflareError(f"GET {path}: HTTP {err.code}{_errors(err.read())}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise CloudflareError(f"cannot reach {self.base_url} ({reason})") from None
        try:
            data = json.loads(body)
        except ValueError:
            raise CloudflareError(f"GET {path}: the answer is not JSON") from None
        if not isinstance(data, dict) or not data.get("success"):
            raise CloudflareError(f"GET {path}: not successful{_errors(body)}")
        return data

    def tokens(self, owner: str, account_id: str) -> list[ApiToken]:
        """Every token of the account (owner "account") or of the user (owner "user")."""
        path = f"/accounts/{account_id}/tokens" if owner == "account" else "/user/tokens"
        found: list[ApiToken] = []
        for page in range(1, MAX_PAGES + 1):
            data = self._get(path, {"page": page, "per_page": PER_PAGE})
            result = data.get("result") or []
            for item in result:
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    found.append(
                        ApiToken(
                            id=str(item.get("id", "")),
                            name=item["name"],
                            status=str(item.get("status", "")),
                            last_used_on=_time(item.get("last_used_on")),
                        )
                    )
            info = data.get("result_info") or {}
            total_pages = info.get("total_pages")
            if len(result) < PER_PAGE or (isinstance(total_pages, int) and page >= total_pages):
                return found
        raise CloudflareError(f"GET {path}: more than {MAX_PAGES} pages of tokens")


def _errors(body: bytes) -> str:
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        return ""
    text = "; ".join(
        f"{e.get('code', '')} {e.get('message', '')}".strip() for e in errors if isinstance(e, dict)
    )
    return f": {text}" if text else ""
