"""What the access-key signers share: credentials kept out of ``repr``, signing in place, and
reading the headers a request really carries."""

from __future__ import annotations

from collections.abc import Callable, Generator

import httpx

__all__ = ["KeySigner", "header_text", "header_values"]


def header_text(value: bytes) -> str:
    """A raw header value as text: UTF-8 where it decodes, Latin-1 otherwise."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def header_values(
    request: httpx.Request, *, keep: Callable[[str], bool] = lambda name: True
) -> dict[str, str]:
    """The request's headers by lower-cased name (repeated ones joined by ``,``), as sent."""
    values: dict[str, str] = {}
    for raw_name, raw_value in request.headers.raw:
        name = header_text(raw_name).lower()
        if keep(name):
            text = header_text(raw_value)
            values[name] = f"{values[name]},{text}" if name in values else text
    return values


class KeySigner(httpx.Auth):
    """Base of the signers that hold an access key, a secret key and maybe a security token.

    Subclasses implement :meth:`sign`, which changes the request in place; the secret and the
    token never appear in ``repr``.
    """

    requires_request_body = True

    def __init__(
        self, access_key: str, secret_key: str, *, security_token: str | None = None
    ) -> None:
        self.access_key = access_key
        self._secret_key = secret_key
        self._security_token = security_token

    def __repr__(self) -> str:
        return f"{type(self).__name__}(access_key={self.access_key[:4]}…)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request)
        yield request

    def sign(self, request: httpx.Request) -> None:
        raise NotImplementedError
