"""dia.redact: what DIA stores from an exception or a URL carries no secret and no local path."""

from __future__ import annotations

import pytest

from dia.redact import describe_error, mask_url, redact_text

HOME = "/home/ana"


@pytest.mark.parametrize(("url", "secret"), [
    ("postgresql://u:S3cret@host/db", "S3cret"),
    ("postgresql://u@host/db?password=S3cret", "S3cret"),
    ("postgresql://u@host/db?sslmode=require&PASSWORD=S3cret", "S3cret"),
    ("postgresql://u:S3c@ret@host/db", "ret"),  # an unescaped '@' in the password
    ("postgresql://u:S3c/ret@host:5432/db", "ret"),
    ("https://h/x?token=hf_S3cret&page=2", "hf_S3cret"),
    ("postgresql+psycopg://u:S3cret@host:notaport/db", "S3cret"),
])
def test_no_form_of_password_survives_masking(url: str, secret: str) -> None:
    masked = mask_url(url)
    assert secret not in masked and "***" in masked
    assert masked.split("://")[0] == url.split("://")[0]


def test_urls_without_a_password_are_unchanged() -> None:
    for url in ("sqlite:///dia.sqlite", "sqlite:////tmp/x.sqlite", "postgresql://u@host/db?sslmode=require",
                "https://huggingface.co/api/models?limit=10", "not a url"):
        assert mask_url(url) == url


def test_paths_under_home_become_tilde_and_others_their_file_name() -> None:
    text = "[Errno 13] Permission denied: '/home/ana/hf_token_abc/dia.sqlite' (copy at /var/lib/dia/x.jsonl)"
    out = redact_text(text, home=HOME, environ={})
    assert out == "[Errno 13] Permission denied: '~/hf_token_abc/dia.sqlite' (copy at x.jsonl)"


def test_urls_in_text_are_masked_and_local_database_files_redacted() -> None:
    text = "cannot open postgresql://u:pw1234567@db/x nor sqlite:////home/ana/s/dia.sqlite nor sqlite:////srv/a.db"
    out = redact_text(text, home=HOME, environ={})
    assert "pw1234567" not in out and "/home/ana" not in out and "/srv" not in out
    assert "sqlite:///~/s/dia.sqlite" in out and "sqlite:///a.db" in out


def test_environment_values_are_named_not_shown() -> None:
    env = {"HF_TOKEN": "hf_abcdefghijklmnop", "SHORT": "abc", "COUNT": "123456789", "HOME": HOME}
    out = redact_text("bad token hf_abcdefghijklmnop; abc; 123456789; /home/ana/x", home=HOME, environ=env)
    assert out == "bad token $HF_TOKEN; abc; 123456789; ~/x"


def test_ordinary_text_is_left_alone() -> None:
    text = "0.5 kWh/token and/or 3/4 of https://huggingface.co/org/model [low, high] ~/x"
    assert redact_text(text, home=HOME, environ={}) == text


def test_describe_error_is_one_redacted_line() -> None:
    exc = OSError(f"disk full writing {HOME}/runs/out.jsonl\nsecond line")
    line = describe_error(exc)
    assert "\n" not in line and line.startswith("OSError: ") and HOME not in line
    assert len(describe_error(ValueError("x" * 1000), limit=50)) == 50
