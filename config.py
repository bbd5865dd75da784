"""One settings class for the whole platform (environment variables override defaults)."""
from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

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
    # that present another public origin. Comma-separated in the environment.
    allowed_origins: list[str] = []
    # Addresses of reverse proxies whose X-Forwarded-For is believed (the client address for sign-in
    # throttling); empty = use the peer address as is.
    trusted_proxies: list[str] = []


@lru_cache
def get_settings() -> Settings:
    return Settings()
