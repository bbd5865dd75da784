"""One settings class for the whole platform (environment variables override defaults)."""
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = f"sqlite:///{ROOT / 'data' / 'app.db'}"
    question_bank_dir: Path = ROOT / "question_bank"
    session_hours: int = 12          # signed-in browser session lifetime
    login_ticket_seconds: int = 60   # one-time ticket exchanged for the session cookie
    max_failed_logins: int = 5           # one username from one client, within lockout_minutes
    max_failed_logins_per_client: int = 30   # all usernames from one client, within lockout_minutes
    lockout_minutes: int = 15
    cookie_name: str = "isa_session"
    # Secure cookie: None = when the request arrived over HTTPS; set True behind a TLS-terminating proxy
    cookie_secure: bool | None = None
    default_locale: str = "zh-CN"
    # Websocket origins accepted besides the app's own (scheme://host[:port]); for reverse proxies
    # that present another public origin. Comma-separated in the environment (a JSON list works too).
    allowed_origins: Annotated[list[str], NoDecode] = []
    # Addresses or networks of reverse proxies whose X-Forwarded-For is believed (the client address for
    # sign-in throttling), e.g. TRUSTED_PROXIES=127.0.0.1 behind a local nginx; empty = the peer address.
    trusted_proxies: Annotated[list[str], NoDecode] = []
    # The address people outside use to reach this app (scheme://host[:port], no trailing slash):
    # certificate QR codes point at {public_base_url}/verify?serial=.... A PDF is built in a service,
    # which does not know the request's origin, so set PUBLIC_BASE_URL in production.
    public_base_url: str = "http://localhost:8501"

    @field_validator("allowed_origins", "trusted_proxies", mode="before")
    @classmethod
    def _comma_list(cls, value):
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
