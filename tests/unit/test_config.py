"""Settings read from the environment."""
def test_settings_lists_from_the_environment(monkeypatch):
    from config import Settings
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("TRUSTED_PROXIES", '["127.0.0.1", "10.0.0.0/8"]')
    s = Settings()
    assert s.allowed_origins == ["https://a.example", "https://b.example"]
    assert s.trusted_proxies == ["127.0.0.1", "10.0.0.0/8"]
