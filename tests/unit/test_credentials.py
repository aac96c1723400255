from __future__ import annotations

import httpx
import pytest
from elbsync.devkit.context import LocalContext
from elbsync.errors import ConfigError
from elbsync.http.auth.sdk_hmac import AkSkAuth, TokenAuth
from elbsync.runtime.credentials import Credentials
from elbsync.settings import Settings

LOCAL = Settings.from_env({"HUAWEICLOUD_SDK_AK": "LOCALAK", "HUAWEICLOUD_SDK_SK": "LOCALSK"})


def signed_headers(auth: httpx.Auth) -> httpx.Headers:
    request = httpx.Request("GET", "https://elb.example/v3/p/elb/pools")
    return next(auth.sync_auth_flow(request)).headers


def test_the_agencys_temporary_keys_come_first() -> None:
    context = LocalContext(
        "fn", access_key="TMPAK", secret_key="TMPSK", security_token="TMPTOKEN", token="IAM"
    )

    headers = signed_headers(Credentials.resolve(context, LOCAL).api_auth("proj1"))

    assert "Access=TMPAK" in headers["Authorization"]
    assert headers["X-Security-Token"] == "TMPTOKEN"
    assert headers["X-Project-Id"] == "proj1"


def test_an_iam_token_is_used_when_the_agency_gives_no_keys() -> None:
    auth = Credentials.resolve(LocalContext("fn", token="IAMTOKEN"), LOCAL).api_auth(None)

    assert isinstance(auth, TokenAuth)
    assert signed_headers(auth)["X-Auth-Token"] == "IAMTOKEN"
    assert "Authorization" not in signed_headers(auth)


def test_local_runs_use_the_sdk_variables() -> None:
    auth = Credentials.resolve(LocalContext("fn"), LOCAL).api_auth("proj1")

    assert isinstance(auth, AkSkAuth)
    assert "Access=LOCALAK" in signed_headers(auth)["Authorization"]


def test_no_credentials_anywhere_is_a_configuration_error() -> None:
    credentials = Credentials.resolve(LocalContext("fn"), Settings.from_env({}))

    with pytest.raises(ConfigError, match="HUAWEICLOUD_SDK_AK"):
        credentials.api_auth(None)


def test_credentials_never_show_in_their_repr() -> None:
    credentials = Credentials(access_key="AKVISIBLE", secret_key="SKVISIBLE")

    assert "SKVISIBLE" not in repr(credentials)
    assert "SKVISIBLE" not in repr(credentials.api_auth(None))
