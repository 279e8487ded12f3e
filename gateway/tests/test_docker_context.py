"""No environment or key file reaches the Docker build context (scripts/docker_context_check.py)."""

import pytest

from conftest import ROOT, load_script

check = load_script("docker_context_check")


@pytest.mark.reliability(
    "Security hardening",
    "No .env (at any depth) or key file in the Docker build context; checked by `make lint`",
)
def test_the_dockerignore_keeps_every_env_file_out_at_any_depth():
    parsed = check.rules((ROOT / ".dockerignore").read_text())

    for path in (".env", "docker/.env", "docker/.env.production", "a/b/.env.local", "certs/server.key"):
        assert check.excluded(path, parsed), path
    for path in (
        ".env.example",
        "docker/Dockerfile",
        "gateway/settings/__init__.py",
        "requirements/base.txt",
    ):
        assert not check.excluded(path, parsed), path


@pytest.mark.reliability(
    "Security hardening",
    "No .env (at any depth) or key file in the Docker build context; checked by `make lint`",
)
def test_the_check_finds_a_secret_file_that_the_patterns_miss(tmp_path):
    (tmp_path / ".dockerignore").write_text(".env\n")  # the old pattern: the root's .env only
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / ".env").write_text("DJANGO_SECRET_KEY=x\n")
    (tmp_path / ".env").write_text("x\n")
    (tmp_path / ".env.example").write_text("x\n")

    assert check.secrets_in_context(tmp_path) == ["docker/.env"]


@pytest.mark.reliability(
    "Security hardening",
    "No .env (at any depth) or key file in the Docker build context; checked by `make lint`",
)
def test_the_repository_sends_no_secret_file_to_the_builder():
    assert check.secrets_in_context() == []
